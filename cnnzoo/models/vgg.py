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


VGG = Family(
    trunk=_trunk,
    head=pooled_dense_head(7, dropout_first=False),
    defaults=dict(norm=None, dropout=0.5),
    docs=dict(width="channel and unit multiplier.", dropout="after each hidden dense layer.",
              features_only='outputs ``{"stage1": ..., "stage5"}`` (after each pool, reductions 2..32).'),
    min_size=MIN_SIZE,
)

vgg11 = VGG.register("vgg11", CONFIGS["vgg11"], title="VGG11 (configuration A)", fixed={"norm": None})
vgg13 = VGG.register("vgg13", CONFIGS["vgg13"], title="VGG13 (configuration B)", fixed={"norm": None})
vgg16 = VGG.register("vgg16", CONFIGS["vgg16"], title="VGG16 (configuration D)", fixed={"norm": None})
vgg19 = VGG.register("vgg19", CONFIGS["vgg19"], title="VGG19 (configuration E)", fixed={"norm": None})
vgg11_bn = VGG.register("vgg11_bn", CONFIGS["vgg11"], title="VGG11 with BatchNorm (conv bias kept)",
                        fixed={"norm": "batch"})
vgg13_bn = VGG.register("vgg13_bn", CONFIGS["vgg13"], title="VGG13 with BatchNorm (conv bias kept)",
                        fixed={"norm": "batch"})
vgg16_bn = VGG.register("vgg16_bn", CONFIGS["vgg16"], title="VGG16 with BatchNorm (conv bias kept)",
                        fixed={"norm": "batch"})
vgg19_bn = VGG.register("vgg19_bn", CONFIGS["vgg19"], title="VGG19 with BatchNorm (conv bias kept)",
                        fixed={"norm": "batch"})
