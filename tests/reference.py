"""NumPy references for the ops that are cnnzoo's own."""

import itertools

import numpy as np

from cnnzoo.learn import numpy_ops


def conv(x, kernel, bias, strides, dilation, pad_pairs, groups):
    """Direct convolution of a channels-last batch, any rank: cnnzoo.learn's NumPy definition.

    x: (N, *spatial, C); kernel: (*k, C/groups, F); pad_pairs: per axis (before, after).
    """
    return numpy_ops.conv_direct(x, kernel, bias, strides, [tuple(p) for p in pad_pairs], dilation, groups)


def lp_pool(x, p, pool_size, strides, pad_pairs, normalize):
    """(sum |x|^p over each window) ** (1/p), zero padding; mean instead of sum with normalize."""
    rank = x.ndim - 2
    x = np.pad(np.abs(x) ** p, [(0, 0)] + list(pad_pairs) + [(0, 0)])
    out_sizes = [(x.shape[1 + a] - pool_size[a]) // strides[a] + 1 for a in range(rank)]
    out = np.zeros((x.shape[0], *out_sizes, x.shape[-1]))
    for pos in itertools.product(*[range(n) for n in out_sizes]):
        index = tuple(slice(q * s, q * s + k) for q, s, k in zip(pos, strides, pool_size))
        window = x[(slice(None),) + index]
        total = window.sum(axis=tuple(range(1, rank + 1)))
        if normalize:
            total = total / np.prod(pool_size)
        out[(slice(None),) + pos] = total ** (1.0 / p)
    return out
