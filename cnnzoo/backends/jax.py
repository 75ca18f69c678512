"""JAX kernels: batch norm for training with its gradient in closed form; pointwise convolutions as matrix products.

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
GoogLeNet's 1.59 -> 1.49 s (benchmarks/README.md, "Pointwise convolutions on JAX's CPU"). Not measured on a GPU,
so used on CPUs only (`cnnzoo.backends.convolution`).
"""

import functools

import jax
import jax.numpy as jnp


def convolution(inputs, kernel, strides, padding, dilation_rate):
    """A pointwise convolution of channels-last ``inputs`` with a Keras kernel ``(1, ..., 1, in, out)`` at stride 1
    as a matrix product, or None for any other convolution (Keras's own). ``padding`` and ``dilation_rate`` change
    nothing for a 1x1 kernel at stride 1.
    """
    rank = inputs.ndim - 2
    if any(k != 1 for k in kernel.shape[:rank]) or any(s != 1 for s in strides) or kernel.shape[-2] != inputs.shape[-1]:
        return None  # a spatial kernel, a stride, or groups
    return jax.lax.dot_general(inputs, kernel.reshape(kernel.shape[-2:]), (((rank + 1,), (0,)), ((), ())))


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
