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
from cnnzoo.layers.pooling import GlobalPooling, LastTimeStep
from cnnzoo.layers.rank import positive_int
from cnnzoo.layers.residual import BasicBlock
from cnnzoo.models import common
from cnnzoo.registry import register_model


@register_model
def tcn(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
        classifier_activation="softmax", name=None, norm="layer", activation="relu", width=1.0, dropout=0.0,
        features_only=False, levels=8, channels=25, kernel_size=7):
    """A TCN: ``levels`` causal residual blocks of ``channels`` channels, dilations 2^i.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications. Defaults:
            input_shape (784, 1) (sequential MNIST), classes 10.
        norm: Defaults to `"layer"` (causal). activation: Defaults to `"relu"`.
        width: channel multiplier. dropout: before the classifier.
        features_only: outputs ``{"stem", "level1", ...}``.
        levels, channels, kernel_size: the paper's depth, width and kernel (8, 25, 7 for
            sequential MNIST).
    """
    common.check_common_args(
        "tcn", include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, width=width, dropout=dropout, norm=norm,
        activation=activation, features_only=features_only,
    )
    for value, arg in ((levels, "levels"), (channels, "channels"), (kernel_size, "kernel_size")):
        positive_int(value, arg)
    inputs, x, rank = common.model_input("tcn", input_shape=input_shape, input_tensor=input_tensor,
                                         default_shape=(784, 1), min_size=1)
    if rank != 1:
        raise ValueError(f"tcn is a sequence network: input_shape must be (length, channels). "
                         f"Received: input_shape={tuple(x.shape[1:])}")
    width_c = common.scaled(channels, width)
    features = common.FeatureRecorder()
    x = ConvNormAct(width_c, kernel_size, padding="causal", norm=norm, activation=activation, name="stem_conv")(x)
    features.add("stem", x, 1)
    for level in range(1, levels + 1):
        x = BasicBlock(width_c, kernel_size=kernel_size, dilation_rate=2 ** (level - 1), causal=True, norm=norm,
                       activation=activation, name=f"level{level}_block")(x)
        features.add(f"level{level}", x, 1)
    if include_top:
        x = LastTimeStep(name="head_last_step")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling is not None:
        x = GlobalPooling(pooling, name="head_pool")(x)
    return common.finish_model(inputs, x, features, name=name or "tcn", weights=weights,
                               features_only=features_only)


tcn.ranks = (1,)
