"""JAX kernels: batch norm for training with its gradient in closed form; pointwise convolutions as matrix products;
max pooling with a gradient of slices.

Keras 3 computes a training-mode batch norm on JAX from separate ops (``jnp.mean``, ``jnp.var``, the
normalization), and JAX differentiates each of them: the backward pass then holds more reductions and
elementwise kernels than the closed form needs. XLA compiles one kernel per distinct fused computation, so
a network whose layers all differ in shape pays for each of them: measured on this project's CPU (JAX 0.10.2),
GoogLeNet's training step compiled in 21 s of CPU time and ResNet-50's in 9 s; with this kernel, 17 s and 7 s
(benchmarks/README.md, "GoogLeNet's first training step on JAX").

A pointwise convolution (1x1, stride 1, one group) is one matrix product over the channels of a channels-last input.
XLA's CPU convolution runs it as a convolution, and its gradient with respect to the kernel as another one over
transposed copies of the input and the output gradient; as a product both gradients are products too, with no copies.
Measured on this project's CPU (batch 8 @224, fp32, a Keras training step): ResNet-50's step 4.26 -> 3.13 s,
GoogLeNet's 1.59 -> 1.49 s (benchmarks/README.md, "JAX's CPU kernels"). Not measured on a GPU,
so used on CPUs only (`cnnzoo.backends.convolution`).

Max pooling's gradient is XLA's ``select_and_scatter``, which XLA's CPU compiler expands into index arithmetic and a
scatter, slow to run. `max_pool` pools one axis at a time (a k x k window is k along one axis, then k along the
other) and routes each axis's gradient with k strided slices, comparisons and pads: the same gradient, to the first
maximum of each window in row-major order as XLA and PyTorch route it. Measured on this project's CPU (GoogLeNet's
13 pools, batch 8 @224, a Keras training step): 1.47 -> 1.16 s a step, the same compile time (benchmarks/README.md,
"JAX's CPU kernels").
CPUs only, as the convolution.
"""

import contextlib
import functools
import threading

import jax
import jax.numpy as jnp
import keras
import numpy as np

from cnnzoo.backends import same_padding


def convolution(inputs, kernel, strides, padding, dilation_rate):
    """A pointwise convolution of channels-last ``inputs`` with a Keras kernel ``(1, ..., 1, in, out)`` at stride 1
    as a matrix product, or None for any other convolution (Keras's own). ``padding`` and ``dilation_rate`` change
    nothing for a 1x1 kernel at stride 1.
    """
    rank = inputs.ndim - 2
    if any(k != 1 for k in kernel.shape[:rank]) or any(s != 1 for s in strides) or kernel.shape[-2] != inputs.shape[-1]:
        return None  # a spatial kernel, a stride, or groups
    return jax.lax.dot_general(inputs, kernel.reshape(kernel.shape[-2:]), (((rank + 1,), (0,)), ((), ())))


def _pool_axis(u, axis, k, s):
    window, stride = [1] * u.ndim, [1] * u.ndim
    window[axis], stride[axis] = k, s
    return jax.lax.reduce_window(u, jnp.array(-jnp.inf, u.dtype), jax.lax.max, window, stride, "VALID")


def _route(u, v, dv, axis, k, s):
    """The gradient of ``v``, ``u``'s max pool along ``axis`` (window k, stride s, 'valid'), sent to each window's first
    maximum: for each window offset j, the strided slice of ``u`` at j that equals ``v`` and no earlier offset did.
    """
    out, zero = v.shape[axis], jnp.zeros((), dv.dtype)
    taken = total = None
    for j in range(k):
        hit = jax.lax.slice_in_dim(u, j, j + (out - 1) * s + 1, s, axis) == v
        if taken is not None:
            hit = hit & ~taken
        taken = hit if taken is None else taken | hit
        pads = [(0, 0, 0)] * u.ndim
        pads[axis] = (j, u.shape[axis] - j - (out - 1) * s - 1, s - 1)  # back to the window's place, s apart
        placed = jax.lax.pad(jnp.where(hit, dv, zero), zero, pads)
        total = placed if total is None else total + placed
    return total


def max_pool(inputs, pool_size, strides, padding):
    """Max pooling of channels-last ``inputs`` (rank 1 to 3; ``padding`` 'valid' or 'same'), as ``keras.ops.max_pool``,
    with the gradient of `_route` along each axis.
    """
    rank = inputs.ndim - 2
    pool_size, strides = tuple(pool_size), tuple(strides)
    pads = ([same_padding(n, k, s) for n, k, s in zip(inputs.shape[1:-1], pool_size, strides)] if padding == "same"
            else [(0, 0)] * rank)
    axes = range(1, rank + 1)

    def stages(x):
        u = jax.lax.pad(x, jnp.array(-jnp.inf, x.dtype), [(0, 0, 0), *[(b, a, 0) for b, a in pads], (0, 0, 0)])
        done = [u]
        for axis in reversed(axes):  # the last axis first, so that the first axis decides first (row-major order)
            done.append(_pool_axis(done[-1], axis, pool_size[axis - 1], strides[axis - 1]))
        return done

    @jax.custom_vjp
    def pool(x):
        return stages(x)[-1]

    def forward(x):
        done = stages(x)
        return done[-1], done

    def backward(done, dy):
        for i, axis in enumerate(axes):  # the first axis was pooled last
            dy = _route(done[-2 - i], done[-1 - i], dy, axis, pool_size[axis - 1], strides[axis - 1])
        start = (0, *[b for b, _ in pads], 0)
        return (jax.lax.slice(dy, start, tuple(b + n for b, n in zip(start, inputs.shape))),)

    pool.defvjp(forward, backward)
    return pool(inputs)


