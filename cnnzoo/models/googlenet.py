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
from cnnzoo.layers.pooling import AdaptivePooling, Pooling
from cnnzoo.models.builder import Family, min_input_size
from cnnzoo.weights.torchvision import conv_or_norm

AUX_LOSS_WEIGHT = 0.3


class Inception(typing.NamedTuple):
    """One row of the paper's Table 1: the channels of an Inception module's branches."""
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


MIN_SIZE = min_input_size(_chain)


def _check(build):
    if build.options.aux_logits and not build.args.include_top:
        raise ValueError("aux_logits=True needs include_top=True. Received: include_top=False")


def _aux_head(x, name, build):
    args, unit = build.args, dict(**build.unit, norm_epsilon=BATCH_NORM_EPSILON)
    x = AdaptivePooling(4, name=f"{name}_pool")(x)
    x = ConvNormAct(build.scaled(128), 1, **unit, name=f"{name}_conv")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(build.scaled(1024), activation=args.activation, name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return keras.layers.Dense(args.classes, activation=args.classifier_activation, name=f"{name}_predictions")(x)


def _trunk(x, build):
    unit = dict(**build.unit, norm_epsilon=BATCH_NORM_EPSILON)
    lrn = build.args.norm is None
    x = ConvNormAct(build.scaled(64), 7, strides=2, padding=3, **unit, name="stem_conv1")(x)
    x = Pooling("max", *STEM_POOL, ceil_mode=True, name="stem_pool1")(x)
    if lrn:
        x = LocalResponseNormalization(name="stem_lrn1")(x)
    x = ConvNormAct(build.scaled(64), 1, **unit, name="stem_conv2")(x)
    x = ConvNormAct(build.scaled(192), 3, padding=1, **unit, name="stem_conv3")(x)
    if lrn:
        x = LocalResponseNormalization(name="stem_lrn2")(x)
    x = Pooling("max", *STEM_POOL, ceil_mode=True, name="stem_pool2")(x)
    build.record("stem", x, 8)
    reduction = 8
    kernel_5x5 = 5 if build.options.inception_5x5 else 3
    for s, (stage, modules) in enumerate(STAGES.items()):
        if s:
            x = Pooling("max", *STAGE_POOLS[stage], ceil_mode=True, name=f"{stage}_pool")(x)
            reduction *= 2
        for letter, cfg in modules.items():
            layer_name = f"{stage}_{letter}"
            x = InceptionModule(*(build.scaled(f) for f in cfg), kernel_size_5x5=kernel_5x5, **unit, name=layer_name)(x)
            if build.options.aux_logits and layer_name in AUX_AFTER:
                build.extra_outputs[AUX_AFTER[layer_name]] = _aux_head(x, AUX_AFTER[layer_name], build)
        build.record(stage, x, reduction)
    return x


def _torchvision_rules(model_name, spec):
    """torchvision's ``GoogLeNet`` module paths -> this family's layer paths."""
    branches = {"branch1": "branch1", "branch2.0": "branch2_reduce", "branch2.1": "branch2",
                "branch3.0": "branch3_reduce", "branch3.1": "branch3", "branch4.1": "branch4"}
    return [
        (r"conv([123])\.(conv|bn)", lambda m: f"stem_conv{m[1]}/{conv_or_norm(m[2])}"),
        (r"inception(\d)([a-e])\.(branch1|branch[234]\.[01])\.(conv|bn)",
         lambda m: f"inception{m[1]}_{m[2]}/{branches[m[3]]}/{conv_or_norm(m[4])}"),
        (r"aux([12])\.conv\.(conv|bn)", lambda m: f"aux{m[1]}_conv/{conv_or_norm(m[2])}"),
        (r"aux([12])\.fc1", lambda m: f"aux{m[1]}_fc"),
        (r"aux([12])\.fc2", lambda m: f"aux{m[1]}_predictions"),
        (r"fc", lambda m: "predictions"),
    ]


GOOGLENET = Family(
    trunk=_trunk,
    check=_check,
    defaults=dict(dropout=0.2),
    options=dict(aux_logits=False, inception_5x5=False),
    docs=dict(norm='``"batch"`` (torchvision); None is the paper (with LRN).',
              dropout="before the classifier; 0.2 torchvision, 0.4 the paper.",
              features_only='outputs ``{"stem", "inception3", "inception4", "inception5"}`` (reductions 8, 8, 16, 32).',
              aux_logits="add the two auxiliary classifiers as extra outputs ``{\"main\", \"aux1\", \"aux2\"}``.",
              inception_5x5="the paper's 5x5 branch (True) or torchvision's 3x3."),
    min_size=MIN_SIZE,
    stages=lambda spec, options: ("stem", *STAGES),
    torchvision_rules=_torchvision_rules,
    pretrained_free=("aux_logits",),  # the heads are trained with the rest: with or without them, the same weights
    pretrained_kwargs=dict(aux_logits=True),  # torchvision's files carry the auxiliary heads
    aux_loss_weight=AUX_LOSS_WEIGHT,
)


@GOOGLENET.register()
def googlenet(*args, **kwargs):
    """GoogLeNet / Inception v1."""
    return GOOGLENET.build("googlenet", args, kwargs)


def without_aux(model):
    """The inference model of a GoogLeNet built with ``aux_logits=True``: main output only."""
    if not isinstance(model.output, dict) or "main" not in model.output:
        raise ValueError(
            f"without_aux needs a googlenet built with aux_logits=True. Received: model={model.name!r}"
        )
    return keras.Model(model.input, model.output["main"], name=model.name)
