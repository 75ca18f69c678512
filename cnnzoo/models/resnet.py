"""ResNet: ImageNet, CIFAR and video, and its ResNeXt and Wide ResNet rows.

He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition"
(ResNet-18..152, and the CIFAR ResNet-20..110 of its section 4.2 with option-A
shortcuts), and "Identity Mappings in Deep Residual Networks" (``preact=True``).
Defaults follow torchvision ("ResNet v1.5": stride in the 3x3, no convolution
bias, BatchNorm): resnet50 has 25,557,032 parameters.
``stride_in_1x1=True, conv_bias=True`` is the original paper's placement with
keras.applications' biases: the same layers and Keras ``count_params()``
(25,636,712) as ``keras.applications.ResNet50``.

ResNeXt (Xie et al. 2017, "Aggregated Residual Transformations for Deep Neural
Networks") and Wide ResNet-50/101-2 (Zagoruyko, Komodakis 2016, in torchvision's
bottleneck form: twice the 3x3's channels) are rows too: the bottleneck's
``groups`` and ``base_width`` (resnext50_32x4d: 25,028,904 parameters;
wide_resnet50_2: 68,883,240, as torchvision).

The video ResNets are rows of the same table: Tran et al. 2018, "A Closer Look
at Spatiotemporal Convolutions for Action Recognition", as torchvision ships
them (``torchvision.models.video``): the same `BasicBlock` with 3x3x3
convolutions (R3D), 3x3x3 in the first stage and spatial-only 1x3x3 after it
(MC3, "mixed convolutions"), or (2+1)D factorized convolutions (R(2+1)D: the
block's ``conv_layer`` is `Conv2Plus1D`, as torchvision passes ``conv_makers``).
Their stem is 3x7x7 stride (1, 2, 2) (R(2+1)D: 1x7x7 then 3x1x1 through 45
channels), no max pool; stages 2-4 halve time too, except MC3's spatial-only
stages. Defaults: 16x112x112x3 clips, 400 classes (Kinetics-400):
33,371,472 / 11,695,440 / 31,505,325 parameters. They are 3D only.
"""

import typing

from cnnzoo.layers.conv2plus1d import Conv2Plus1D
from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.normalization import make_activation, make_norm
from cnnzoo.layers.pooling import Pooling
from cnnzoo.layers.residual import SHORTCUTS, BasicBlock, Bottleneck
from cnnzoo.models.builder import Family
from cnnzoo.weights.torchvision import conv_or_norm

STEMS = ("imagenet", "cifar")
OUTPUT_STRIDES = (8, 16, 32)


class StageConv(typing.NamedTuple):
    """The convolutions of one stage: the block's "3x3" kernel, its layer, whether it strides time."""

    kernel_size: typing.Any = 3
    layer: typing.Any = None  # None: Keras's Conv{rank}D; Conv2Plus1D for R(2+1)D
    strides_time: bool = True  # False: MC3's spatial-only stages stride (1, s, s)

    def strides(self, stride):
        return stride if self.strides_time or stride == 1 else (1, stride, stride)


class ResNetSpec(typing.NamedTuple):
    """One ResNet: its block, blocks and channels per stage, stem, shortcut and per-stage convolutions."""
    block: type  # BasicBlock or Bottleneck
    depths: tuple  # blocks per stage
    widths: tuple  # base channels per stage
    stem: str  # default stem: "imagenet", "cifar", or a video stem ("r3d", "r2plus1d")
    shortcut: str  # default shortcut option
    stage_convs: tuple = (StageConv(),) * 4
    groups: int = 1  # of the bottleneck's 3x3: ResNeXt's cardinality
    base_width: int = 64  # channels per group of the bottleneck's 3x3 at 64 base channels (ResNeXt, Wide ResNet)


_IMAGENET = dict(widths=(64, 128, 256, 512), stem="imagenet", shortcut="B")
_CIFAR = dict(widths=(16, 32, 64), stem="cifar", shortcut="A")
_FULL, _SPATIAL, _2PLUS1D = StageConv(), StageConv((1, 3, 3), strides_time=False), StageConv(layer=Conv2Plus1D)

