"""LeNet-5.

LeCun, Bottou, Bengio, Haffner 1998, "Gradient-Based Learning Applied to
Document Recognition".

- ``variant="modern"`` (default): the LeNet-5 of textbooks and framework
  tutorials: full C3 connection table, max pooling, ReLU, dense layers
  (61,706 trainable parameters at 32x32x1 and 10 classes).
- ``variant="paper"``: C3's partial connection table (Table I), trainable
  subsampling (2x2 average times a learned per-map coefficient plus bias), C5
  as a 5x5 convolution, and the Euclidean RBF output: 60,840 parameters.
  Known deviation: tanh instead of the paper's scaled ``1.7159 tanh(2x/3)``,
  and the RBF output gives ``-distance`` logits for a softmax and
  cross-entropy rather than the paper's MAP criterion.

A 28x28 MNIST digit is padded by 2 in C1 (``"same"``), which is what LeCun's
centring of the 28x28 digits in a 32x32 field amounts to.
"""

import keras

from cnnzoo.layers.connection_table import LENET5_C3_TABLE, ConnectionTableConv, RBFOutput
from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.normalization import make_activation
from cnnzoo.layers.pooling import Pooling
from cnnzoo.models.builder import Family, dense_head, min_input_size

POOLS = ("max", "avg")
VARIANTS = ("modern", "paper")


class _ByVariant:
    def __repr__(self):
        return "'relu' ('tanh' for the paper variant)"


_BY_VARIANT = _ByVariant()


def _c1_padding(n):
    return "same" if n is not None and n < 32 else "valid"


def _chain(n):
    return [(5, 1, _c1_padding(n), 1), (2, 2, "valid", 1), (5, 1, "valid", 1), (2, 2, "valid", 1)]


MIN_SIZE = min_input_size(_chain)
# The paper's C5 is a 5x5 convolution: it needs 5x5 maps after S4.
PAPER_MIN_SIZE = min_input_size(lambda n: _chain(n) + [(5, 1, "valid", 1)])


def _prepare(arguments):
    if arguments["variant"] not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}. Received: variant={arguments['variant']!r}")
    if arguments["activation"] is _BY_VARIANT:
        arguments["activation"] = "tanh" if arguments["variant"] == "paper" else "relu"
    return arguments


def _check(build):
    if build.options.pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}. Received: pool={build.options.pool!r}")
    if build.options.variant == "paper" and build.args.width != 1.0:
        raise ValueError(
            f"variant='paper' has a fixed connection table: width must be 1. Received: width={build.args.width!r}"
        )


def _trainable_subsampling(x, build, name):
    """S2/S4: 2x2 average (the paper's sum, up to the learned coefficient) x coefficient + bias."""
    activation, channels = build.args.activation, build.channels(x)
    x = Pooling("avg", 2, name=f"{name}_pool")(x)
    return ConvNormAct(channels, 1, groups=channels, norm=None, use_bias=True,
                       activation=activation, name=f"{name}_subsample")(x)


def _trunk(x, build):
    c1_padding = "same" if "same" in [_c1_padding(d) for d in build.spatial_shape(x)] else "valid"
    if build.options.variant == "paper":
        x = ConvNormAct(6, 5, padding=c1_padding, **build.unit, use_bias=True, name="stage1_conv")(x)
        x = _trainable_subsampling(x, build, "stage1")
        build.record("stage1", x, 2)
        x = ConnectionTableConv(LENET5_C3_TABLE, 5, name="stage2_conv")(x)
        act = make_activation(build.args.activation, name="stage2_act")
        x = x if act is None else act(x)
        x = _trainable_subsampling(x, build, "stage2")
        build.record("stage2", x, 4)
        return x
    pool = build.options.pool
    x = ConvNormAct(build.scaled(6), 5, padding=c1_padding, **build.unit, name="stage1_conv")(x)
    x = Pooling(pool, 2, name="stage1_pool")(x)
    build.record("stage1", x, 2)
    x = ConvNormAct(build.scaled(16), 5, padding="valid", **build.unit, name="stage2_conv")(x)
    x = Pooling(pool, 2, name="stage2_pool")(x)
    build.record("stage2", x, 4)
    return x


def _head(x, build):
    args = build.args
    if build.options.variant == "modern":
        return dense_head(x, build, hidden=[build.scaled(120), build.scaled(84)], dropout_first=True)
    x = ConvNormAct(120, 5, padding="valid", norm=None, activation=args.activation, name="head_conv")(x)
    x = keras.layers.Flatten(name="head_flatten")(x)
    if args.dropout:
        x = keras.layers.Dropout(args.dropout, name="head_dropout")(x)
    x = keras.layers.Dense(84, activation=args.activation, name="head_fc1")(x)
    x = RBFOutput(args.classes, name="head_rbf")(x)
    return keras.layers.Activation(args.classifier_activation, name="predictions")(x)


LENET = Family(
    trunk=_trunk,
    head=_head,
    prepare=_prepare,
    check=_check,
    defaults=dict(classes=10, norm=None, activation=_BY_VARIANT),
    options=dict(pool="max", variant="modern"),
    docs=dict(norm="norm after each convolution, or None.", width="channel and unit multiplier.",
              dropout="dropout before each hidden dense layer.",
              features_only='outputs the stage outputs ``{"stage1", "stage2"}``.',
              pool='``"max"`` or ``"avg"`` subsampling of the modern variant.', variant='``"modern"`` or ``"paper"``.'),
    default_shape=(32, 32, 1),
    min_size=lambda spec, options: PAPER_MIN_SIZE if options.variant == "paper" else MIN_SIZE,
    stages=lambda spec, options: ("stage1", "stage2"),
)

@LENET.register()
def lenet5(*args, **kwargs):
    """LeNet-5: C1 6@5x5, pool, C3 16@5x5, pool, F5 120, F6 84, output (28x28 inputs work too: C1 then pads by 2)."""
    return LENET.build("lenet5", args, kwargs)
