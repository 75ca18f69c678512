"""VGG.

Simonyan, Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale
Image Recognition". Configurations A, B, D and E as ``vgg11``, ``vgg13``,
``vgg16``, ``vgg19``; the ``_bn`` variants add BatchNorm after every
convolution and keep the convolution bias, as torchvision does. The head is
torchvision's: a 7x7 adaptive average pool (identity at 224x224, so other
sizes work), then 4096-4096 with dropout.
"""

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.pooling import Pooling
from cnnzoo.models.builder import Family, min_input_size, pooled_dense_head
from cnnzoo.weights.torchvision import indexed_rules

# Channels of the 3x3 convolutions of each of the five stages; a 2x2 max pool ends each.
CONFIGS = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}
MIN_SIZE = min_input_size(lambda n: [(2, 2, "valid", 1)] * 5)


def _trunk(x, build):
    for s, stage in enumerate(build.spec, start=1):
        for c, filters in enumerate(stage, start=1):
            x = ConvNormAct(build.scaled(filters), 3, padding="same", **build.unit, use_bias=True,
                            name=f"stage{s}_conv{c}")(x)
        x = Pooling("max", 2, name=f"stage{s}_pool")(x)
        build.record(f"stage{s}", x, 2**s)
    return x


def _torchvision_rules(model_name, spec):
    """torchvision's ``features.N`` / ``classifier.N`` indices -> this family's layer paths."""
    bn = model_name.endswith("_bn")
    features, index = {}, 0
    for s, stage in enumerate(spec, start=1):
        for c in range(1, len(stage) + 1):
            features[index] = f"stage{s}_conv{c}/conv"
            if bn:
                features[index + 1] = f"stage{s}_conv{c}/norm"
            index += 3 if bn else 2  # conv, [bn,] relu
        index += 1  # max pool
    return indexed_rules(features, {0: "head_fc1", 3: "head_fc2", 6: "predictions"})


VGG = Family(
    trunk=_trunk,
    head=pooled_dense_head(7, dropout_first=False),
    defaults=dict(norm=None, dropout=0.5),
    docs=dict(width="channel and unit multiplier.", dropout="after each hidden dense layer.",
              features_only='outputs ``{"stage1": ..., "stage5"}`` (after each pool, reductions 2..32).'),
    min_size=MIN_SIZE,
    specs=CONFIGS,
    stages=lambda spec, options: tuple(f"stage{s}" for s in range(1, len(spec) + 1)),
    torchvision_rules=_torchvision_rules,
)
_PLAIN, _BN = dict(fixed={"norm": None}), dict(fixed={"norm": "batch"})


@VGG.register(**_PLAIN)
def vgg11(*args, **kwargs):
    """VGG11 (configuration A)."""
    return VGG.build("vgg11", args, kwargs)


@VGG.register(**_PLAIN)
def vgg13(*args, **kwargs):
    """VGG13 (configuration B)."""
    return VGG.build("vgg13", args, kwargs)


@VGG.register(**_PLAIN)
def vgg16(*args, **kwargs):
    """VGG16 (configuration D)."""
    return VGG.build("vgg16", args, kwargs)


@VGG.register(**_PLAIN)
def vgg19(*args, **kwargs):
    """VGG19 (configuration E)."""
    return VGG.build("vgg19", args, kwargs)


@VGG.register(CONFIGS["vgg11"], **_BN)
def vgg11_bn(*args, **kwargs):
    """VGG11 with BatchNorm (conv bias kept)."""
    return VGG.build("vgg11_bn", args, kwargs)


@VGG.register(CONFIGS["vgg13"], **_BN)
def vgg13_bn(*args, **kwargs):
    """VGG13 with BatchNorm (conv bias kept)."""
    return VGG.build("vgg13_bn", args, kwargs)


@VGG.register(CONFIGS["vgg16"], **_BN)
def vgg16_bn(*args, **kwargs):
    """VGG16 with BatchNorm (conv bias kept)."""
    return VGG.build("vgg16_bn", args, kwargs)


@VGG.register(CONFIGS["vgg19"], **_BN)
def vgg19_bn(*args, **kwargs):
    """VGG19 with BatchNorm (conv bias kept)."""
    return VGG.build("vgg19_bn", args, kwargs)
