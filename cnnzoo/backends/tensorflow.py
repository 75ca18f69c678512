"""TensorFlow kernels for `cnnzoo.backends`."""

import tensorflow as tf


def batch_norm_training(x, scale, offset, epsilon):
    """Training-mode batch norm of channels-last ``x`` (rank 2 to 5) with TensorFlow's fused op."""
    rank = x.shape.rank
    shape = tf.shape(x)
    if rank < 4:  # the op takes NHWC or NDHWC
        x = tf.reshape(x, tf.concat([shape[:1], tf.ones([4 - rank], tf.int32), shape[1:]], 0))
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, scale, offset, epsilon=epsilon, is_training=True, data_format="NDHWC" if rank == 5 else "NHWC")
    count = tf.cast(tf.reduce_prod(shape[:-1]), variance.dtype)
    variance = variance * tf.maximum(count - 1.0, 0.0) / count  # the op returns the sample (n - 1) variance
    return (tf.reshape(y, shape) if rank < 4 else y), mean, variance
