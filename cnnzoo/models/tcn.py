"""Temporal convolutional network (TCN) for sequences.

Bai, Kolter, Koltun 2018, "An Empirical Evaluation of Generic Convolutional and
Recurrent Networks for Sequence Modeling": residual blocks of two dilated causal
convolutions, dilations 1, 2, 4, ..., a 1x1 projection where the channels
change; the classifier reads the last time step, which has seen the whole
sequence. The receptive field is ``k + 2 (k - 1) (2^levels - 1)``: 3,067 steps
for the defaults, more than sequential MNIST's 784. Deviation: LayerNorm over
channels at each step (causal) instead of the paper's weight normalization.
The blocks are cnnzoo's `BasicBlock` with ``causal=True``. 1D only.
"""

import keras

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.pooling import LastTimeStep
from cnnzoo.layers.rank import positive_int
from cnnzoo.layers.residual import BasicBlock
from cnnzoo.models.builder import Family


def _check(build):
    for arg in ("levels", "channels", "kernel_size"):
        positive_int(getattr(build.options, arg), arg)


def _trunk(x, build):
    o = build.options
    channels = build.scaled(o.channels)
    x = ConvNormAct(channels, o.kernel_size, padding="causal", **build.unit, name="stem_conv")(x)
    build.record("stem", x, 1)
    for level in range(1, o.levels + 1):
        x = BasicBlock(channels, kernel_size=o.kernel_size, dilation_rate=2 ** (level - 1), causal=True,
                       **build.unit, name=f"level{level}_block")(x)
        build.record(f"level{level}", x, 1)
    return x


def _head(x, build):
    x = LastTimeStep(name="head_last_step")(x)
    if build.args.dropout:
        x = keras.layers.Dropout(build.args.dropout, name="head_dropout")(x)
    return keras.layers.Dense(build.args.classes, activation=build.args.classifier_activation, name="predictions")(x)


TCN = Family(
    trunk=_trunk,
    head=_head,
    check=_check,
    defaults=dict(classes=10, norm="layer"),
    options=dict(levels=8, channels=25, kernel_size=7),
    docs=dict(norm="(causal LayerNorm by default).", features_only='outputs ``{"stem", "level1", ...}``.',
              levels="the paper's depth (8 for sequential MNIST).", channels="channels of every level.",
              kernel_size="the causal convolutions' kernel."),
    default_shape=(784, 1),
    ranks=(1,),
    rank_error="a sequence network: input_shape must be (length, channels)",
    stages=lambda spec, options: ("stem", *(f"level{i}" for i in range(1, options.levels + 1))),
)

@TCN.register()
def tcn(*args, **kwargs):
    """A TCN: ``levels`` causal residual blocks of ``channels`` channels, dilations 2^i."""
    return TCN.build("tcn", args, kwargs)
