"""Moved to `cnnzoo.training.transfer` (freezing, heads and weight copies for fine-tuning).

This import path keeps working: it is that module.
"""

import sys

from cnnzoo.training import transfer as _moved

sys.modules[__name__] = _moved
