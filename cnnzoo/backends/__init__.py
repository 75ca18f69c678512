"""Backend-specific kernels, where Keras has no fused op of its own.

cnnzoo's layers use Keras 3 APIs only; a layer may ask this module for a faster
kernel of the running Keras backend and falls back to Keras's own computation
when there is none, so every model still runs on every backend, with the same
numbers. Three kernels so far: batch norm for training (TensorFlow's fused op,
on JAX a closed-form gradient, on PyTorch its fused op: Keras 3 normalizes with
separate ops, which each backend differentiates op by op); convolutions (on
PyTorch a channels-last one without Keras's layout copies, on JAX's CPU a
pointwise one as a matrix product); and on JAX's CPU max pooling with a
gradient of slices instead of XLA's scatter. benchmarks/README.md has the
measurements that made each worth it.
"""

import keras


def same_padding(n, kernel, stride, dilation=1):
    """The ``(before, after)`` padding of Keras's (and XLA's) ``"same"`` along an axis of length ``n``: the output is
    ``ceil(n / stride)`` long, and an odd total pads one more after.
    """
    total = max((-(-n // stride) - 1) * stride + (kernel - 1) * dilation + 1 - n, 0)
    return total // 2, total - total // 2


def batch_norm_training():
    """``fn(x, scale, offset, epsilon) -> (y, mean, variance)`` for channels-last ``x``, or None.

    ``mean`` and ``variance`` are the batch's statistics over every axis but the
    last, the variance biased (divided by the count), as ``keras.ops.moments``.
    """
    if keras.backend.backend() == "tensorflow":
        from cnnzoo.backends import tensorflow

        return tensorflow.batch_norm_training
    if keras.backend.backend() == "jax":
        from cnnzoo.backends import jax

        return jax.batch_norm_training
    if keras.backend.backend() == "torch":
        from cnnzoo.backends import torch

        return None if torch.compiling() else torch.batch_norm_training
    return None


def convolution():
    """``fn(inputs, kernel, strides, padding, dilation_rate) -> outputs or None`` for channels-last ``inputs``
    and a Keras kernel, or None. The function returns None for a case it leaves to Keras.
    """
    if keras.backend.backend() == "torch":
        from cnnzoo.backends import torch

        return None if torch.compiling() else torch.convolution
    if keras.backend.backend() == "jax":
        import jax as _jax

        if _jax.default_backend() == "cpu":  # measured on CPUs only
            from cnnzoo.backends import jax

            return jax.convolution
    return None


def max_pool():
    """``fn(inputs, pool_size, strides, padding) -> outputs`` for channels-last ``inputs`` (``padding`` 'valid' or
    'same'; sizes and strides as tuples), or None: Keras's ``ops.max_pool``.
    """
    if keras.backend.backend() == "jax":
        import jax as _jax

        if _jax.default_backend() == "cpu":  # measured on CPUs only
            from cnnzoo.backends import jax

            return jax.max_pool
    return None
