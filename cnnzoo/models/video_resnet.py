"""Video ResNets: R3D-18, MC3-18 and R(2+1)D-18.

Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions for Action
Recognition", as torchvision ships them (``torchvision.models.video``): the
same `BasicBlock` as the image ResNets, with 3x3x3 convolutions (R3D), 3x3x3
in the first stage and spatial-only 1x3x3 after it (MC3, "mixed
convolutions"), or (2+1)D factorized convolutions (R(2+1)D, `Conv2Plus1D`).
Stem: 3x7x7 stride (1, 2, 2) (R(2+1)D: a 1x7x7 spatial then 3x1x1 temporal
convolution through 45 channels), no max pool; stages 2-4 halve time too,
except MC3's spatial-only stages. Defaults: 16x112x112x3 clips, 400 classes
(Kinetics-400): 33,371,472 / 11,695,440 / 31,505,325 parameters.
These networks are 3D only: the input shape must be (T, H, W, C).
"""

import typing

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.residual import BasicBlock
from cnnzoo.models import common
from cnnzoo.registry import register_model


class VideoResNetSpec(typing.NamedTuple):
    stem: str  # "r3d" (3x7x7) or "r2plus1d" (1x7x7 then 3x1x1)
    stage_convs: tuple  # per stage: "full" (3x3x3), "spatial" (1x3x3) or "2plus1d"


SPECS = {
    "r3d_18": VideoResNetSpec("r3d", ("full",) * 4),
    "mc3_18": VideoResNetSpec("r3d", ("full", "spatial", "spatial", "spatial")),
    "r2plus1d_18": VideoResNetSpec("r2plus1d", ("2plus1d",) * 4),
}
DEPTHS = (2, 2, 2, 2)
WIDTHS = (64, 128, 256, 512)
MIN_SIZE = 1  # every convolution pads


def _video_resnet(arch, *, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                  classes=400, classifier_activation="softmax", name=None, norm="batch", activation="relu",
                  width=1.0, dropout=0.0, features_only=False, zero_init_residual=False, drop_path_rate=0.0):
    """The generic video ResNet builder; see `r3d_18` for the arguments."""
    spec = SPECS[arch]
    common.check_common_args(
        arch, include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    inputs, x, rank = common.model_input(arch, input_shape=input_shape, input_tensor=input_tensor,
                                         default_shape=(16, 112, 112, 3), min_size=MIN_SIZE)
    if rank != 3:
        raise ValueError(f"{arch} is a video network: input_shape must be (T, H, W, C). "
                         f"Received: input_shape={tuple(x.shape[1:])}")
    unit = dict(norm=norm, activation=activation)
    features = common.FeatureRecorder()
    stem_width = common.scaled(64, width)
    if spec.stem == "r3d":
        x = ConvNormAct(stem_width, (3, 7, 7), strides=(1, 2, 2), padding=(1, 3, 3), **unit, name="stem_conv")(x)
    else:
        x = ConvNormAct(common.scaled(45, width), (1, 7, 7), strides=(1, 2, 2), padding=(0, 3, 3), **unit,
                        name="stem_conv1")(x)
        x = ConvNormAct(stem_width, (3, 1, 1), padding=(1, 0, 0), **unit, name="stem_conv2")(x)
    reduction = [1, 2, 2]
    features.add("stem", x, 2)
    total = sum(DEPTHS)
    index = 0
    for s, (depth, stage_width, conv) in enumerate(zip(DEPTHS, WIDTHS, spec.stage_convs), start=1):
        down = 1 if s == 1 else 2
        strides = (1, down, down) if conv == "spatial" else (down, down, down)
        for b in range(1, depth + 1):
            x = BasicBlock(
                common.scaled(stage_width, width), strides=strides if b == 1 else 1, shortcut="B",
                kernel_size=(1, 3, 3) if conv == "spatial" else 3,
                conv_type="2plus1d" if conv == "2plus1d" else "standard",
                zero_init_residual=zero_init_residual, drop_path_rate=drop_path_rate * index / max(total - 1, 1),
                **unit, name=f"stage{s}_block{b}",
            )(x)
            index += 1
        reduction = [r * st for r, st in zip(reduction, strides)]
        # spatial reduction recorded (time is reduced by reduction[0], see feature shapes)
        features.add(f"stage{s}", x, reduction[1])
    x = common.global_pool_head(x, include_top=include_top, pooling=pooling, classes=classes,
                                classifier_activation=classifier_activation, dropout=dropout)
    return common.finish_model(inputs, x, features, name=name or arch, weights=weights, features_only=features_only)


_DOC = """{title} (torchvision-compatible topology).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications. Defaults:
            input_shape (16, 112, 112, 3), classes 400.
        norm, activation, width, dropout: as in the other families.
        features_only: outputs ``{{"stem", "stage1".."stage4"}}``; feature_info
            records the spatial reduction. Defaults to `False`.
        zero_init_residual, drop_path_rate: as in ResNet.

    Returns:
        A ``keras.Model``.
    """


def _entry(arch, title):
    def builder(**kwargs):
        return _video_resnet(arch, **kwargs)

    builder.__name__ = builder.__qualname__ = arch
    builder.__signature__ = common.entry_signature(_video_resnet)
    builder.__doc__ = _DOC.format(title=title)
    builder.ranks = (3,)
    return register_model(builder)


r3d_18 = _entry("r3d_18", "R3D-18: 3x3x3 convolutions throughout")
mc3_18 = _entry("mc3_18", "MC3-18: 3x3x3 in stage 1, spatial-only 1x3x3 after")
r2plus1d_18 = _entry("r2plus1d_18", "R(2+1)D-18: (2+1)D factorized convolutions")
