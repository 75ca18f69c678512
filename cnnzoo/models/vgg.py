"""VGG.

Simonyan, Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale
Image Recognition". Configurations A, B, D and E as ``vgg11``, ``vgg13``,
``vgg16``, ``vgg19``; the ``_bn`` variants add BatchNorm after every
convolution and keep the convolution bias, as torchvision does. The head is
torchvision's: a 7x7 adaptive average pool (identity at 224x224, so other
sizes work), then 4096-4096 with dropout.
"""

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.pooling import AdaptivePooling, GlobalPooling, Pooling
from cnnzoo.models import common
from cnnzoo.registry import register_model

# Channels of the 3x3 convolutions of each of the five stages; a 2x2 max pool ends each.
CONFIGS = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}

MIN_SIZE = common.min_input_size(lambda n: [(2, 2, "valid", 1)] * 5)


def _vgg(
    config,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    norm=None,
    activation="relu",
    width=1.0,
    dropout=0.5,
    features_only=False,
):
    """The generic VGG builder; see `vgg16` for the arguments."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {tuple(CONFIGS)}. Received: config={config!r}")
    common.check_common_args(
        config, include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    inputs, x, rank = common.model_input(
        config, input_shape=input_shape, input_tensor=input_tensor,
        default_shape=(224, 224, 3), min_size=MIN_SIZE,
    )
    features = common.FeatureRecorder()
    for s, stage in enumerate(CONFIGS[config], start=1):
        for c, filters in enumerate(stage, start=1):
            x = ConvNormAct(
                common.scaled(filters, width), 3, padding="same", norm=norm, activation=activation,
                use_bias=True, name=f"stage{s}_conv{c}",
            )(x)
        x = Pooling("max", 2, name=f"stage{s}_pool")(x)
        features.add(f"stage{s}", x, 2**s)
    if include_top:
        x = AdaptivePooling(7, name="head_adaptive_pool")(x)
        x = common.dense_head(
            x, hidden=[common.scaled(4096, width)] * 2, activation=activation, dropout=dropout,
            classes=classes, classifier_activation=classifier_activation, dropout_first=False,
        )
    elif pooling is not None:
        x = GlobalPooling(pooling, name="head_pool")(x)
    suffix = "_bn" if norm == "batch" else ""
    return common.finish_model(
        inputs, x, features, name=name or config + suffix, weights=weights,
        features_only=features_only,
    )


_DOC = """{title}.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications.
            input_shape defaults to (224, 224, 3).
        norm: {norm}
        activation: Defaults to `"relu"`.
        width: channel and unit multiplier. Defaults to `1.0`.
        dropout: dropout after each hidden dense layer. Defaults to `0.5`.
        features_only: outputs ``{{"stage1": ..., "stage5"}}`` (after each pool,
            reductions 2..32). Defaults to `False`.

    Returns:
        A ``keras.Model``.
    """


def _entry(config, bn):
    fixed = {"norm": "batch" if bn else None}
    model_name = config + ("_bn" if bn else "")

    def builder(**kwargs):
        return _vgg(config, **common.overwrite_fixed(kwargs, fixed, model_name))

    builder.__name__ = builder.__qualname__ = model_name
    builder.__signature__ = common.entry_signature(_vgg, fixed)
    builder.__doc__ = _DOC.format(
        title=f"{config.upper()}{' with BatchNorm' if bn else ''} (conv bias kept)",
        norm="fixed to 'batch' (see the plain variant for none)." if bn
        else "fixed to None (see the _bn variant).",
    )
    return register_model(builder)


vgg11 = _entry("vgg11", bn=False)
vgg13 = _entry("vgg13", bn=False)
vgg16 = _entry("vgg16", bn=False)
vgg19 = _entry("vgg19", bn=False)
vgg11_bn = _entry("vgg11", bn=True)
vgg13_bn = _entry("vgg13", bn=True)
vgg16_bn = _entry("vgg16", bn=True)
vgg19_bn = _entry("vgg19", bn=True)
