"""What every model family shares: inputs and rank, argument checks, heads,
feature recording, weights loading.

Layer naming scheme (an API: weight loading, feature extraction and freezing
depend on it): ``<part>_<unit>`` where ``part`` is ``stem``, ``stageN`` (a run
of layers ending at a pooling boundary or a stride change; GoogLeNet keeps the
paper's ``inception3``/``4``/``5``) or ``head``; units are ``convN``,
``blockN``, ``pool``, ``fcN``...; the classifier is ``predictions`` as in
keras.applications. Composite blocks name their inner layers (``conv1``,
``shortcut``, ``branch2_reduce``...), so a weight path reads
``stage2_block1/conv1/norm/gamma``.
"""

import dataclasses
import inspect
import os
import re
import tempfile
import zipfile

import keras
import numpy as np

from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.normalization import check_activation, check_norm
from cnnzoo.layers.pooling import GlobalPooling

POOLINGS = (None, "avg", "max")
MAX_WIDTH = 16


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One recorded stage output: its name, channels and reduction (total stride)."""

    name: str
    channels: int
    reduction: int


class FeatureRecorder:
    """Collects stage outputs while a builder builds the stages."""

    def __init__(self):
        self.outputs = {}
        self.info = []

    def add(self, name, tensor, reduction):
        self.outputs[name] = tensor
        self.info.append(FeatureInfo(name, int(tensor.shape[-1]), int(reduction)))


def scaled(channels, width, divisor=1):
    """``channels * width``, rounded to a multiple of ``divisor`` and at least ``divisor``."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


