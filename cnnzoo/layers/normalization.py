"""Normalization and activation factories, and local response normalization.

Every block asks :func:`make_norm` and :func:`make_activation` for its layers,
so the BatchNorm momentum and epsilon defaults live here and nowhere else
(a block takes ``norm_epsilon`` / ``norm_momentum`` when a model needs others).
"""

import itertools
import math

import keras
from keras import ops

from cnnzoo import backends

# PyTorch's defaults (momentum 0.1 there is 1 - 0.9 here, eps 1e-5): the
# reference parameter counts and published recipes come from that world.
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5
LAYER_NORM_EPSILON = 1e-6
GROUP_NORM_GROUPS = 32

NORMS = ("batch", "layer", "group")


def check_norm(norm, name="norm"):
    """Returns ``norm`` if it is one of ``NORMS`` or None, else raises."""
    if norm is None:
        return None
    if not isinstance(norm, str) or norm.lower() not in NORMS:
        raise ValueError(
            f"{name} must be one of {NORMS} or None. Received: {name}={norm!r}"
        )
    return norm.lower()


def check_norm_settings(epsilon, momentum):
    """Validates a block's ``norm_epsilon`` / ``norm_momentum`` (None: this module's defaults)."""
    if epsilon is not None and (isinstance(epsilon, bool) or not isinstance(epsilon, (int, float))
                                or not 0 < epsilon < 1):
        raise ValueError(f"norm_epsilon must be a number in (0, 1) or None. Received: norm_epsilon={epsilon!r}")
    if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                 or not 0 <= momentum < 1):
        raise ValueError(f"norm_momentum must be a number in [0, 1) or None. Received: norm_momentum={momentum!r}")
    return (None if epsilon is None else float(epsilon)), (None if momentum is None else float(momentum))


def make_norm(norm, channels, axis=-1, name=None, gamma_initializer="ones", dtype=None, epsilon=None,
              momentum=None):
    """A normalization layer over the channel axis.

    Args:
        norm: ``"batch"``, ``"layer"`` (over channels at every position, as
            ConvNeXt's LayerNorm2d) or ``"group"`` (32 groups, or the largest
            divisor of ``channels`` below that).
        channels: number of channels normalized.
        axis: the channel axis. Defaults to `-1`.
        name: layer name.
        gamma_initializer: initializer of the scale. Defaults to `"ones"`.
        dtype: layer dtype policy. Defaults to `None`.
        epsilon: the norm's epsilon; None takes `BATCH_NORM_EPSILON` (batch)
            or `LAYER_NORM_EPSILON` (layer, group). A model that needs another
            (torchvision's GoogLeNet: 1e-3) passes it to its blocks.
            Defaults to `None`.
        momentum: batch norm's moving-average momentum; None takes
            `BATCH_NORM_MOMENTUM`. Defaults to `None`.

    Returns:
        A Keras layer.
    """
    norm = check_norm(norm)
    epsilon, momentum = check_norm_settings(epsilon, momentum)
    if norm == "batch":
        return BatchNormalization(
            axis=axis,
            momentum=BATCH_NORM_MOMENTUM if momentum is None else momentum,
            epsilon=BATCH_NORM_EPSILON if epsilon is None else epsilon,
            gamma_initializer=gamma_initializer,
            name=name,
            dtype=dtype,
        )
    if norm == "layer":
        return LayerNormalization(
            axis=axis,
            epsilon=LAYER_NORM_EPSILON if epsilon is None else epsilon,
            gamma_initializer=gamma_initializer,
            name=name,
            dtype=dtype,
        )
    return keras.layers.GroupNormalization(
        groups=math.gcd(GROUP_NORM_GROUPS, channels),
        axis=axis,
        epsilon=LAYER_NORM_EPSILON if epsilon is None else epsilon,
        gamma_initializer=gamma_initializer,
        name=name,
        dtype=dtype,
    )


