"""Pretrained weights: the catalog of weight sets, reading PyTorch files without PyTorch,
torchvision's state dicts converted by name, the download cache, and each set's
preprocessing and class names.

- `catalog`: `WeightSet`, `list_weights`, `get_weights`, `register_weights`.
- `checkpoint_files`: `read_state_dict` (``.pth`` zip and legacy, ``.safetensors``; no code run).
- `torchvision`: the name maps (`TORCHVISION_TWINS`) and `load_torchvision_state`.
- `pretrained`: what ``weights="imagenet"`` does in every builder (fetch, check, convert, cache).
- `preprocessing`: `preprocess_input`, `decode_predictions`.
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
from cnnzoo.weights.preprocessing import decode_predictions, preprocess_input  # noqa: F401
from cnnzoo.weights.torchvision import TORCHVISION_TWINS  # noqa: F401
