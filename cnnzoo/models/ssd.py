"""SSD: single-shot detection on the zoo's backbones.

Liu et al. 2016, "SSD: Single Shot MultiBox Detector". A CNN's feature maps at several scales each
get two 3x3 convolutions: one scoring every default box (anchor) of every location for each class,
one regressing the box's offsets. Post-processing (`cnnzoo.detection.postprocess`) decodes the boxes,
keeps the likely ones per class and removes overlaps by non-maximum suppression.

``ssd300_vgg16`` is torchvision's ``ssd300_vgg16``, built from VGG16's own spec row (`vgg.CONFIGS`):
VGG16's convolutions with pool3 in ceil mode; conv4_3 L2-normalized with a learnt scale (a detection
level); pool5 as 3x3 / 1 with padding 1; fc6 as a 3x3 convolution dilated 6 and fc7 as a 1x1 (a
level); four extra blocks (1x1 then 3x3, two of stride 2), each a level; the heads and torchvision's
default boxes (`anchors.SSD300`). The network outputs ``(batch, 8732, 4 + classes)``: box codes then
class logits (background first), the raw head outputs training reads.

`ssd` puts the same head on any cnnzoo backbone's ``features_only`` maps (and extra blocks below its
last stage), and `detection_head` is that head alone, for a network of your own.
"""

import keras

from cnnzoo import registry
from cnnzoo.detection.anchors import SSD300, DefaultBoxes
from cnnzoo.detection.layers import DetectionOutputs, L2Normalization
from cnnzoo.layers.conv_norm_act import ConvNormAct, check_data_format, spatial_dims
from cnnzoo.layers.pooling import Pooling
from cnnzoo.models import vgg
from cnnzoo.models.builder import Family, layout, min_input_size, scaled

# The extra blocks below fc7: (1x1 channels, 3x3 channels, stride, padding) (torchvision's SSD300).
SSD300_EXTRAS = ((256, 512, 2, 1), (128, 256, 2, 1), (128, 256, 1, "valid"), (128, 256, 1, "valid"))
_XAVIER = "glorot_uniform"  # torchvision's xavier_uniform_ for the SSD layers (fc6, fc7, extras, heads)


def _geometry(n):
    pools = [(2, 2, "valid", 1), (2, 2, "valid", 1), (2, 2, "valid", 1, True), (2, 2, "valid", 1), (3, 1, (1, 1), 1)]
    extras = [(3, s, (p, p) if isinstance(p, int) else p, 1) for _, _, s, p in SSD300_EXTRAS]
    return pools + extras


def detection_head(features, classes, default_boxes=None, *, image_size, **postprocess):
    """SSD's head on feature maps: per level, a 3x3 box convolution and a 3x3 class convolution.

    Args:
        features: the feature maps (Keras tensors ``(batch, H, W, C)``, or ``(batch, C, H, W)`` where
            ``keras.config.image_data_format()`` says channels first), finest first.
        classes: the classes, background (index 0) included.
        default_boxes: a `DefaultBoxes` with one level per feature map. Defaults to SSD's layout for
            that many levels: aspect ratios 2 and 3 on the middle levels, 2 on the first and last two,
            scales spread from 0.15 to 0.9 of the image (torchvision's defaults).
        image_size: ``(height, width)`` of the network's input.
        **postprocess: `DetectionOutputs`' post-processing defaults (``score_threshold``...).

    Returns:
        ``(batch, anchors, 4 + classes)``: box codes, then class logits.
    """
    features = list(features)
    if default_boxes is None:
        levels = len(features)
        default_boxes = DefaultBoxes(tuple((2,) if k == 0 or k >= levels - 2 else (2, 3) for k in range(levels)))
    if default_boxes.levels != len(features):
        raise ValueError(f"default_boxes has {default_boxes.levels} levels for {len(features)} feature maps")
    box_maps, class_maps = [], []
    for level, (x, per) in enumerate(zip(features, default_boxes.per_location()), start=1):
        box_maps.append(keras.layers.Conv2D(4 * per, 3, padding="same", kernel_initializer=_XAVIER,
                                            name=f"head_level{level}_boxes")(x))
        class_maps.append(keras.layers.Conv2D(classes * per, 3, padding="same", kernel_initializer=_XAVIER,
                                              name=f"head_level{level}_predictions")(x))
    return DetectionOutputs(classes, image_size, default_boxes, name="predictions", **postprocess)(
        box_maps + class_maps)


def _extra_block(x, build, index, mid, out, stride, padding):
    unit = dict(build.unit, use_bias=True, kernel_initializer=_XAVIER)
    x = ConvNormAct(build.scaled(mid), 1, padding="valid", name=f"stage{index}_conv1", **unit)(x)
    return ConvNormAct(build.scaled(out), 3, strides=stride, padding=padding, name=f"stage{index}_conv2", **unit)(x)


