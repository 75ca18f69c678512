"""cnnzoo: classic convolutional networks for Keras 3, in 1D, 2D and 3D.

``from cnnzoo import resnet18`` gives a builder; ``cnnzoo.list_models()`` and
``cnnzoo.get_model(name, **kwargs)`` reach every registered model.
"""

__version__ = "0.1.0"

from cnnzoo import layers  # noqa: E402  (registers the blocks for deserialization)
from cnnzoo.models import *  # noqa: E402,F401,F403
from cnnzoo.models import __all__ as _model_names  # noqa: E402
from cnnzoo.registry import get_model, list_models, register_model  # noqa: E402

__all__ = ["__version__", "get_model", "layers", "list_models", "register_model", *_model_names]