SPECS = {
    "resnet18": ResNetSpec(BasicBlock, (2, 2, 2, 2), **_IMAGENET),
    "resnet34": ResNetSpec(BasicBlock, (3, 4, 6, 3), **_IMAGENET),
    "resnet50": ResNetSpec(Bottleneck, (3, 4, 6, 3), **_IMAGENET),
    "resnet101": ResNetSpec(Bottleneck, (3, 4, 23, 3), **_IMAGENET),
    "resnet152": ResNetSpec(Bottleneck, (3, 8, 36, 3), **_IMAGENET),
    "resnext50_32x4d": ResNetSpec(Bottleneck, (3, 4, 6, 3), **_IMAGENET, groups=32, base_width=4),
    "resnext101_32x8d": ResNetSpec(Bottleneck, (3, 4, 23, 3), **_IMAGENET, groups=32, base_width=8),
    "resnext101_64x4d": ResNetSpec(Bottleneck, (3, 4, 23, 3), **_IMAGENET, groups=64, base_width=4),
    "wide_resnet50_2": ResNetSpec(Bottleneck, (3, 4, 6, 3), **_IMAGENET, base_width=128),
    "wide_resnet101_2": ResNetSpec(Bottleneck, (3, 4, 23, 3), **_IMAGENET, base_width=128),
    # CIFAR: 6n + 2 layers, n blocks per stage.
    "resnet20": ResNetSpec(BasicBlock, (3, 3, 3), **_CIFAR),
    "resnet32": ResNetSpec(BasicBlock, (5, 5, 5), **_CIFAR),
    "resnet44": ResNetSpec(BasicBlock, (7, 7, 7), **_CIFAR),
    "resnet56": ResNetSpec(BasicBlock, (9, 9, 9), **_CIFAR),
    "resnet110": ResNetSpec(BasicBlock, (18, 18, 18), **_CIFAR),
    # Video (3D only).
    "r3d_18": ResNetSpec(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), "r3d", "B", (_FULL,) * 4),
    "mc3_18": ResNetSpec(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), "r3d", "B", (_FULL,) + (_SPATIAL,) * 3),
    "r2plus1d_18": ResNetSpec(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), "r2plus1d", "B", (_2PLUS1D,) * 4),
}
MIN_SIZE = 1  # every convolution and pool pads: any size >= 1 fits


def _check(build):
    o = build.options
    if o.stem not in STEMS and o.stem != build.spec.stem:  # a video row's stem is its own
        raise ValueError(f"stem must be one of {STEMS}. Received: stem={o.stem!r}")
    if o.shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}. Received: shortcut={o.shortcut!r}")
    if o.output_stride is not None and o.output_stride not in OUTPUT_STRIDES:
        raise ValueError(
            f"output_stride must be one of {OUTPUT_STRIDES} or None. Received: output_stride={o.output_stride!r}"
        )
    if not 0.0 <= o.drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1). Received: drop_path_rate={o.drop_path_rate!r}")


def _stem(x, build):
    """The stem and its reduction (spatial)."""
    o, width = build.options, build.scaled(build.spec.widths[0])
    # v2 starts with a bare convolution: every block normalizes its own input.
    unit = dict(norm=None, activation=None, use_bias=True) if o.preact else dict(**build.unit, use_bias=o.conv_bias)
    if o.stem == "imagenet":
        x = ConvNormAct(width, 7, strides=2, padding=3, **unit, name="stem_conv")(x)
        return Pooling("max", 3, strides=2, padding=1, name="stem_pool")(x), 4
    if o.stem == "cifar":
        return ConvNormAct(width, 3, padding=1, **unit, name="stem_conv")(x), 1
    if o.stem == "r3d":
        return ConvNormAct(width, (3, 7, 7), strides=(1, 2, 2), padding=(1, 3, 3), **unit, name="stem_conv")(x), 2
    x = ConvNormAct(build.scaled(45), (1, 7, 7), strides=(1, 2, 2), padding=(0, 3, 3), **unit, name="stem_conv1")(x)
    return ConvNormAct(width, (3, 1, 1), padding=(1, 0, 0), **unit, name="stem_conv2")(x), 2


