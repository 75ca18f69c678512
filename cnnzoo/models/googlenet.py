"""GoogLeNet (Inception v1).

Szegedy et al. 2015, "Going Deeper with Convolutions".

The default is torchvision-compatible (6,624,904 parameters): BatchNorm with
epsilon 1e-3 (torchvision's ``BasicConv2d``), no convolution bias, no LRN,
max pools that round up (PyTorch's ``ceil_mode=True`` with no padding, as
Caffe pooled), and a 3x3 kernel in the branch the paper calls 5x5,
torchvision's known deviation (pytorch/vision#906, kept there for its
pretrained weights). It computes torchvision's function at every input size
(tests/test_torchvision.py). ``inception_5x5=True, norm=None`` is the paper: true 5x5
branch, convolution bias, LRN after the stem's first pool and third
convolution (6,998,552 parameters; 13,378,280 with the two auxiliary heads).
LRN appears exactly when ``norm`` is None: BatchNorm replaced it.

Auxiliary heads (``aux_logits=True``) sit on inception4a and inception4d; the
model then outputs ``{"main", "aux1", "aux2"}`` for training, with the paper's
loss weight `AUX_LOSS_WEIGHT` (0.3) on each auxiliary loss; `without_aux`
returns the inference model (same weights, main output only).
"""

import typing

import keras

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.inception import InceptionModule
from cnnzoo.layers.normalization import LocalResponseNormalization
from cnnzoo.layers.pooling import AdaptivePooling, GlobalPooling, Pooling
from cnnzoo.models import common
from cnnzoo.registry import register_model

AUX_LOSS_WEIGHT = 0.3


class Inception(typing.NamedTuple):
    filters_1x1: int
    filters_3x3_reduce: int
    filters_3x3: int
    filters_5x5_reduce: int
    filters_5x5: int
    filters_pool_proj: int


# The paper's Table 1, grouped by stage (max pools between groups).
STAGES = {
    "inception3": {
        "a": Inception(64, 96, 128, 16, 32, 32),
        "b": Inception(128, 128, 192, 32, 96, 64),
    },
    "inception4": {
        "a": Inception(192, 96, 208, 16, 48, 64),
        "b": Inception(160, 112, 224, 24, 64, 64),
        "c": Inception(128, 128, 256, 24, 64, 64),
        "d": Inception(112, 144, 288, 32, 64, 64),
        "e": Inception(256, 160, 320, 32, 128, 128),
    },
    "inception5": {
        "a": Inception(256, 160, 320, 32, 128, 128),
        "b": Inception(384, 192, 384, 48, 128, 128),
    },
}
AUX_AFTER = {"inception4_a": "aux1", "inception4_d": "aux2"}
BATCH_NORM_EPSILON = 1e-3  # torchvision's BasicConv2d (the global default is PyTorch's 1e-5)
# The max pools between stages: (pool size, stride), rounding up as torchvision's ceil_mode=True.
STEM_POOL = (3, 2)
STAGE_POOLS = {"inception4": (3, 2), "inception5": (2, 2)}  # torchvision's last pool is 2x2 (paper: 3x3)


def _chain(_):
    pool = lambda k, s: (k, s, "valid", 1, True)  # noqa: E731
    return [(7, 2, (3, 3), 1), pool(*STEM_POOL), pool(*STEM_POOL), *(pool(*p) for p in STAGE_POOLS.values())]


MIN_SIZE = common.min_input_size(_chain)


def _aux_head(x, name, *, classes, classifier_activation, norm, activation, width, norm_epsilon):
    x = AdaptivePooling(4, name=f"{name}_pool")(x)
    x = ConvNormAct(common.scaled(128, width), 1, norm=norm, activation=activation, norm_epsilon=norm_epsilon,
                    name=f"{name}_conv")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(common.scaled(1024, width), activation=activation, name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


@register_model
def googlenet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    norm="batch",
    activation="relu",
    width=1.0,
    dropout=0.2,
    features_only=False,
    aux_logits=False,
    inception_5x5=False,
):
    """GoogLeNet / Inception v1.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications.
            input_shape defaults to (224, 224, 3).
        norm: Defaults to `"batch"` (torchvision); None is the paper (with LRN).
        activation: Defaults to `"relu"`.
        width: channel multiplier. Defaults to `1.0`.
        dropout: before the classifier; 0.2 torchvision, 0.4 the paper.
            Defaults to `0.2`.
        features_only: outputs ``{"stem", "inception3", "inception4",
            "inception5"}`` (reductions 8, 8, 16, 32). Defaults to `False`.
        aux_logits: add the two auxiliary classifiers as extra outputs.
            Defaults to `False`.
        inception_5x5: the paper's 5x5 branch (True) or torchvision's 3x3.
            Defaults to `False`.

    Returns:
        A ``keras.Model``.
    """
    common.check_common_args(
        "googlenet", include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    if aux_logits and not include_top:
        raise ValueError("aux_logits=True needs include_top=True. Received: include_top=False")
    inputs, x, rank = common.model_input(
        "googlenet", input_shape=input_shape, input_tensor=input_tensor,
        default_shape=(224, 224, 3), min_size=MIN_SIZE,
    )
    unit = dict(norm=norm, activation=activation, norm_epsilon=BATCH_NORM_EPSILON)
    lrn = norm is None
    features = common.FeatureRecorder()
    x = ConvNormAct(common.scaled(64, width), 7, strides=2, padding=3, **unit, name="stem_conv1")(x)
    x = Pooling("max", *STEM_POOL, ceil_mode=True, name="stem_pool1")(x)
    if lrn:
        x = LocalResponseNormalization(name="stem_lrn1")(x)
    x = ConvNormAct(common.scaled(64, width), 1, **unit, name="stem_conv2")(x)
    x = ConvNormAct(common.scaled(192, width), 3, padding=1, **unit, name="stem_conv3")(x)
    if lrn:
        x = LocalResponseNormalization(name="stem_lrn2")(x)
    x = Pooling("max", *STEM_POOL, ceil_mode=True, name="stem_pool2")(x)
    features.add("stem", x, 8)
    aux = {}
    reduction = 8
    for s, (stage, modules) in enumerate(STAGES.items()):
        if s:
            x = Pooling("max", *STAGE_POOLS[stage], ceil_mode=True, name=f"{stage}_pool")(x)
            reduction *= 2
        for letter, cfg in modules.items():
            layer_name = f"{stage}_{letter}"
            x = InceptionModule(
                *(common.scaled(f, width) for f in cfg),
                kernel_size_5x5=5 if inception_5x5 else 3,
                **unit,
                name=layer_name,
            )(x)
            if aux_logits and layer_name in AUX_AFTER:
                aux[AUX_AFTER[layer_name]] = _aux_head(
                    x, AUX_AFTER[layer_name], classes=classes,
                    classifier_activation=classifier_activation, width=width, **unit,
                )
        features.add(stage, x, reduction)
    x = common.global_pool_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout=dropout,
    )
    if aux:
        x = {"main": x, **aux}
    return common.finish_model(
        inputs, x, features, name=name or "googlenet", weights=weights, features_only=features_only
    )


def without_aux(model):
    """The inference model of a GoogLeNet built with ``aux_logits=True``: main output only."""
    if not isinstance(model.output, dict) or "main" not in model.output:
        raise ValueError(
            f"without_aux needs a googlenet built with aux_logits=True. Received: model={model.name!r}"
        )
    return keras.Model(model.input, model.output["main"], name=model.name)
