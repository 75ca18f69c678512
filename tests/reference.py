"""NumPy references for the ops that are cnnzoo's own."""

import itertools

import numpy as np


def conv(x, kernel, bias, strides, dilation, pad_pairs, groups):
    """Direct convolution of a channels-last batch, any rank.

    x: (N, *spatial, C); kernel: (*k, C/groups, F); pad_pairs: per axis (before, after).
    """
    rank = x.ndim - 2
    x = np.pad(x, [(0, 0)] + list(pad_pairs) + [(0, 0)])
    ksize = kernel.shape[:rank]
    cin_g = kernel.shape[rank]
    filters = kernel.shape[-1]
    fout_g = filters // groups
    out_sizes = [
        (x.shape[1 + a] - dilation[a] * (ksize[a] - 1) - 1) // strides[a] + 1 for a in range(rank)
    ]
    out = np.zeros((x.shape[0], *out_sizes, filters))
    for pos in itertools.product(*[range(n) for n in out_sizes]):
        index = tuple(
            slice(p * s, p * s + d * (k - 1) + 1, d)
            for p, s, d, k in zip(pos, strides, dilation, ksize)
        )
        window = x[(slice(None),) + index]  # (N, *k, C)
        for g in range(groups):
            w = window[..., g * cin_g : (g + 1) * cin_g]
            kg = kernel[..., g * fout_g : (g + 1) * fout_g]
            out[(slice(None),) + pos + (slice(g * fout_g, (g + 1) * fout_g),)] = np.tensordot(
                w, kg, axes=(list(range(1, rank + 2)), list(range(rank + 1)))
            )
    if bias is not None:
        out = out + bias
    return out


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