def _statistics(x):
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    centered = x - mean
    return centered, mean, jnp.mean(jnp.square(centered), axes)  # as jnp.var: the biased variance


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _batch_norm(x, scale, offset, epsilon):
    return _forward(x, scale, offset, epsilon)[0]


def _forward(x, scale, offset, epsilon):
    centered, mean, variance = _statistics(x)
    inv = jax.lax.rsqrt(variance + epsilon)
    y = centered * (inv * scale) + offset
    return (y, mean, variance), (centered, inv, scale)


def _backward(epsilon, residuals, cotangents):
    """The gradient in closed form (Ioffe & Szegedy 2015, eq. after Algorithm 1), including the cotangents of the
    batch statistics (zero in a training step, where they only feed the moving averages).
    """
    centered, inv, scale = residuals
    dy, dmean, dvariance = cotangents
    axes = tuple(range(centered.ndim - 1))
    count = centered.size // centered.shape[-1]
    doffset = jnp.sum(dy, axes)
    dy_centered = jnp.sum(dy * centered, axes)
    dscale = dy_centered * inv
    dx = (scale * inv) * (dy - doffset / count - centered * (dy_centered * jnp.square(inv) / count))
    dx = dx + dmean / count + centered * (2.0 * dvariance / count)
    return dx, dscale, doffset


_batch_norm.defvjp(_forward, _backward)


def batch_norm_training(x, scale, offset, epsilon):
    """Training-mode batch norm of channels-last ``x``: ``(y, mean, variance)``, differentiable in closed form."""
    return _batch_norm(x, scale, offset, float(epsilon))


_host_constants = {"depth": 0, "saved": {}}
_host_constants_lock = threading.Lock()


def _host_constant(fill):
    def call(self, shape, dtype=None):  # Keras's Zeros/Ones.__call__, the values made by NumPy and copied over
        dtype = keras.backend.standardize_dtype(dtype)
        return jax.device_put(np.full(tuple(int(d) for d in shape), fill, dtype=jnp.dtype(dtype)))

    return call


@contextlib.contextmanager
def constants_on_host():
    """Keras's ``Zeros`` and ``Ones`` initializers make their arrays with NumPy and ``jax.device_put`` while inside:
    the same values, dtype and array type as ``jnp.zeros`` / ``jnp.ones``, without the XLA program JAX compiles for
    each new shape of those outside a trace. Nests, and is safe across threads (its calls are indistinguishable).
    """
    classes = {keras.initializers.Zeros: 0, keras.initializers.Ones: 1}
    with _host_constants_lock:
        if _host_constants["depth"] == 0:
            _host_constants["saved"] = {cls: cls.__dict__["__call__"] for cls in classes}
            for cls, fill in classes.items():
                cls.__call__ = _host_constant(fill)
        _host_constants["depth"] += 1
    try:
        yield
    finally:
        with _host_constants_lock:
            _host_constants["depth"] -= 1
            if _host_constants["depth"] == 0:
                for cls, call in _host_constants.pop("saved").items():
                    cls.__call__ = call
                _host_constants["saved"] = {}


def truncated_normal_prefix(length, seed):
    """Keras's standard truncated normal draw of ``length`` values for an int ``seed`` (its key: ``[seed, 0]`` as
    uint32), cut from a draw of the next power of 4, or None where a draw's start may differ from a shorter draw's
    (JAX's threefry not partitionable, another PRNG) or the seed is not such an int (Keras's own draw then).
    """
    if (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32
            or not jax.config.jax_threefry_partitionable or jax.config.jax_default_prng_impl != "threefry2x32"):
        return None
    drawn = 4
    while drawn < length:
        drawn *= 4
    # JAX's own draw program, as Keras calls it (one per drawn length); Keras's "* stddev + mean" (1.0 and 0.0) as
    # NumPy's float32 arithmetic, which rounds as XLA's separate multiply and add do (a fused program may not)
    values = np.asarray(jax.random.truncated_normal(np.array([seed, 0], np.uint32), -2.0, 2.0, (drawn,), jnp.float32))
    return values[:length] * np.float32(1.0) + np.float32(0.0)