def _trunk(x, build):
    spec, o = build.spec, build.options
    x, reduction = _stem(x, build)
    build.record("stem", x, reduction)
    total_blocks = sum(spec.depths)
    index = 0
    dilation = 1
    for s, (depth, stage_width, conv) in enumerate(zip(spec.depths, spec.widths, spec.stage_convs), start=1):
        stride = 1 if s == 1 else 2
        previous_dilation = dilation
        if o.output_stride is not None and reduction * stride > o.output_stride:
            dilation *= stride
            stride = 1
        for b in range(1, depth + 1):
            x = spec.block(
                build.scaled(stage_width), strides=conv.strides(stride) if b == 1 else 1,
                kernel_size=conv.kernel_size, conv_layer=conv.layer, groups=spec.groups, base_width=spec.base_width,
                shortcut=o.shortcut,
                stride_in_1x1=o.stride_in_1x1, preact=o.preact, zero_init_residual=o.zero_init_residual,
                drop_path_rate=o.drop_path_rate * index / max(total_blocks - 1, 1),
                dilation_rate=previous_dilation if b == 1 else dilation, use_bias=o.conv_bias, **build.unit,
                name=f"stage{s}_block{b}",
            )(x)
            index += 1
        reduction *= stride
        build.record(f"stage{s}", x, reduction)
    if o.preact:
        if build.args.norm is not None:
            x = make_norm(build.args.norm, build.channels(x), axis=build.channel_axis, name="head_norm")(x)
        act = make_activation(build.args.activation, name="head_act")
        if act is not None:
            x = act(x)
    return x


def _torchvision_rules(model_name, spec):
    """torchvision's ``ResNet`` / ``VideoResNet`` module paths -> this family's layer paths."""
    block = lambda m: f"stage{m[1]}_block{int(m[2]) + 1}"  # noqa: E731
    shortcut = [(r"layer(\d+)\.(\d+)\.downsample\.([01])", lambda m: f"{block(m)}/shortcut/{conv_or_norm(m[3])}"),
                (r"fc", lambda m: "predictions")]
    if spec.stem == "r2plus1d":
        parts = {"0": "spatial/conv", "1": "spatial/norm", "3": "temporal/conv"}
        stem = {"0": "stem_conv1/conv", "1": "stem_conv1/norm", "3": "stem_conv2/conv", "4": "stem_conv2/norm"}
        return [(r"stem\.([0134])", lambda m: stem[m[1]]),
                (r"layer(\d+)\.(\d+)\.conv(\d)\.0\.([013])", lambda m: f"{block(m)}/conv{m[3]}/conv/{parts[m[4]]}"),
                (r"layer(\d+)\.(\d+)\.conv(\d)\.1", lambda m: f"{block(m)}/conv{m[3]}/norm"), *shortcut]
    if spec.stem == "r3d":
        return [(r"stem\.([01])", lambda m: f"stem_conv/{conv_or_norm(m[1])}"),
                (r"layer(\d+)\.(\d+)\.conv(\d)\.([01])", lambda m: f"{block(m)}/conv{m[3]}/{conv_or_norm(m[4])}"),
                *shortcut]
    return [(r"conv1", lambda m: "stem_conv/conv"), (r"bn1", lambda m: "stem_conv/norm"),
            (r"layer(\d+)\.(\d+)\.conv(\d)", lambda m: f"{block(m)}/conv{m[3]}/conv"),
            (r"layer(\d+)\.(\d+)\.bn(\d)", lambda m: f"{block(m)}/conv{m[3]}/norm"), *shortcut]


RESNET = Family(
    trunk=_trunk,
    check=_check,
    options=dict(stem="imagenet", shortcut="B", preact=False, zero_init_residual=False, drop_path_rate=0.0,
                 stride_in_1x1=False, conv_bias=False, output_stride=None),
    docs=dict(
        features_only='outputs ``{"stem", "stage1", ...}`` with their channels and reductions in '
                      "``model.feature_info`` (video: the spatial reduction).",
        stem='``"imagenet"`` (7x7/2 + 3x3/2 max pool) or ``"cifar"`` (3x3/1).',
        shortcut='``"A"`` (parameter-free) or ``"B"`` (1x1 projection) when the shape changes.',
        preact="pre-activation ResNet v2.",
        zero_init_residual="zero gamma in each block's last norm.",
        drop_path_rate="stochastic depth, rising linearly to this rate over the blocks.",
        stride_in_1x1="stride in the bottleneck's first 1x1 (paper, keras.applications) instead of its 3x3 "
                      "(torchvision).",
        conv_bias="biases on every convolution (keras.applications).",
        output_stride="8, 16 or 32: later strides become dilations (DeepLab); None: no dilation.",
    ),
    min_size=MIN_SIZE,
    rank_error="a video network: input_shape must be (T, H, W, C)",
    specs=SPECS,
    row_defaults=lambda spec: {"stem": spec.stem, "shortcut": spec.shortcut},  # a row's stem and shortcut
    stages=lambda spec, options: ("stem", *(f"stage{s}" for s in range(1, len(spec.depths) + 1))),
    # the CIFAR rows have no torchvision twin
    torchvision_rules=lambda name, spec: None if spec.stem == "cifar" else _torchvision_rules(name, spec),
    # dilation instead of stride is torchvision's replace_stride_with_dilation: the same weights
    pretrained_free=("output_stride", "drop_path_rate", "zero_init_residual"),
)
_CIFAR_ROW = dict(defaults={"classes": 10}, default_shape=(32, 32, 3))
_VIDEO_ROW = dict(defaults={"classes": 400}, default_shape=(16, 112, 112, 3), ranks=(3,),
                  options=("zero_init_residual", "drop_path_rate"))


