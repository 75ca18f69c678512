"""AlexNet.

Krizhevsky, Sutskever, Hinton 2012, "ImageNet Classification with Deep
Convolutional Neural Networks".

- ``variant="torchvision"`` (default): 64-192-384-256-256, the single-tower
  network torchvision ships (after Krizhevsky 2014, "One weird trick"),
  61,100,840 parameters.
- ``variant="paper"``: 96-256-384-384-256 with the two-GPU towers expressed as
  ``groups=2`` on conv2/4/5 and local response normalization after conv1 and
  conv2, 60,965,224 parameters. Input 224 with conv1 padding 2 gives the
  paper's 55x55 first maps (the paper's "224" only works out as 227 unpadded).

Both end in a 6x6 adaptive average pool (torchvision) so other input sizes work.
"""

import typing

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.normalization import LocalResponseNormalization
from cnnzoo.layers.pooling import Pooling
from cnnzoo.models.builder import Family, min_input_size, pooled_dense_head
from cnnzoo.weights.torchvision import indexed_rules


class Conv(typing.NamedTuple):
    """One convolution of the table: channels, kernel, stride, padding, groups (the paper's two towers)."""
    filters: int
    kernel_size: int
    strides: int
    padding: int
    groups: int = 1


class AlexNetSpec(typing.NamedTuple):
    """A variant: its stages of convolutions and whether LRN follows the first two."""
    stages: tuple  # tuple of stages, each a tuple of Conv; a 3x3/2 max pool ends each
    lrn: bool  # LRN after the first conv of stages 1 and 2


VARIANTS = {
    "torchvision": AlexNetSpec(
        stages=(
            (Conv(64, 11, 4, 2),),
            (Conv(192, 5, 1, 2),),
            (Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), Conv(256, 3, 1, 1)),
        ),
        lrn=False,
    ),
    "paper": AlexNetSpec(
        stages=(
            (Conv(96, 11, 4, 2),),
            (Conv(256, 5, 1, 2, groups=2),),
            (Conv(384, 3, 1, 1), Conv(384, 3, 1, 1, groups=2), Conv(256, 3, 1, 1, groups=2)),
        ),
        lrn=True,
    ),
}


def _chain(_):
    steps = []
    for stage in VARIANTS["torchvision"].stages:
        steps += [(c.kernel_size, c.strides, (c.padding, c.padding), 1) for c in stage]
        steps.append((3, 2, "valid", 1))
    return steps


MIN_SIZE = min_input_size(_chain)


def _check(build):
    if build.options.variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}. Received: variant={build.options.variant!r}")


def _trunk(x, build):
    spec = VARIANTS[build.options.variant]
    reduction = 1
    # every width divisible by the largest group count: a grouped conv's input is the previous conv's output
    divisor = max(conv.groups for stage in spec.stages for conv in stage)
    for s, stage in enumerate(spec.stages, start=1):
        for c, conv in enumerate(stage, start=1):
            x = ConvNormAct(
                build.scaled(conv.filters, divisor), conv.kernel_size, strides=conv.strides, padding=conv.padding,
                groups=conv.groups, **build.unit, name=f"stage{s}_conv{c}" if len(stage) > 1 else f"stage{s}_conv",
            )(x)
            reduction *= conv.strides
            if spec.lrn and s <= 2 and c == 1:
                x = LocalResponseNormalization(name=f"stage{s}_lrn")(x)
        x = Pooling("max", 3, strides=2, name=f"stage{s}_pool")(x)
        reduction *= 2
        build.record(f"stage{s}", x, reduction)
    return x


def _torchvision_rules(model_name, spec):
    """torchvision's single-tower ``features.N`` / ``classifier.N`` -> this family's layer paths."""
    features = {0: "stage1_conv/conv", 3: "stage2_conv/conv", 6: "stage3_conv1/conv", 8: "stage3_conv2/conv",
                10: "stage3_conv3/conv"}
    return indexed_rules(features, {1: "head_fc1", 4: "head_fc2", 6: "predictions"})


ALEXNET = Family(
    trunk=_trunk,
    head=pooled_dense_head(6, dropout_first=True),
    check=_check,
    defaults=dict(norm=None, dropout=0.5),
    options=dict(variant="torchvision"),
    docs=dict(norm="norm after each convolution (None in both originals).", width="channel and unit multiplier.",
              dropout="before each hidden dense layer.",
              features_only='outputs ``{"stage1", "stage2", "stage3"}`` (after each max pool).',
              variant='``"torchvision"`` or ``"paper"``.'),
    min_size=MIN_SIZE,
    stages=lambda spec, options: ("stage1", "stage2", "stage3"),
    torchvision_rules=_torchvision_rules,
    pretrained_free=(),  # variant="paper" is another network: the weights are the torchvision tower's
)


@ALEXNET.register()
def alexnet(*args, **kwargs):
    """AlexNet, torchvision's single tower or the 2012 paper's two towers."""
    return ALEXNET.build("alexnet", args, kwargs)