@keras.saving.register_keras_serializable(package="cnnzoo")
class LayerNormalization(keras.layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` over one channel axis anywhere, on every backend.

    Keras 3.15 on PyTorch hands a single axis that is not the last to ``torch.nn.functional.layer_norm``, which
    normalizes the last axes only, and fails (a channels-first TCN's ``(batch, channels, length)``). Here the channel
    axis is moved last around Keras's own computation.
    """

    def call(self, inputs):
        axes = [a % len(inputs.shape) for a in (self.axis if isinstance(self.axis, (list, tuple)) else [self.axis])]
        if axes == [len(inputs.shape) - 1] or len(axes) != 1:
            return super().call(inputs)
        moved = ops.moveaxis(inputs, axes[0], -1)
        outputs = ops.layer_normalization(moved, self.gamma, self.beta, -1, self.epsilon)
        return ops.cast(ops.moveaxis(outputs, -1, axes[0]), self.compute_dtype)


@keras.saving.register_keras_serializable(package="cnnzoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training step uses the backend's fused kernel, if it has one.

    Keras 3 computes batch norm from separate ops; on TensorFlow a training
    step of ResNet-50 spent 30% of its time there. Where `cnnzoo.backends` has
    a fused kernel (TensorFlow's), training-mode calls use it: the same
    outputs, batch statistics and moving averages, within float rounding
    (tests/test_layers.py compares them). Everything else (inference, masks,
    renorm, synchronized statistics, other backends) is Keras's own code.
    """

    def call(self, inputs, training=None, mask=None):
        if mask is None and training and self.trainable:
            outputs = batch_norm_training([self], inputs)
            if outputs is not None:
                return outputs
        return super().call(inputs, training=training, mask=mask)


def _side_by_side(layers, inputs):
    """True where ``layers`` can normalize channels-last ``inputs`` as one: cnnzoo batch norms over the last axis,
    one setting each (epsilon, momentum, scale, center, trainable, dtype policy), none of Keras's special cases, and
    channels adding up to the input's.
    """
    first, rank = layers[0], len(inputs.shape)
    return (all(isinstance(layer, BatchNormalization) for layer in layers)
            and all(layer.axis in (-1, rank - 1) and not layer.renorm and not layer.synchronized
                    and (layer.epsilon, layer.momentum, layer.scale, layer.center, layer.trainable)
                    == (first.epsilon, first.momentum, first.scale, first.center, first.trainable)
                    and layer.dtype_policy.name == first.dtype_policy.name for layer in layers)
            and 2 <= rank <= 5 and keras.backend.standardize_dtype(inputs.dtype) != "float64"
            and sum(layer.moving_mean.shape[0] for layer in layers) == inputs.shape[-1])


def _joined(layers, name, dtype, default):
    """The layers' variable ``name`` side by side, as ``dtype``; ``default`` (0 or 1) where they have none."""
    if getattr(layers[0], name, None) is None:
        count = sum(layer.moving_mean.shape[0] for layer in layers)
        return (ops.ones if default else ops.zeros)((count,), dtype)
    return ops.concatenate([ops.cast(getattr(layer, name), dtype) for layer in layers], axis=0)


def batch_norm_training(layers, inputs):
    """``inputs`` batch-normalized in training by the backend's fused kernel, their channels those of ``layers`` side
    by side (one layer: its own channels), each layer's moving averages updated as Keras's layer updates them; None
    where there is no kernel or the layers cannot go side by side (`merged_batch_norm`).
    """
    fused = backends.batch_norm_training()
    if fused is None or not _side_by_side(layers, inputs):
        return None
    first = layers[0]
    x = ops.cast(inputs, "float32")  # as Keras: statistics in float32 under mixed precision
    gamma = _joined(layers, "gamma", "float32", 1)
    beta = _joined(layers, "beta", "float32", 0)
    outputs, mean, variance = fused(x, gamma, beta, first.epsilon)
    if len(layers) > 1:
        cuts = list(itertools.accumulate(layer.moving_mean.shape[0] for layer in layers[:-1]))
        means, variances = ops.split(mean, cuts), ops.split(variance, cuts)
    else:
        means, variances = [mean], [variance]
    for layer, batch_mean, batch_variance in zip(layers, means, variances):
        for moving, batch in ((layer.moving_mean, batch_mean), (layer.moving_variance, batch_variance)):
            moving.assign(ops.cast(moving, "float32") * layer.momentum + batch * (1.0 - layer.momentum))
    return ops.cast(outputs, first.compute_dtype)


def merged_batch_norm(layers, inputs, training=None):
    """Channels-last ``inputs`` normalized by several batch norms side by side (``layers[0]``'s channels first), each
    layer keeping its own variables and moving averages: the numbers of calling each layer on its own channels, since
    batch norm is per channel, in one computation. A block whose parallel branches each end in a batch norm (GoogLeNet's
    Inception module) then compiles one normalization, forward and backward, instead of one per branch, each of
    another shape: XLA compiles a kernel per distinct shape (benchmarks/README.md, "GoogLeNet's first training step on
    JAX").

    Returns:
        The normalized tensor, or None where the layers differ in a setting, the input is not theirs, or training
        has no fused kernel on this backend: call each layer on its channels then.
    """
    first = layers[0]
    if training and first.trainable:
        return batch_norm_training(layers, inputs)
    if not _side_by_side(layers, inputs):
        return None
    dtype = keras.backend.result_type(inputs.dtype, "float32")  # Keras's inference path, variables side by side
    outputs = ops.batch_normalization(
        ops.cast(inputs, dtype), _joined(layers, "moving_mean", dtype, 0), _joined(layers, "moving_variance", dtype, 1),
        axis=-1, offset=_joined(layers, "beta", dtype, 0) if first.center else None,
        scale=_joined(layers, "gamma", dtype, 1) if first.scale else None, epsilon=first.epsilon)
    return ops.cast(outputs, first.compute_dtype)


def check_activation(activation, name="activation"):
    """Returns ``activation`` if Keras knows it (a name or a callable), else raises."""
    if activation is None or callable(activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(
            f"{name} must be a Keras activation name, a callable or None. "
            f"Received: {name}={activation!r}"
        )
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(
            f"{name} must be a Keras activation name such as 'relu' or 'leaky_relu', "
            f"a callable or None. Received: {name}={activation!r}"
        ) from None
    return activation


def make_activation(activation, name=None, dtype=None):
    """A Keras ``Activation`` layer, or None for no activation."""
    if check_activation(activation) is None:
        return None
    return keras.layers.Activation(activation, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="cnnzoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012).

    ``b = a / (k + alpha * sum(a^2 over `size` neighbouring channels)) ** beta``,
    the paper's form (PyTorch divides ``alpha`` by ``size``; this layer does not).
    Works for every rank: it only looks at the channel axis.

    Args:
        size: number of channels in the window (odd). Defaults to `5`.
        alpha: scale. Defaults to `1e-4`.
        beta: exponent. Defaults to `0.75`.
        k: additive constant. Defaults to `2.0`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, data_format=None, **kwargs):
        from cnnzoo.layers.rank import check_arguments, check_data_format

        check_arguments(LocalResponseNormalization.__init__, locals())
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd int. Received: size={size!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        if self.data_format == "channels_first":  # the window runs along the last axis
            return ops.moveaxis(self._normalize(ops.moveaxis(inputs, 1, -1)), -1, 1)
        return self._normalize(inputs)

    def _normalize(self, inputs):
        squared = ops.square(inputs)
        half = self.size // 2
        ndim = len(inputs.shape)
        padded = ops.pad(squared, [(0, 0)] * (ndim - 1) + [(half, half)])
        channels = inputs.shape[-1]
        window = sum(padded[..., i : i + channels] for i in range(self.size))
        return inputs / ops.power(self.k + self.alpha * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k, data_format=self.data_format)
        return config
