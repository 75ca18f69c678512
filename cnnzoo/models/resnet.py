"""ResNet, ImageNet and CIFAR variants.

He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition"
(ResNet-18..152, and the CIFAR ResNet-20..110 of its section 4.2 with option-A
shortcuts), and "Identity Mappings in Deep Residual Networks" (``preact=True``).

Defaults follow torchvision ("ResNet v1.5": stride in the 3x3, no convolution
bias, BatchNorm): resnet50 has 25,557,032 parameters.
``stride_in_1x1=True, conv_bias=True`` is the original paper's placement with
keras.applications' biases: the same layers and Keras ``count_params()``
(25,636,712) as ``keras.applications.ResNet50``.
"""

import typing

import keras

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.normalization import make_activation, make_norm
from cnnzoo.layers.pooling import Pooling
from cnnzoo.layers.residual import SHORTCUTS, BasicBlock, Bottleneck
from cnnzoo.models import common
from cnnzoo.registry import register_model

STEMS = ("imagenet", "cifar")
OUTPUT_STRIDES = (8, 16, 32)


class ResNetSpec(typing.NamedTuple):
    block: type  # BasicBlock or Bottleneck
    depths: tuple  # blocks per stage
    widths: tuple  # base channels per stage
    stem: str  # default stem
    classes: int  # default number of classes
    input_shape: tuple  # default input shape
    shortcut: str  # default shortcut option


_IMAGENET = dict(widths=(64, 128, 256, 512), stem="imagenet", classes=1000, input_shape=(224, 224, 3), shortcut="B")
_CIFAR = dict(widths=(16, 32, 64), stem="cifar", classes=10, input_shape=(32, 32, 3), shortcut="A")

SPECS = {
    "resnet18": ResNetSpec(BasicBlock, (2, 2, 2, 2), **_IMAGENET),
    "resnet34": ResNetSpec(BasicBlock, (3, 4, 6, 3), **_IMAGENET),
    "resnet50": ResNetSpec(Bottleneck, (3, 4, 6, 3), **_IMAGENET),
    "resnet101": ResNetSpec(Bottleneck, (3, 4, 23, 3), **_IMAGENET),
    "resnet152": ResNetSpec(Bottleneck, (3, 8, 36, 3), **_IMAGENET),
    # CIFAR: 6n + 2 layers, n blocks per stage.
    "resnet20": ResNetSpec(BasicBlock, (3, 3, 3), **_CIFAR),
    "resnet32": ResNetSpec(BasicBlock, (5, 5, 5), **_CIFAR),
    "resnet44": ResNetSpec(BasicBlock, (7, 7, 7), **_CIFAR),
    "resnet56": ResNetSpec(BasicBlock, (9, 9, 9), **_CIFAR),
    "resnet110": ResNetSpec(BasicBlock, (18, 18, 18), **_CIFAR),
}
MIN_SIZE = 1  # every convolution and pool pads: any size >= 1 fits

class _SpecDefault:
    def __repr__(self):
        return "<the spec's>"


_DEFAULT = _SpecDefault()  # classes: the spec's (1000 ImageNet, 10 CIFAR)