@RESNET.register()
def resnet18(*args, **kwargs):
    """ResNet-18 (ImageNet)."""
    return RESNET.build("resnet18", args, kwargs)


@RESNET.register()
def resnet34(*args, **kwargs):
    """ResNet-34 (ImageNet)."""
    return RESNET.build("resnet34", args, kwargs)


@RESNET.register()
def resnet50(*args, **kwargs):
    """ResNet-50 (ImageNet)."""
    return RESNET.build("resnet50", args, kwargs)


@RESNET.register()
def resnet101(*args, **kwargs):
    """ResNet-101 (ImageNet)."""
    return RESNET.build("resnet101", args, kwargs)


@RESNET.register()
def resnet152(*args, **kwargs):
    """ResNet-152 (ImageNet)."""
    return RESNET.build("resnet152", args, kwargs)


@RESNET.register()
def resnext50_32x4d(*args, **kwargs):
    """ResNeXt-50 32x4d (ImageNet)."""
    return RESNET.build("resnext50_32x4d", args, kwargs)


@RESNET.register()
def resnext101_32x8d(*args, **kwargs):
    """ResNeXt-101 32x8d (ImageNet)."""
    return RESNET.build("resnext101_32x8d", args, kwargs)


@RESNET.register()
def resnext101_64x4d(*args, **kwargs):
    """ResNeXt-101 64x4d (ImageNet)."""
    return RESNET.build("resnext101_64x4d", args, kwargs)


@RESNET.register()
def wide_resnet50_2(*args, **kwargs):
    """Wide ResNet-50-2 (ImageNet)."""
    return RESNET.build("wide_resnet50_2", args, kwargs)


@RESNET.register()
def wide_resnet101_2(*args, **kwargs):
    """Wide ResNet-101-2 (ImageNet)."""
    return RESNET.build("wide_resnet101_2", args, kwargs)


@RESNET.register(**_CIFAR_ROW)
def resnet20(*args, **kwargs):
    """ResNet-20 (CIFAR, section 4.2)."""
    return RESNET.build("resnet20", args, kwargs)


@RESNET.register(**_CIFAR_ROW)
def resnet32(*args, **kwargs):
    """ResNet-32 (CIFAR, section 4.2)."""
    return RESNET.build("resnet32", args, kwargs)


@RESNET.register(**_CIFAR_ROW)
def resnet44(*args, **kwargs):
    """ResNet-44 (CIFAR, section 4.2)."""
    return RESNET.build("resnet44", args, kwargs)


@RESNET.register(**_CIFAR_ROW)
def resnet56(*args, **kwargs):
    """ResNet-56 (CIFAR, section 4.2)."""
    return RESNET.build("resnet56", args, kwargs)


@RESNET.register(**_CIFAR_ROW)
def resnet110(*args, **kwargs):
    """ResNet-110 (CIFAR, section 4.2)."""
    return RESNET.build("resnet110", args, kwargs)


@RESNET.register(**_VIDEO_ROW)
def r3d_18(*args, **kwargs):
    """R3D-18: 3x3x3 convolutions throughout."""
    return RESNET.build("r3d_18", args, kwargs)


@RESNET.register(**_VIDEO_ROW)
def mc3_18(*args, **kwargs):
    """MC3-18: 3x3x3 in stage 1, spatial-only 1x3x3 after."""
    return RESNET.build("mc3_18", args, kwargs)


@RESNET.register(**_VIDEO_ROW)
def r2plus1d_18(*args, **kwargs):
    """R(2+1)D-18: (2+1)D factorized convolutions."""
    return RESNET.build("r2plus1d_18", args, kwargs)
