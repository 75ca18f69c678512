"""Moved to `cnnzoo.inspect.kernels` (fixed kernels).

This import path keeps working: it is that module.
"""

import sys

from cnnzoo.inspect import kernels as _moved

sys.modules[__name__] = _moved