def _vgg_trunk(x, build):
    build.image_size = tuple(int(d) for d in build.spatial_shape(x))
    for s, stage in enumerate(build.spec, start=1):
        for c, filters in enumerate(stage, start=1):
            x = ConvNormAct(build.scaled(filters), 3, padding="same", **build.unit, use_bias=True,
                            name=f"stage{s}_conv{c}")(x)
        if s == 4:
            build.record("stage4", L2Normalization(20.0, axis=build.channel_axis, name="stage4_l2norm")(x), 8)
        if s < 5:  # pool3 rounds up (38x38 conv4_3 maps at 300x300); pool5 becomes 3x3 / 1
            x = Pooling("max", 2, ceil_mode=s == 3, name=f"stage{s}_pool")(x)
        else:
            x = Pooling("max", 3, strides=1, padding=1, name="stage5_pool")(x)
    unit = dict(build.unit, use_bias=True, kernel_initializer=_XAVIER)
    x = ConvNormAct(build.scaled(1024), 3, padding=6, dilation_rate=6, name="stage6_conv1", **unit)(x)  # fc6
    x = ConvNormAct(build.scaled(1024), 1, padding="valid", name="stage6_conv2", **unit)(x)  # fc7
    build.record("stage6", x, 16)
    for index, (mid, out, stride, padding) in enumerate(SSD300_EXTRAS, start=7):
        x = _extra_block(x, build, index, mid, out, stride, padding)
        build.record(f"stage{index}", x, build.feature_info[-1].reduction * stride)
    return x


def _head(x, build):
    del x
    return detection_head(list(build.outputs.values()), build.args.classes, SSD300, image_size=build.image_size)


def _check(build):
    args = build.args
    if args.features_only or not args.include_top:
        what = "features_only=True" if args.features_only else "include_top=False"
        raise ValueError(f"{build.model_name} is a detector: {what} has no meaning for it. For VGG16's feature "
                         f"maps build cnnzoo.vgg16(features_only=True). Received: {what}")
    if args.pooling is not None or args.classifier_activation is not None:
        raise ValueError(f"{build.model_name} outputs box codes and class logits; post-processing applies the "
                         "softmax (cnnzoo.detect). Leave pooling and classifier_activation at None. Received: "
                         f"pooling={args.pooling!r}, classifier_activation={args.classifier_activation!r}")
    if args.classes < 2:
        raise ValueError(f"classes counts the background (index 0) too, so it must be at least 2. "
                         f"Received: classes={args.classes}")


def _torchvision_rules(model_name, spec):
    """torchvision's ``backbone.*`` / ``head.*`` paths -> this family's layer paths."""
    rules, index = [], 0
    for s, stage in enumerate(spec[:4], start=1):  # backbone.features: conv, relu per layer, a pool per stage
        for c in range(1, len(stage) + 1):
            rules.append((rf"backbone\.features\.{index}", lambda m, p=f"stage{s}_conv{c}/conv": p))
            index += 2
        index += 1
    rules += [
        # a whole tensor: the learnt L2 scale lives on the extractor itself
        (r"backbone\.scale_weight", lambda m: "stage4_l2norm/scale"),
        (r"backbone\.extra\.0\.([135])", lambda m: f"stage5_conv{(int(m[1]) + 1) // 2}/conv"),
        (r"backbone\.extra\.0\.7\.([13])", lambda m: f"stage6_conv{(int(m[1]) + 1) // 2}/conv"),
        (r"backbone\.extra\.([1-4])\.([02])", lambda m: f"stage{int(m[1]) + 6}_conv{int(m[2]) // 2 + 1}/conv"),
        (r"head\.regression_head\.module_list\.(\d+)", lambda m: f"head_level{int(m[1]) + 1}_boxes"),
        (r"head\.classification_head\.module_list\.(\d+)", lambda m: f"head_level{int(m[1]) + 1}_predictions"),
    ]
    return rules


SSD_VGG = Family(
    trunk=_vgg_trunk,
    head=_head,
    defaults=dict(norm=None, classes=91, classifier_activation=None),
    docs=dict(classes="the classes, background (index 0) included: COCO's 91 by default.",
              width="channel multiplier of the backbone and the extra blocks.",
              dropout="unused.", features_only="not available: a detector outputs boxes."),
    check=_check,
    default_shape=(300, 300, 3),
    min_size=min_input_size(_geometry),
    ranks=(2,),
    rank_error="a 2D detector: input_shape must be (H, W, C), or (C, H, W) channels first",
    specs={"ssd300_vgg16": vgg.CONFIGS["vgg16"]},
    stages=lambda spec, options: tuple(f"stage{s}" for s in range(1, 11)),
    torchvision_rules=_torchvision_rules,
    task="detection",
)


