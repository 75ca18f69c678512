"""Backend-specific kernels, where Keras has no fused op of its own.

cnnzoo's layers use Keras 3 APIs only; a layer may ask this module for a faster
kernel of the running Keras backend and falls back to Keras's own computation
when there is none, so every model still runs on every backend, with the same
numbers. One kernel so far: TensorFlow's fused batch norm for training
(Keras 3 normalizes with separate ops on TensorFlow; benchmarks/README.md has
the measurement that made it worth it).
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
    return None
