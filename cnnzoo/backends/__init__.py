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
measurements that made each worth it. Beside them, what makes a model's first
step start sooner on JAX, where every new shape of an eager operation compiles
a program: arrays handed over from the host (`from_host`), Keras's constant
initializers made on the host (`constants_on_host`), and initializer draws from
fewer programs (`standard_truncated_normal`); the same values on every backend.
"""

import contextlib

import keras


def same_padding(n, kernel, stride, dilation=1):
    """The ``(before, after)`` padding of Keras's (and XLA's) ``"same"`` along an axis of length ``n``: the output is
    ``ceil(n / stride)`` long, and an odd total pads one more after.
    """
    total = max((-(-n // stride) - 1) * stride + (kernel - 1) * dilation + 1 - n, 0)
    return total // 2, total - total // 2


def from_host(values):
    """A NumPy array as the running backend's tensor, made without compiling anything: on JAX (0.10)
    ``jnp.asarray`` of a NumPy array, which Keras's variables use, compiles an XLA program for each new shape (30 ms
    on this project's CPU); ``jax.device_put`` copies it. On the other backends the array itself (Keras converts it).
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.device_put(values)
    return values


def standard_truncated_normal(length, seed):
    """``keras.random.truncated_normal((length,), dtype="float32", seed=seed)`` as a NumPy array: the same values.

    On JAX each new length compiles three programs (the draw, Keras's scale and shift); with JAX's threefry
    partitionable (its default), a draw is the start of any longer draw of the same seed, so an int seed's values
    are cut from a draw of the next power of 4 in one compiled program: GoogLeNet's build compiled 27 programs for
    its draws, now 5 (powers of 16 made fewer programs but drew up to 16 times the values: slower for R(2+1)D-18).
    """
    if keras.backend.backend() == "jax":
        from cnnzoo.backends import jax

        values = jax.truncated_normal_prefix(length, seed)
        if values is not None:
            return values
    return keras.ops.convert_to_numpy(keras.random.truncated_normal((length,), dtype="float32", seed=seed))


def constants_on_host():
    """A context in which Keras's ``"zeros"`` and ``"ones"`` initializers make their values on the host (the same
    values, dtypes and array types) when the backend compiles a program per shape for them (JAX), else no change.

    On JAX ``jnp.zeros(shape)`` outside a trace compiles an XLA program for each new shape, 30 ms each on this
    project's CPU: GoogLeNet's batch norms, head and SGD momentum slots made 66 of them, 2 s of its first training
    step (benchmarks/README.md, "Fewer small programs"). cnnzoo's model builds and ``fit`` run in it.
    """
    if keras.backend.backend() == "jax":
        from cnnzoo.backends import jax

        return jax.constants_on_host()
    return contextlib.nullcontext()


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