@SSD_VGG.register()
def ssd300_vgg16(*args, **kwargs):
    """SSD300 with a VGG16 backbone (torchvision's ``ssd300_vgg16``)."""
    return SSD_VGG.build("ssd300_vgg16", args, kwargs)


def ssd(backbone="resnet18", classes=91, input_shape=None, *, levels=3, extra_levels=2,
        default_boxes=None, backbone_weights=None, extra_width=256, name=None, data_format=None, **backbone_kwargs):
    """An SSD detector on any cnnzoo backbone: its last ``levels`` stages, ``extra_levels`` extra blocks.

    Args:
        backbone: a registered model name (``"resnet18"``, ``"vgg16"``...).
        classes: the classes, background (index 0) included. Defaults to `91` (COCO's).
        input_shape: ``(H, W, C)`` (``(C, H, W)`` channels first), fixed (the anchors are laid out for it).
            Defaults to `None`: 300x300x3 in the model's layout.
        levels: how many of the backbone's last stages get a head. Defaults to `3`.
        extra_levels: extra blocks below the last stage (1x1 then 3x3 / 2), each a level. Defaults to `2`.
        default_boxes: a `DefaultBoxes` with ``levels + extra_levels`` levels. Defaults to
            `detection_head`'s layout.
        backbone_weights: the backbone's ``weights=`` (``"imagenet"``...). Defaults to `None`.
        extra_width: the channels of the extra blocks' 3x3 convolutions (their 1x1s have half).
            Defaults to `256`.
        name: the model's name. Defaults to ``"ssd_<backbone>"``.
        data_format: ``"channels_last"`` or ``"channels_first"``; None follows
            ``keras.config.image_data_format()``.
        **backbone_kwargs: more arguments of the backbone's builder (``width``, ``norm``...).

    Returns:
        A ``keras.Model`` outputting ``(batch, anchors, 4 + classes)``.
    """
    if not isinstance(backbone, str) or backbone not in registry.list_models():
        raise ValueError(f"backbone must be a registered model name (cnnzoo.list_models()). "
                         f"Received: backbone={backbone!r}")
    for key in ("features_only", "include_top", "weights", "input_shape", "classes"):
        if key in backbone_kwargs:
            raise ValueError(f"ssd() sets the backbone's {key} itself. Received: {key}={backbone_kwargs[key]!r}")
    data_format = check_data_format(data_format)
    first = data_format == "channels_first"
    if input_shape is None:
        input_shape = (3, 300, 300) if first else (300, 300, 3)
    base = registry.get_model(backbone, features_only=True, input_shape=input_shape, weights=backbone_weights,
                              data_format=data_format, **backbone_kwargs)
    recorded = base.output  # {stage name: map}; Keras orders a dict's outputs by key, so take feature_info's order
    maps = [recorded[f.name] for f in base.feature_info] if isinstance(recorded, dict) else list(base.outputs)
    for arg, value, top in (("levels", levels, len(maps)), ("extra_levels", extra_levels, None)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if arg == "levels" else 0) or (
                top is not None and value > top):
            raise ValueError(f"{arg} must be an int in [{1 if arg == 'levels' else 0}, {top or 'any'}] "
                             f"({backbone} records {len(maps)} stages). Received: {arg}={value!r}")
    features = maps[-levels:]
    x = features[-1]
    unit = dict(norm=backbone_kwargs.get("norm", "batch"), activation="relu", kernel_initializer=_XAVIER)
    first_extra = len(base.feature_info) + 1
    with layout(data_format):
        for i in range(extra_levels):
            last = spatial_dims(x.shape, data_format)
            if min(int(d) for d in last) < 2:
                raise ValueError(f"{backbone}'s last map is {last} at input_shape={tuple(input_shape)}: "
                                 f"too small for {extra_levels} extra levels. Give a larger input or fewer "
                                 "extra_levels")
            x = ConvNormAct(scaled(extra_width // 2, 1), 1, name=f"stage{first_extra + i}_conv1", **unit)(x)
            x = ConvNormAct(extra_width, 3, strides=2, padding=1, name=f"stage{first_extra + i}_conv2", **unit)(x)
            features.append(x)
        image_size = tuple(int(d) for d in (input_shape[1:3] if first else input_shape[:2]))
        outputs = detection_head(features, classes, default_boxes, image_size=image_size)
    return keras.Model(base.inputs, outputs, name=name or f"ssd_{backbone}")
