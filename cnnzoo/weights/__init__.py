"""Weights: every way a weight gets into a cnnzoo model.

- `catalog`: `WeightSet`, `list_weights`, `get_weights`, `register_weights`.
- `pretrained`: what ``weights="imagenet"`` does in every builder (fetch, check, convert, cache).
- `checkpoint_files`: `read_state_dict` (``.pth`` zip and legacy, ``.safetensors``; no code run).
- `torchvision`: the rule applier (`load_torchvision_state`, `from_torchvision`, `torchvision_twins`); each
  family declares its own name rules.
- `copying`: `copy_weights`, the one way weights move between two models (by variable path).
- `keras_applications`: `from_keras_applications` (ResNet50/101/152, VGG16/19 with their weights).
- `keras_files`: ``weights=`` a ``.weights.h5`` / ``.keras`` file, checked layer by layer.
- `preprocessing`: `preprocess_input`, `decode_predictions`.

A new weight source is one module here plus, for named sets, rows in `catalog`.
"""

from cnnzoo.weights.catalog import (  # noqa: F401
    Preprocessing,
    WeightSet,
    categories,
    get_weights,
    list_weights,
    register_weights,
    unregister_weights,
)
from cnnzoo.weights.checkpoint_files import UnsafeCheckpointError, read_state_dict  # noqa: F401
from cnnzoo.weights.copying import copy_weights  # noqa: F401
from cnnzoo.weights.keras_applications import from_keras_applications  # noqa: F401
from cnnzoo.weights.preprocessing import decode_predictions, preprocess_input  # noqa: F401
from cnnzoo.weights.torchvision import from_torchvision, torchvision_twins  # noqa: F401
