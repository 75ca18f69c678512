"""The textbook operations of a CNN in plain NumPy, for every rank: read them, step through them, check them.

Every function takes channels-last batches, ``x`` of shape ``(N, *spatial, C)``,
and kernels ``(*k, C / groups, F)`` as Keras stores them, for rank 1, 2 or 3.
``tests/test_learn.py`` checks each against Keras's own layers and gradients.

- `conv_direct`: the definition, one output position at a time. Deep-learning
  "convolution" is cross-correlation: the kernel is not flipped.
- `convolve`: mathematical convolution, the same sum with the kernel flipped
  on every spatial axis (`flip_kernel`): ``convolve(x, k) == conv_direct(x, flip_kernel(k))``.
- `im2col` / `col2im`: every receptive field as one row of a matrix, and back
  (col2im sums overlapping patches: it is im2col's transpose, the gradient's path).
- `conv_im2col`: the convolution as one matrix product, ``im2col(x) @ W``.
- `conv_backward`: the two gradients of a convolution layer: ``dx`` passed back
  to the layer below (``col2im(dout @ W^T)``) and ``dW`` for the update
  (``im2col(x)^T @ dout``), and ``db`` (the sum of ``dout``).
- `pool` / `pool_backward`: max, average and L2 pooling and their gradients.

Padding: ``"valid"``, ``"same"`` (Keras's rule: the output is ``ceil(n / s)``,
the extra padding after), an int, or ``(before, after)`` pairs per axis.
"""

import itertools

import numpy as np

POOL_MODES = ("max", "avg", "l2")


def _tuple(value, rank, name):
    values = tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value,) * rank))
    if len(values) != rank or any(v < 1 for v in values):
        raise ValueError(f"{name} must be a positive int or {rank} of them. Received: {name}={value!r}")
    return values


