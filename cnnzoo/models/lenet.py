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
from cnnzoo.layers.pooling import GlobalPooling, Pooling
from cnnzoo.models import common
from cnnzoo.registry import register_model

POOLS = ("max", "avg")
VARIANTS = ("modern", "paper")
_DEFAULT = object()


def _c1_padding(n):
    return "same" if n is not None and n < 32 else "valid"


def _chain(n):
    return [(5, 1, _c1_padding(n), 1), (2, 2, "valid", 1), (5, 1, "valid", 1), (2, 2, "valid", 1)]


MIN_SIZE = common.min_input_size(_chain)
# The paper's C5 is a 5x5 convolution: it needs 5x5 maps after S4.
PAPER_MIN_SIZE = common.min_input_size(lambda n: _chain(n) + [(5, 1, "valid", 1)])


@register_model
def lenet5(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name=None,
    norm=None,
    activation=_DEFAULT,
    width=1.0,
    dropout=0.0,
    features_only=False,
    pool="max",
    variant="modern",
):
    """LeNet-5: C1 6@5x5, pool, C3 16@5x5, pool, F5 120, F6 84, output.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications. Defaults:
            input_shape (32, 32, 1); 28x28 inputs work too (C1 then pads by 2);
            classes 10.
        norm: norm after each convolution, or None. Defaults to `None`.
        activation: Defaults to `"relu"` (`"tanh"` for the paper variant).
        width: channel and unit multiplier. Defaults to `1.0`.
        dropout: dropout before each hidden dense layer. Defaults to `0.0`.
        features_only: return a model whose outputs are the stage outputs
            ``{"stage1", "stage2"}``. Defaults to `False`.
        pool: ``"max"`` or ``"avg"`` subsampling of the modern variant. Defaults to `"max"`.
        variant: ``"modern"`` or ``"paper"``. Defaults to `"modern"`.

    Returns:
        A ``keras.Model``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}. Received: variant={variant!r}")
    if activation is _DEFAULT:
        activation = "tanh" if variant == "paper" else "relu"
    common.check_common_args(
        "lenet5", include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}. Received: pool={pool!r}")
    inputs, x, rank = common.model_input(
        "lenet5", input_shape=input_shape, input_tensor=input_tensor,
        default_shape=(32, 32, 1), min_size=PAPER_MIN_SIZE if variant == "paper" else MIN_SIZE,
    )
    if variant == "paper":
        if width != 1.0:
            raise ValueError(f"variant='paper' has a fixed connection table: width must be 1. Received: width={width!r}")
        return _paper(inputs, x, include_top=include_top, weights=weights, pooling=pooling,
                      classes=classes, classifier_activation=classifier_activation, name=name,
                      norm=norm, activation=activation, dropout=dropout, features_only=features_only)
    c1_padding = "same" if "same" in [_c1_padding(d) for d in x.shape[1:-1]] else "valid"
    features = common.FeatureRecorder()
    unit = dict(norm=norm, activation=activation)
    x = ConvNormAct(common.scaled(6, width), 5, padding=c1_padding, **unit, name="stage1_conv")(x)
    x = Pooling(pool, 2, name="stage1_pool")(x)
    features.add("stage1", x, 2)
    x = ConvNormAct(common.scaled(16, width), 5, padding="valid", **unit, name="stage2_conv")(x)
    x = Pooling(pool, 2, name="stage2_pool")(x)
    features.add("stage2", x, 4)
    if include_top:
        x = common.dense_head(
            x, hidden=[common.scaled(120, width), common.scaled(84, width)], activation=activation,
            dropout=dropout, classes=classes, classifier_activation=classifier_activation,
            dropout_first=True,
        )
    elif pooling is not None:
        x = GlobalPooling(pooling, name="head_pool")(x)
    return common.finish_model(
        inputs, x, features, name=name or "lenet5", weights=weights, features_only=features_only
    )


def _trainable_subsampling(x, activation, name):
    """S2/S4: 2x2 average (the paper's sum, up to the learned coefficient) x coefficient + bias."""
    channels = int(x.shape[-1])
    x = Pooling("avg", 2, name=f"{name}_pool")(x)
    return ConvNormAct(channels, 1, groups=channels, norm=None, use_bias=True,
                       activation=activation, name=f"{name}_subsample")(x)


def _paper(inputs, x, *, include_top, weights, pooling, classes, classifier_activation, name, norm,
           activation, dropout, features_only):
    c1_padding = "same" if "same" in [_c1_padding(d) for d in x.shape[1:-1]] else "valid"
    features = common.FeatureRecorder()
    x = ConvNormAct(6, 5, padding=c1_padding, norm=norm, activation=activation, use_bias=True,
                    name="stage1_conv")(x)
    x = _trainable_subsampling(x, activation, "stage1")
    features.add("stage1", x, 2)
    x = ConnectionTableConv(LENET5_C3_TABLE, 5, name="stage2_conv")(x)
    act = make_activation(activation, name="stage2_act")
    if act is not None:
        x = act(x)
    x = _trainable_subsampling(x, activation, "stage2")
    features.add("stage2", x, 4)
    if include_top:
        x = ConvNormAct(120, 5, padding="valid", norm=None, activation=activation, name="head_conv")(x)
        x = keras.layers.Flatten(name="head_flatten")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        x = keras.layers.Dense(84, activation=activation, name="head_fc1")(x)
        x = RBFOutput(classes, name="head_rbf")(x)
        x = keras.layers.Activation(classifier_activation, name="predictions")(x)
    elif pooling is not None:
        x = GlobalPooling(pooling, name="head_pool")(x)
    return common.finish_model(
        inputs, x, features, name=name or "lenet5", weights=weights, features_only=features_only
    )
