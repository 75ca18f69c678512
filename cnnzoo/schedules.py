"""Moved to `cnnzoo.training.schedules` (learning-rate schedules).

This import path keeps working: it is that module.
"""

import sys

from cnnzoo.training import schedules as _moved

sys.modules[__name__] = _moved