def _resnet(
    arch,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=_DEFAULT,
    classifier_activation="softmax",
    name=None,
    norm="batch",
    activation="relu",
    width=1.0,
    dropout=0.0,
    features_only=False,
    stem=None,
    shortcut=None,
    preact=False,
    zero_init_residual=False,
    drop_path_rate=0.0,
    stride_in_1x1=False,
    conv_bias=False,
    output_stride=None,
):
    """The generic ResNet builder: reads ``SPECS[arch]``; see `resnet50` for the arguments."""
    if arch not in SPECS:
        raise ValueError(f"arch must be one of {tuple(SPECS)}. Received: arch={arch!r}")
    spec = SPECS[arch]
    classes = spec.classes if classes is _DEFAULT else classes
    stem = spec.stem if stem is None else stem
    shortcut = spec.shortcut if shortcut is None else shortcut
    common.check_common_args(
        arch, include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}. Received: stem={stem!r}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}. Received: shortcut={shortcut!r}")
    if output_stride is not None and output_stride not in OUTPUT_STRIDES:
        raise ValueError(
            f"output_stride must be one of {OUTPUT_STRIDES} or None. Received: output_stride={output_stride!r}"
        )
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1). Received: drop_path_rate={drop_path_rate!r}")
    inputs, x, rank = common.model_input(
        arch, input_shape=input_shape, input_tensor=input_tensor,
        default_shape=spec.input_shape, min_size=MIN_SIZE,
    )
    features = common.FeatureRecorder()
    stem_width = common.scaled(spec.widths[0], width)
    # v2 starts with a bare convolution: every block normalizes its own input.
    stem_unit = dict(norm=None, activation=None, use_bias=True) if preact else dict(
        norm=norm, activation=activation, use_bias=conv_bias
    )
    if stem == "imagenet":
        x = ConvNormAct(stem_width, 7, strides=2, padding=3, **stem_unit, name="stem_conv")(x)
        x = Pooling("max", 3, strides=2, padding=1, name="stem_pool")(x)
        reduction = 4
    else:
        x = ConvNormAct(stem_width, 3, padding=1, **stem_unit, name="stem_conv")(x)
        reduction = 1
    features.add("stem", x, reduction)

    total_blocks = sum(spec.depths)
    index = 0
    dilation = 1
    for s, (depth, stage_width) in enumerate(zip(spec.depths, spec.widths), start=1):
        stride = 1 if s == 1 else 2
        previous_dilation = dilation
        if output_stride is not None and reduction * stride > output_stride:
            dilation *= stride
            stride = 1
        for b in range(1, depth + 1):
            rate = drop_path_rate * index / max(total_blocks - 1, 1)
            x = spec.block(
                common.scaled(stage_width, width),
                strides=stride if b == 1 else 1,
                shortcut=shortcut,
                stride_in_1x1=stride_in_1x1,
                preact=preact,
                zero_init_residual=zero_init_residual,
                drop_path_rate=rate,
                dilation_rate=previous_dilation if b == 1 else dilation,
                norm=norm,
                activation=activation,
                use_bias=conv_bias,
                name=f"stage{s}_block{b}",
            )(x)
            index += 1
        reduction *= stride
        features.add(f"stage{s}", x, reduction)
    if preact:
        if norm is not None:
            x = make_norm(norm, int(x.shape[-1]), name="head_norm")(x)
        act = make_activation(activation, name="head_act")
        if act is not None:
            x = act(x)
    x = common.global_pool_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout=dropout,
    )
    return common.finish_model(
        inputs, x, features, name=name or arch, weights=weights, features_only=features_only
    )


_DOC = """ResNet-{depth} ({kind}).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications.
            Defaults: input_shape {input_shape}, classes {classes}.
        norm: Defaults to `"batch"`.
        activation: Defaults to `"relu"`.
        width: channel multiplier. Defaults to `1.0`.
        dropout: before the classifier. Defaults to `0.0`.
        features_only: outputs ``{{"stem", "stage1", ...}}`` with their
            channels and reductions in ``model.feature_info``. Defaults to `False`.
        stem: ``"imagenet"`` (7x7/2 + 3x3/2 max pool) or ``"cifar"`` (3x3/1).
            Defaults to `"{stem}"`.
        shortcut: ``"A"`` (parameter-free) or ``"B"`` (1x1 projection) when
            the shape changes. Defaults to `"{shortcut}"`.
        preact: pre-activation ResNet v2. Defaults to `False`.
        zero_init_residual: zero gamma in each block's last norm. Defaults to `False`.
        drop_path_rate: stochastic depth, rising linearly to this rate over
            the blocks. Defaults to `0.0`.
        stride_in_1x1: stride in the bottleneck's first 1x1 (paper,
            keras.applications) instead of its 3x3 (torchvision). Defaults to `False`.
        conv_bias: biases on every convolution (keras.applications). Defaults to `False`.
        output_stride: 8, 16 or 32: later strides become dilations (DeepLab).
            Defaults to `None` (no dilation).

    Returns:
        A ``keras.Model``.
    """


def _entry(arch):
    spec = SPECS[arch]

    def builder(**kwargs):
        return _resnet(arch, **kwargs)

    builder.__name__ = builder.__qualname__ = arch
    builder.__signature__ = common.entry_signature(_resnet)
    builder.__doc__ = _DOC.format(
        depth=arch[len("resnet"):],
        kind="CIFAR, He et al. 2016 section 4.2" if spec.stem == "cifar" else "ImageNet",
        input_shape=spec.input_shape, classes=spec.classes, stem=spec.stem, shortcut=spec.shortcut,
    )
    return register_model(builder)


resnet18 = _entry("resnet18")
resnet34 = _entry("resnet34")
resnet50 = _entry("resnet50")
resnet101 = _entry("resnet101")
resnet152 = _entry("resnet152")
resnet20 = _entry("resnet20")
resnet32 = _entry("resnet32")
resnet44 = _entry("resnet44")
resnet56 = _entry("resnet56")
resnet110 = _entry("resnet110")
