"""The models and blocks checked on every Keras backend (tests/test_backends.py, tests/backend_reference.py).

One rank per family where the rank-generic tests (test_layers.py, test_models.py, on TensorFlow) cover
the others; every block type; small inputs and widths. Each case is ``name -> (build, input shape)``
with a build that is deterministic given `keras.utils.set_random_seed`.
"""

import keras
import numpy as np

import cnnzoo
from cnnzoo.detection.layers import L2Normalization
from cnnzoo.layers import (
    BasicBlock,
    Bottleneck,
    ConnectionTableConv,
    Conv2Plus1D,
    ConvNormAct,
    GlobalPooling,
    InceptionModule,
    LocalResponseNormalization,
    LPPooling,
    Pooling,
)
from cnnzoo.layers.regularization import DropPath

TINY = 1 / 16

# (registered name, rank, extra builder arguments): every family once, in one rank (the builders are
# rank-generic and test_models.py builds every model in every rank on TensorFlow), every block kind at
# least once. The deeper members of a family (resnet34..152, vgg13..19, mc3_18) add depth, not code.
MODELS = [
    ("lenet5", 2, {"input_shape": (16, 16, 1)}),
    ("lenet5", 2, {"input_shape": (32, 32, 1), "variant": "paper", "width": 1.0}),  # connection table, RBF
    ("alexnet", 2, {}),
    ("googlenet", 2, {"aux_logits": True}),
    ("vgg11_bn", 1, {}),
    ("resnet50", 1, {}),
    ("resnet20", 2, {"width": 1 / 8}),  # 2 channels: with one, BatchNorm's scale invariance zeroes a gradient
    ("tcn", 1, {"input_shape": (32, 3), "width": 1 / 4}),  # 6 channels: with 2, LayerNorm zeroes gradients
    ("r3d_18", 3, {"input_shape": (4, 16, 16, 3)}),
    ("r2plus1d_18", 3, {"input_shape": (4, 16, 16, 3)}),
]
# The models the training-step test trains as a whole (the others' blocks are trained as blocks): a
# compiled training step of a whole GoogLeNet or video ResNet takes 30-40 s to compile on JAX here.
TRAINED_MODELS = ("lenet5_paper", "resnet20", "tcn", "vgg11_bn", "ssd_resnet18")


def model_case_name(name, rank, extra):
    return f"{name}_{extra['variant']}" if "variant" in extra else name


def model_input_shape(name, rank):
    size = {"lenet5": 16, "alexnet": cnnzoo.models.alexnet.MIN_SIZE, "googlenet": 16}.get(name, 32)
    return (size,) * rank + (1 if name == "lenet5" else 3,)


def model_cases():
    # a detector: an SSD head on a backbone's maps, its outputs gathered by DetectionOutputs
    cases = {"ssd_resnet18": (lambda: cnnzoo.ssd("resnet18", classes=3, input_shape=(64, 64, 3), width=TINY, levels=2,
                                                 extra_levels=1), (64, 64, 3))}
    for name, rank, extra in MODELS:
        kwargs = {"input_shape": model_input_shape(name, rank), "width": TINY, "classes": 5, **extra}
        cases[model_case_name(name, rank, extra)] = (lambda n=name, k=kwargs: cnnzoo.get_model(n, **k),
                                                     kwargs["input_shape"])
    return cases


def _wrapped(make_layer, input_shape):
    """A small model around one block: the block, global pooling (when spatial) and a dense head."""
    def build():
        inputs = keras.Input(input_shape)
        x = make_layer()(inputs)
        if len(x.shape) > 2:
            x = GlobalPooling()(x)
        return keras.Model(inputs, keras.layers.Dense(3)(x))
    return build, input_shape


def block_cases():
    blocks = {
        "ConvNormAct_1d": (lambda: ConvNormAct(4, 3, strides=2, padding=1, activation="leaky_relu"), (9, 4)),
        "ConvNormAct_2d_group_norm": (lambda: ConvNormAct(4, 3, norm="group", activation="gelu"), (8, 8, 4)),
        "ConvNormAct_3d_layer_norm_preact": (lambda: ConvNormAct(4, 3, norm="layer", preact=True), (4, 6, 6, 4)),
        "Conv2Plus1D": (lambda: Conv2Plus1D(6, strides=(1, 2, 2)), (4, 8, 8, 3)),
        "InceptionModule": (lambda: InceptionModule(2, 2, 3, 1, 2, 2), (8, 8, 4)),
        "BasicBlock_A": (lambda: BasicBlock(6, strides=2, shortcut="A"), (8, 8, 4)),
        "BasicBlock_2plus1d": (lambda: BasicBlock(4, conv_layer=Conv2Plus1D), (4, 6, 6, 4)),
        "Bottleneck": (lambda: Bottleneck(2, strides=2, stride_in_1x1=True), (8, 8, 4)),
        "Bottleneck_preact_groups": (lambda: Bottleneck(2, preact=True, groups=2, base_width=32), (8, 8, 4)),
        "LPPooling": (lambda: LPPooling(2, 2, padding="same"), (8, 8, 4)),
        "LPPooling_p3_normalized_1d": (lambda: LPPooling(3.0, 3, strides=2, normalize=True), (9, 2)),
        "Pooling_avg_padded": (lambda: Pooling("avg", 3, strides=1, padding=1), (8, 8, 4)),
        "Pooling_max_ceil_3d": (lambda: Pooling("max", 3, strides=2, ceil_mode=True), (5, 6, 7, 2)),
        "Pooling_avg_ceil": (lambda: Pooling("avg", 3, strides=2, padding=1, ceil_mode=True), (8, 7, 2)),
        "LocalResponseNormalization": (lambda: LocalResponseNormalization(), (6, 6, 6)),
        "ConnectionTableConv": (lambda: ConnectionTableConv([(0, 1), (1, 2), (3,)], 3, padding="same"), (8, 8, 4)),
        "DropPath": (lambda: DropPath(0.5), (5, 4)),
        "L2Normalization": (lambda: L2Normalization(20.0), (6, 6, 4)),
    }
    return {name: _wrapped(make, shape) for name, (make, shape) in blocks.items()}


def all_cases():
    return {**{f"model_{k}": v for k, v in model_cases().items()},
            **{f"block_{k}": v for k, v in block_cases().items()}}


def case_input(name, input_shape, batch=2):
    seed = sum(map(ord, name))
    return np.random.default_rng(seed).normal(size=(batch,) + tuple(input_shape)).astype("float32")


def outputs(model, x):
    """Inference outputs as one float64 array (named outputs concatenated in key order)."""
    y = model(x, training=False)
    if isinstance(y, dict):
        return np.concatenate([np.asarray(keras.ops.convert_to_numpy(y[k]), "float64").ravel() for k in sorted(y)])
    return np.asarray(keras.ops.convert_to_numpy(y), "float64")
