"""LeNet-5.

LeCun, Bottou, Bengio, Haffner 1998, "Gradient-Based Learning Applied to
Document Recognition". The default is the modern LeNet-5 of textbooks and
framework tutorials: full C3 connection table, max pooling, ReLU, dense output
(61,706 trainable parameters at 32x32x1 and 10 classes). Deviations from the
paper, documented: the paper's C3 connects each map to a subset of S2's maps,
its subsampling layers are trainable, its output is an RBF layer (60,840
parameters), and it used scaled tanh; ``activation="tanh", pool="avg"`` gives
the classic look without the partial table.

A 28x28 MNIST digit is padded by 2 in C1 (``"same"``), which is what LeCun's
centring of the 28x28 digits in a 32x32 field amounts to.
"""

import keras

from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.pooling import GlobalPooling, Pooling
from cnnzoo.models import common
from cnnzoo.registry import register_model

POOLS = ("max", "avg")


def _c1_padding(n):
    return "same" if n is not None and n < 32 else "valid"


def _chain(n):
    return [(5, 1, _c1_padding(n), 1), (2, 2, "valid", 1), (5, 1, "valid", 1), (2, 2, "valid", 1)]


MIN_SIZE = common.min_input_size(_chain)


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
    activation="relu",
    width=1.0,
    dropout=0.0,
    features_only=False,
    pool="max",
):
    """LeNet-5: C1 6@5x5, pool, C3 16@5x5, pool, F5 120, F6 84, output.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications. Defaults:
            input_shape (32, 32, 1); 28x28 inputs work too (C1 then pads by 2);
            classes 10.
        norm: norm after each convolution, or None. Defaults to `None`.
        activation: Defaults to `"relu"`.
        width: channel and unit multiplier. Defaults to `1.0`.
        dropout: dropout before each hidden dense layer. Defaults to `0.0`.
        features_only: return a model whose outputs are the stage outputs
            ``{"stage1", "stage2"}``. Defaults to `False`.
        pool: ``"max"`` or ``"avg"`` subsampling. Defaults to `"max"`.

    Returns:
        A ``keras.Model``.
    """
    common.check_common_args(
        "lenet5", include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}. Received: pool={pool!r}")
    inputs, x, rank = common.model_input(
        "lenet5", input_shape=input_shape, input_tensor=input_tensor,
        default_shape=(32, 32, 1), min_size=MIN_SIZE,
    )
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
