"""cnnzoo: classic convolutional networks for Keras 3, in 1D, 2D and 3D.

``from cnnzoo import resnet18`` gives a builder; ``cnnzoo.list_models()`` and
``cnnzoo.get_model(name, **kwargs)`` reach every registered model.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) hides real output; a user's
# own TF_CPP_MIN_LOG_LEVEL wins.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Importing the layers registers the blocks for deserialization without custom_objects.
from cnnzoo import layers, schedules  # noqa: E402,F401
from cnnzoo.models.alexnet import alexnet  # noqa: E402
from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT, googlenet, without_aux  # noqa: E402
from cnnzoo.models.lenet import lenet5  # noqa: E402
from cnnzoo.models.resnet import (  # noqa: E402
    resnet18, resnet20, resnet32, resnet34, resnet44, resnet50, resnet56, resnet101, resnet110,
    resnet152,
)
from cnnzoo.models.vgg import (  # noqa: E402
    vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn,
)
from cnnzoo.analysis import count_params, summary  # noqa: E402
from cnnzoo.models.tcn import tcn  # noqa: E402
from cnnzoo.models.video_resnet import mc3_18, r2plus1d_18, r3d_18  # noqa: E402
from cnnzoo.registry import get_model, list_models, register_model  # noqa: E402
from cnnzoo.weights import decode_predictions, list_weights, preprocess_input  # noqa: E402

__all__ = [
    "AUX_LOSS_WEIGHT", "__version__", "alexnet", "count_params", "decode_predictions", "get_model", "googlenet",
    "layers", "lenet5", "list_models", "list_weights", "preprocess_input", "mc3_18", "r2plus1d_18", "r3d_18", "register_model", "resnet18", "resnet20", "resnet32", "resnet34", "resnet44",
    "resnet50", "resnet56", "resnet101", "resnet110", "resnet152", "summary", "tcn", "vgg11", "vgg11_bn", "vgg13",
    "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "without_aux",
]