def check_common_args(family, *, include_top, weights, pooling, classes, classifier_activation,
                      width, dropout, norm, activation, features_only):
    """Validates the arguments every builder takes; raises naming the argument."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}. Received: pooling={pooling!r}")
    rank_lib.positive_int(classes, "classes")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise ValueError(f"width must be a positive number. Received: width={width!r}")
    if width > MAX_WIDTH:  # a huge finite width asked for terabytes of weights and killed the process
        raise ValueError(f"width must be at most {MAX_WIDTH} (a channel multiplier). Received: width={width!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "weights must be None, a weight set name ('imagenet') or a path to a .weights.h5 / .keras / "
            f".pth / .safetensors file. Received: weights={weights!r}"
        )
    if not isinstance(include_top, bool):
        raise TypeError(f"include_top must be a bool. Received: include_top={include_top!r}")
    check_activation(classifier_activation, "classifier_activation")
    check_norm(norm)
    check_activation(activation)


def entry_signature(generic, fixed=None):
    """The signature of an entry point ``name(**kwargs) -> generic(arch, **kwargs)``: the generic
    builder's keyword arguments, with the values a variant fixes as their defaults.

    Entry points carry it as ``__signature__``, so ``help()`` shows the real arguments and the
    pretrained-weights check (`cnnzoo.weights.pretrained`) sees their defaults.
    """
    params = list(inspect.signature(generic).parameters.values())[1:]
    fixed = fixed or {}
    return inspect.Signature([
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, default=fixed.get(p.name, p.default)) for p in params
    ])


def overwrite_fixed(kwargs, fixed, model_name):
    """Applies the arguments a variant fixes; a conflicting user value raises.

    torchvision's ``_ovewrite_named_param``: ``vgg16_bn(norm=None)`` is an error,
    not a silently different network.
    """
    for key, value in fixed.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(
                f"{model_name} fixes {key}={value!r}; it cannot be changed. "
                f"Received: {key}={kwargs[key]!r}"
            )
        kwargs[key] = value
    return kwargs


def min_input_size(chain_for):
    """The smallest spatial size for which every step of a geometry chain stays >= 1.

    Args:
        chain_for: a function ``n -> [(kernel, stride, padding, dilation[, ceil_mode]), ...]``
            giving the downsampling steps of one spatial axis for input size ``n``.
    """
    for n in range(1, 4096):
        size = n
        for step in chain_for(n):
            size = rank_lib.conv_output_length(size, *step)
            if size < 1:
                break
        else:
            return n
    raise AssertionError("no input size fits")


def model_input(family, *, input_shape, input_tensor, default_shape, min_size):
    """Makes the model input and reads its rank from the shape.

    ``(L, C)`` gives rank 1, ``(H, W, C)`` rank 2, ``(T, H, W, C)`` rank 3.

    Returns:
        ``(inputs, x, rank)``: the model's input(s), the tensor to build on, the rank.
    """
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise TypeError(
                f"input_tensor must be a Keras tensor (keras.Input or a layer output). "
                f"Received: input_tensor={input_tensor!r}"
            )
        shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != shape:
            raise ValueError(
                f"input_shape={tuple(input_shape)} conflicts with input_tensor of shape {shape}."
            )
    else:
        shape = default_shape if input_shape is None else input_shape
    try:
        entries = list(shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of ints or None. Received: input_shape={input_shape!r}") from None
    # ints only: int(32.5) would truncate and True would read as 1 channel
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))) for d in entries):
        raise TypeError(f"input_shape must hold ints (or None for a free size). Received: input_shape={input_shape!r}")
    shape = tuple(None if d is None else int(d) for d in entries)
    if len(shape) - 1 not in rank_lib.RANKS:
        raise ValueError(
            f"{family} takes input_shape (L, C) for 1D, (H, W, C) for 2D or (T, H, W, C) for 3D. "
            f"Received: input_shape={shape}"
        )
    if shape[-1] is None or shape[-1] < 1 or any(d is not None and d < 1 for d in shape):
        raise ValueError(
            f"input_shape must have positive sizes and known channels. Received: input_shape={shape}"
        )
    rank = len(shape) - 1
    small = [d for d in shape[:-1] if d is not None and d < min_size]
    if small:
        raise ValueError(
            f"{family} needs every spatial dimension >= {min_size} (for rank {rank}, the same "
            f"bound on each axis). Received: input_shape={shape}"
        )
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
        inputs = inputs[0] if len(inputs) == 1 else inputs
        return inputs, input_tensor, rank
    x = keras.Input(shape=shape, name="input")
    return x, x, rank


def global_pool_head(x, *, include_top, pooling, classes, classifier_activation, dropout):
    """Global average pooling -> dropout -> dense classifier, or the pooled features."""
    if include_top:
        x = GlobalPooling("avg", name="head_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling is not None:
        x = GlobalPooling(pooling, name="head_pool")(x)
    return x


def dense_head(x, *, hidden, activation, dropout, classes, classifier_activation, dropout_first):
    """Flatten -> [dropout] -> hidden dense layers -> classifier.

    Args:
        hidden: units of each hidden dense layer.
        dropout_first: dropout before each hidden layer (torchvision's AlexNet)
            rather than after it (VGG).
    """
    x = keras.layers.Flatten(name="head_flatten")(x)
    for i, units in enumerate(hidden, start=1):
        if dropout and dropout_first:
            x = keras.layers.Dropout(dropout, name=f"head_dropout{i}")(x)
        x = keras.layers.Dense(units, activation=activation, name=f"head_fc{i}")(x)
        if dropout and not dropout_first:
            x = keras.layers.Dropout(dropout, name=f"head_dropout{i}")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def finish_model(inputs, outputs, features, *, name, weights, features_only):
    """Makes the ``keras.Model``, records feature info and loads weights."""
    if features_only:
        outputs = dict(features.outputs)
    model = keras.Model(inputs, outputs, name=name)
    model.feature_info = list(features.info)
    if weights is not None:
        load_weights(model, weights)
    return model


def _weight_shapes_by_layer(h5_file):
    """``{top-level layer name: sorted list of variable shapes}`` from a Keras 3 weights file."""
    import h5py

    shapes = {}
    with h5py.File(h5_file, "r") as f:
        root = f["layers"] if "layers" in f else f
        for layer_name in root:
            found = []

            def visit(_, obj, found=found):
                if isinstance(obj, h5py.Dataset):
                    found.append(tuple(obj.shape))

            root[layer_name].visititems(visit)
            shapes[layer_name] = sorted(found)
    return shapes


def _snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def load_weights(model, path):
    """Loads a ``.weights.h5`` or ``.keras`` file of the same architecture into ``model``.

    The file's variables are compared with the model's, layer by layer, first:
    a mismatch raises ``ValueError`` naming the first layer that does not fit.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found. Received: weights={path!r}")
    with tempfile.TemporaryDirectory() as tmp:
        if path.endswith(".keras"):
            try:
                with zipfile.ZipFile(path) as archive:
                    archive.extract("model.weights.h5", tmp)
            except (zipfile.BadZipFile, KeyError, OSError) as e:
                raise ValueError(f"weights={path!r} is not a readable .keras file ({type(e).__name__}: {e})") from None
            h5_path = os.path.join(tmp, "model.weights.h5")
        elif path.endswith(".weights.h5"):
            h5_path = path
        else:
            raise ValueError(
                f"weights must end in .weights.h5 or .keras. Received: weights={path!r}"
            )
        try:
            stored = _weight_shapes_by_layer(h5_path)
        except OSError as e:  # h5py's errors for an empty, truncated or foreign file
            raise ValueError(f"weights={path!r} is not a readable Keras weights file ({e})") from None
        seen = {}
        for layer in model.layers:
            # Keras 3 files key each layer by its snake-cased class name and a counter.
            base = _snake_case(type(layer).__name__)
            key = base if base not in seen else f"{base}_{seen[base]}"
            seen[base] = seen.get(base, 0) + 1
            ours = sorted(tuple(v.shape) for v in layer.weights)
            theirs = stored.get(key, [])
            if ours != theirs:
                raise ValueError(
                    f"weights={path!r} does not fit this model: layer '{layer.name}' has "
                    f"variables of shapes {ours}, the file has {theirs} in its place."
                )
        if path.endswith(".keras"):
            model.load_weights(h5_path)
        else:
            model.load_weights(path)
