"""Weights from elsewhere, by their earlier import path.

``from_torchvision`` lives in `cnnzoo.weights.torchvision` (with the name maps)
and ``from_keras_applications`` in `cnnzoo.weights.keras_applications`.
"""

from cnnzoo.weights.keras_applications import from_keras_applications  # noqa: F401
from cnnzoo.weights.torchvision import from_torchvision  # noqa: F401