def padding_pairs(sizes, kernel_size, strides, dilation, padding):
    """``(before, after)`` zero padding per spatial axis for a padding spec."""
    rank = len(sizes)
    if padding == "valid":
        return [(0, 0)] * rank
    if padding == "same":
        pairs = []
        for n, k, s, d in zip(sizes, kernel_size, strides, dilation):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pairs.append((total // 2, total - total // 2))
        return pairs
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    pairs = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
    if len(pairs) != rank:
        raise ValueError(f"padding needs one entry per spatial axis ({rank}). Received: padding={padding!r}")
    return pairs


def output_size(n, kernel, stride, pad_before, pad_after, dilation=1):
    """The closed form ``floor((n + p - d(k-1) - 1) / s) + 1`` (p: the total padding)."""
    return (n + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _geometry(x, kernel_size, strides, padding, dilation):
    rank = x.ndim - 2
    k = _tuple(kernel_size, rank, "kernel_size")
    s = _tuple(strides, rank, "strides")
    d = _tuple(dilation, rank, "dilation")
    pairs = padding_pairs(x.shape[1:-1], k, s, d, padding)
    out = [output_size(n, ki, si, a, b, di) for n, ki, si, (a, b), di in zip(x.shape[1:-1], k, s, pairs, d)]
    if any(o < 1 for o in out):
        raise ValueError(f"the kernel does not fit the padded input. Received: input shape {x.shape[1:]}, "
                         f"kernel_size={k}, padding={padding!r}")
    return rank, k, s, d, pairs, out


def _window(position, strides, dilation, kernel):
    return tuple(slice(p * s, p * s + d * (k - 1) + 1, d) for p, s, d, k in zip(position, strides, dilation, kernel))


def conv_direct(x, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1):
    """Convolution (cross-correlation, as Keras and PyTorch compute it) by its definition.

    ``out[n, p, f] = b[f] + sum over the window and the group's channels of x * kernel``.
    """
    rank, k, s, d, pairs, out_sizes = _geometry(x, kernel.shape[:-2], strides, padding, dilation)
    xp = np.pad(x, [(0, 0), *pairs, (0, 0)])
    cin_g, filters = kernel.shape[-2], kernel.shape[-1]
    fout_g = filters // groups
    out = np.zeros((x.shape[0], *out_sizes, filters), dtype=np.result_type(x, kernel))
    for position in itertools.product(*(range(o) for o in out_sizes)):
        window = xp[(slice(None),) + _window(position, s, d, k)]  # (N, *k, C)
        for g in range(groups):
            patch = window[..., g * cin_g:(g + 1) * cin_g]
            weights = kernel[..., g * fout_g:(g + 1) * fout_g]
            out[(slice(None),) + position + (slice(g * fout_g, (g + 1) * fout_g),)] = np.tensordot(
                patch, weights, axes=(list(range(1, rank + 2)), list(range(rank + 1))))
    return out if bias is None else out + bias


def flip_kernel(kernel):
    """The kernel flipped on every spatial axis (not on the channel axes)."""
    rank = kernel.ndim - 2
    return kernel[(slice(None, None, -1),) * rank]


def convolve(x, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1):
    """Mathematical convolution: the kernel flipped, then `conv_direct`."""
    return conv_direct(x, flip_kernel(kernel), bias, strides, padding, dilation, groups)


def im2col(x, kernel_size, strides=1, padding="valid", dilation=1):
    """Every receptive field as a row: ``(N, *out, prod(k) * C)`` (window order, then channels).

    Returns:
        ``(cols, out_sizes)``.
    """
    rank, k, s, d, pairs, out_sizes = _geometry(x, kernel_size, strides, padding, dilation)
    xp = np.pad(x, [(0, 0), *pairs, (0, 0)])
    cols = np.empty((x.shape[0], *out_sizes, int(np.prod(k)) * x.shape[-1]), dtype=x.dtype)
    for position in itertools.product(*(range(o) for o in out_sizes)):
        cols[(slice(None),) + position] = xp[(slice(None),) + _window(position, s, d, k)].reshape(x.shape[0], -1)
    return cols, out_sizes


def col2im(cols, x_shape, kernel_size, strides=1, padding="valid", dilation=1):
    """im2col's transpose: every row added back into the window it came from (overlaps sum)."""
    x = np.zeros(x_shape, dtype=cols.dtype)
    rank, k, s, d, pairs, out_sizes = _geometry(x, kernel_size, strides, padding, dilation)
    xp = np.pad(x, [(0, 0), *pairs, (0, 0)])
    for position in itertools.product(*(range(o) for o in out_sizes)):
        index = (slice(None),) + _window(position, s, d, k)
        xp[index] += cols[(slice(None),) + position].reshape(xp[index].shape)
    inner = tuple(slice(a, a + n) for (a, _), n in zip(pairs, x_shape[1:-1]))
    return xp[(slice(None),) + inner]


def _group_matrices(kernel, groups):
    """Per group: the kernel as a ``(prod(k) * C/groups, F/groups)`` matrix."""
    fout_g = kernel.shape[-1] // groups
    return [kernel[..., g * fout_g:(g + 1) * fout_g].reshape(-1, fout_g) for g in range(groups)]


def _group_cols(cols, channels, groups, kernel_volume):
    """The columns of each group's input channels, from im2col's (window, channel) order."""
    shaped = cols.reshape(cols.shape[:-1] + (kernel_volume, channels))
    cin_g = channels // groups
    return [shaped[..., g * cin_g:(g + 1) * cin_g].reshape(cols.shape[:-1] + (-1,)) for g in range(groups)]


def conv_im2col(x, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1):
    """The same convolution as one matrix product per group: ``im2col(x) @ W``."""
    k = kernel.shape[:-2]
    cols, _ = im2col(x, k, strides, padding, dilation)
    parts = [c @ w for c, w in zip(_group_cols(cols, x.shape[-1], groups, int(np.prod(k))),
                                   _group_matrices(kernel, groups))]
    out = np.concatenate(parts, axis=-1)
    return out if bias is None else out + bias


def conv_backward(dout, x, kernel, strides=1, padding="valid", dilation=1, groups=1):
    """The gradients of ``sum(dout * conv(x, kernel, bias))``.

    Returns:
        ``(dx, dkernel, dbias)``: ``dx = col2im(dout @ W^T)`` is passed back to the
        layer below; ``dkernel = im2col(x)^T @ dout`` and ``dbias = sum(dout)``
        update the layer.
    """
    k = kernel.shape[:-2]
    volume, channels = int(np.prod(k)), x.shape[-1]
    cols, _ = im2col(x, k, strides, padding, dilation)
    fout_g = kernel.shape[-1] // groups
    cin_g = channels // groups
    dcols = np.zeros(cols.shape[:-1] + (volume, channels), dtype=np.result_type(dout, kernel))
    dkernel = np.zeros_like(kernel, dtype=np.result_type(dout, x))
    group_cols = _group_cols(cols, channels, groups, volume)
    for g, w in enumerate(_group_matrices(kernel, groups)):
        d = dout[..., g * fout_g:(g + 1) * fout_g]
        flat_cols = group_cols[g].reshape(-1, group_cols[g].shape[-1])
        dkernel[..., g * fout_g:(g + 1) * fout_g] = (flat_cols.T @ d.reshape(-1, fout_g)).reshape(
            tuple(k) + (cin_g, fout_g))
        dcols[..., g * cin_g:(g + 1) * cin_g] = (d @ w.T).reshape(d.shape[:-1] + (volume, cin_g))
    dx = col2im(dcols.reshape(cols.shape), x.shape, k, strides, padding, dilation)
    return dx, dkernel, dout.sum(axis=tuple(range(dout.ndim - 1)))


def _pool_setup(x, mode, pool_size, strides, padding):
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}. Received: mode={mode!r}")
    rank = x.ndim - 2
    k = _tuple(pool_size, rank, "pool_size")
    s = k if strides is None else _tuple(strides, rank, "strides")
    return _geometry(x, k, s, padding, 1)


def pool(x, mode="max", pool_size=2, strides=None, padding="valid"):
    """Max, average or L2 (``sqrt(sum x^2)``) pooling over each window, per channel.

    Padding: max pooling never picks it; with ``"same"`` the average counts only
    the input's values (Keras's rule), with explicit padding it counts the zeros
    (PyTorch's ``count_include_pad``); L2 pooling sums zeros either way.
    """
    rank, k, s, d, pairs, out_sizes = _pool_setup(x, mode, pool_size, strides, padding)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x.astype(float), [(0, 0), *pairs, (0, 0)], constant_values=fill)
    ones = np.pad(np.ones(x.shape[1:-1]), pairs)
    out = np.empty((x.shape[0], *out_sizes, x.shape[-1]))
    axes = tuple(range(1, rank + 1))
    for position in itertools.product(*(range(o) for o in out_sizes)):
        index = _window(position, s, d, k)
        window = xp[(slice(None),) + index]
        if mode == "max":
            value = window.max(axis=axes)
        elif mode == "l2":
            value = np.sqrt((window ** 2).sum(axis=axes))
        else:
            count = ones[index].sum() if padding == "same" else np.prod(k)
            value = window.sum(axis=axes) / count
        out[(slice(None),) + position] = value
    return out


def pool_backward(dout, x, mode="max", pool_size=2, strides=None, padding="valid"):
    """The gradient of ``sum(dout * pool(x))`` with respect to ``x``.

    Max sends each window's gradient to its largest input (the first, on ties),
    average spreads it evenly over the counted positions, L2 weights it by
    ``x / pool(x)``.
    """
    rank, k, s, d, pairs, out_sizes = _pool_setup(x, mode, pool_size, strides, padding)
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x.astype(float), [(0, 0), *pairs, (0, 0)], constant_values=fill)
    ones = np.pad(np.ones(x.shape[1:-1]), pairs)
    dxp = np.zeros_like(xp)
    n, c = x.shape[0], x.shape[-1]
    for position in itertools.product(*(range(o) for o in out_sizes)):
        index = (slice(None),) + _window(position, s, d, k)
        window = xp[index]
        g = dout[(slice(None),) + position]  # (N, C)
        expand = (slice(None),) + (None,) * rank + (slice(None),)
        if mode == "max":
            flat = window.reshape(n, -1, c)
            best = flat.argmax(axis=1)
            mask = np.zeros_like(flat)
            np.put_along_axis(mask, best[:, None, :], 1.0, axis=1)
            dxp[index] += mask.reshape(window.shape) * g[expand]
        elif mode == "l2":
            norm = np.sqrt((window ** 2).sum(axis=tuple(range(1, rank + 1))))
            safe = np.where(norm > 0, norm, 1.0)
            dxp[index] += window / safe[expand] * g[expand]
        else:
            if padding == "same":
                counted = ones[index[1:]]
                dxp[index] += counted[None, ..., None] * (g / counted.sum())[expand]
            else:
                dxp[index] += np.ones_like(window) * (g / np.prod(k))[expand]
    inner = tuple(slice(a, a + m) for (a, _), m in zip(pairs, x.shape[1:-1]))
    return dxp[(slice(None),) + inner]
