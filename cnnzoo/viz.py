"""Moved to `cnnzoo.inspect.pictures` (pictures of filters, feature maps, receptive fields).

This import path keeps working: it is that module.
"""

import sys

from cnnzoo.inspect import pictures as _moved

sys.modules[__name__] = _moved
