"""Backend-specific kernels, where Keras has no fused op of its own.

cnnzoo's layers use Keras 3 APIs only; a layer may ask this module for a faster
kernel of the running Keras backend and falls back to Keras's own computation
when there is none, so every model still runs on every backend, with the same
numbers. One kernel so far, batch norm for training: TensorFlow's fused op, and
on JAX a closed-form gradient (Keras 3 normalizes with separate ops, which each
backend differentiates op by op; benchmarks/README.md has the measurements that
made each worth it).
"""

import keras


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

        return torch.batch_norm_training
    return None
