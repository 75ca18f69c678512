"""Moved: the video ResNets (r3d_18, mc3_18, r2plus1d_18) are rows of `cnnzoo.models.resnet`.

This import path keeps working: it is that module.
"""

import sys

from cnnzoo.models import resnet as _moved

sys.modules[__name__] = _moved
