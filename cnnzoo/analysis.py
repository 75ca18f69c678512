"""Moved to `cnnzoo.inspect.analysis` (summary, parameters, MACs, receptive fields).

This import path keeps working: it is that module.
"""

import sys

from cnnzoo.inspect import analysis as _moved

sys.modules[__name__] = _moved
