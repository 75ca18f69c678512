"""Rank-generic pooling: max/average with explicit padding, global, adaptive and LP pooling."""

import itertools

import keras
import numpy as np
from keras import ops

from cnnzoo import backends
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.conv_norm_act import check_data_format, spatial_dims

POOL_MODES = ("max", "avg")


def check_mode(mode, name="mode"):
    """``mode`` when it is ``"max"`` or ``"avg"``; raises naming ``name`` otherwise."""
    if mode not in POOL_MODES:
        raise ValueError(f"{name} must be one of {POOL_MODES}. Received: {name}={mode!r}")
    return mode


class _WindowPooling(keras.layers.Layer):
    """Shared argument handling of the windowed pooling layers."""

    def __init__(self, pool_size=2, strides=None, padding="valid", rank=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if rank is not None:
            rank_lib.check_rank(rank)
        rank_lib.check_positive_ints(pool_size, "pool_size")
        if strides is not None:
            rank_lib.check_positive_ints(strides, "strides")
        self.padding = rank_lib.check_padding(padding)
        if self.padding == "causal":
            raise ValueError("padding must be 'same', 'valid' or explicit. Received: padding='causal'")
        self.pool_size = pool_size
        self.strides = strides
        self.rank = rank
        self.data_format = check_data_format(data_format)

    def _geometry(self, input_shape):
        rank = rank_lib.rank_of_shape(input_shape, f"{type(self).__name__} '{self.name}'")
        if self.rank is not None and rank != self.rank:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' was made for rank {self.rank}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        size = rank_lib.normalize_tuple(self.pool_size, rank, "pool_size")
        strides = size if self.strides is None else rank_lib.normalize_tuple(
            self.strides, rank, "strides"
        )
        return rank, size, strides

    def _pairs(self, input_shape, size, strides, need_same_pairs):
        """Explicit ``(before, after)`` pairs, or None when the string mode is used as is."""
        rank = len(size)
        if isinstance(self.padding, str):
            if self.padding == "valid" or not need_same_pairs:
                return None
            dims = spatial_dims(input_shape, self.data_format)
            if any(n is None for n in dims):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' with padding='same' needs static "
                    f"spatial dimensions. Received: input_shape={tuple(input_shape)}"
                )
            return tuple(backends.same_padding(n, k, s) for n, k, s in zip(dims, size, strides))
        return rank_lib.explicit_padding_pairs(self.padding, rank)

    def _check_fits(self, input_shape, size, pairs):
        for axis, n in enumerate(spatial_dims(input_shape, self.data_format)):
            if n is None or self.padding == "same":
                continue
            padded = n + (sum(pairs[axis]) if pairs else 0)
            if size[axis] > padded:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': pool_size={self.pool_size} is larger "
                    f"than the padded input ({padded}) along spatial axis {axis}. "
                    f"Received: input_shape={tuple(input_shape)}"
                )

    def _pad(self, x, pairs, value):
        if pairs is None:
            return x
        full = [(0, 0)] + list(pairs) + [(0, 0)]
        if self.data_format == "channels_first":
            full = [(0, 0), (0, 0)] + list(pairs)
        return ops.pad(x, full, constant_values=value)

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size,
            strides=self.strides,
            padding=self.padding,
            rank=self.rank,
            data_format=self.data_format,
        )
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class Pooling(_WindowPooling):
    """Max or average pooling for rank 1, 2 or 3, with explicit padding allowed.

    Explicit padding pads with ``-inf`` for max pooling (so it is exact for any
    input, as PyTorch's ``MaxPool(padding=p)``) and with zeros for average
    pooling (counted in the average, as PyTorch's ``count_include_pad=True``).

    ``ceil_mode=True`` is PyTorch's ``ceil_mode``: the output length is
    ``ceil((n + pad - k) / s) + 1`` instead of the floor, less one when the last
    window would start beyond the input and its leading padding (PyTorch's
    rule). The extra positions are padded at the end only, with ``-inf`` for
    max pooling; average pooling divides by the part of each window inside
    the (explicitly padded) input, as PyTorch does. torchvision's GoogLeNet
    pools this way.

    Args:
        mode: ``"max"`` or ``"avg"``. Defaults to `"max"`.
        pool_size: int or tuple. Defaults to `2`.
        strides: int, tuple or None (= pool_size). Defaults to `None`.
        padding: ``"valid"``, ``"same"`` or explicit (int, tuple, pairs).
            Defaults to `"valid"`.
        ceil_mode: round the output length up (needs ``"valid"`` or explicit
            padding and static spatial sizes). Defaults to `False`.
        rank: 1, 2, 3 or None (from the input). Defaults to `None`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
    """

    def __init__(self, mode="max", pool_size=2, strides=None, padding="valid", rank=None, data_format=None,
                 ceil_mode=False, **kwargs):
        rank_lib.check_arguments(Pooling.__init__, locals())
        super().__init__(pool_size, strides, padding, rank, data_format, **kwargs)
        self.mode = check_mode(mode)
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"ceil_mode must be a bool. Received: ceil_mode={ceil_mode!r}")
        if ceil_mode and self.padding == "same":
            raise ValueError("ceil_mode=True needs padding='valid' or explicit padding ('same' already rounds up). "
                             "Received: padding='same'")
        self.ceil_mode = ceil_mode

    def build(self, input_shape):
        rank, size, strides = self._geometry(input_shape)
        self._pad_pairs = self._pairs(input_shape, size, strides, need_same_pairs=False)
        self._avg_scale = None
        if self.ceil_mode:  # windows may hang over the end: at least one output is what must fit
            self._pad_pairs, self._avg_scale = self._ceil_geometry(input_shape, size, strides)
        else:
            self._check_fits(input_shape, size, self._pad_pairs)
        table = rank_lib.MAX_POOL if self.mode == "max" else rank_lib.AVG_POOL
        self.pool = table[rank](
            pool_size=size,
            strides=strides,
            padding=self.padding if isinstance(self.padding, str) and not self.ceil_mode else "valid",
            data_format=self.data_format,
            dtype=self.dtype_policy,
            name="pool",
        )

    def _ceil_geometry(self, input_shape, size, strides):
        """Padding pairs with the ceil-mode tail added, and the average's correction (None if none is needed)."""
        dims = spatial_dims(input_shape, self.data_format)
        if any(n is None for n in dims):
            raise ValueError(f"Pooling '{self.name}' with ceil_mode=True needs static spatial dimensions. "
                             f"Received: input_shape={tuple(input_shape)}")
        pairs = self._pad_pairs or tuple((0, 0) for _ in dims)
        new_pairs, counts = [], []
        for n, k, s, (before, after) in zip(dims, size, strides, pairs):
            out = rank_lib.conv_output_length(n, k, s, (before, after), ceil_mode=True)
            if out < 1:
                raise ValueError(f"Pooling '{self.name}': pool_size={self.pool_size} leaves no output "
                                 f"even with ceil_mode. Received: input_shape={tuple(input_shape)}")
            padded = n + before + after
            new_pairs.append((before, after + max((out - 1) * s + k - padded, 0)))
            starts = np.arange(out) * s
            counts.append(np.minimum(starts + k, padded) - starts)
        scale = None
        if self.mode == "avg" and any(np.any(c != k) for c, k in zip(counts, size)):
            count = counts[0]
            for c in counts[1:]:
                count = np.multiply.outer(count, c)
            scale = (np.prod(size) / count).astype("float32")
            scale = scale[..., None] if self.data_format == "channels_last" else scale[None]
        return tuple(new_pairs), scale

    def call(self, inputs):
        value = float("-inf") if self.mode == "max" else 0.0
        out = self.pool(self._pad(inputs, self._pad_pairs, value))
        if self._avg_scale is not None:
            out = out * ops.cast(self._avg_scale, out.dtype)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, ceil_mode=self.ceil_mode)
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class LPPooling(_WindowPooling):
    """Power-average (LP) pooling: ``(sum over the window of |x|^p) ** (1/p)``.

    ``p=2`` is the L2 pooling of the CNN literature (Sermanet et al. 2012);
    ``p=1`` is sum pooling of ``|x|``; as ``p`` grows it tends to max pooling.
    The sum follows PyTorch's ``LPPool``; ``normalize=True`` takes the mean
    instead (padding counted), the power mean. Padding is zero padding.

    Args:
        p: the power, > 0. Defaults to `2.0`.
        pool_size: int or tuple. Defaults to `2`.
        strides: int, tuple or None (= pool_size). Defaults to `None`.
        padding: ``"valid"``, ``"same"`` (static spatial sizes) or explicit.
            Defaults to `"valid"`.
        normalize: mean instead of sum inside the root. Defaults to `False`.
        rank: 1, 2, 3 or None (from the input). Defaults to `None`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
    """

    def __init__(self, p=2.0, pool_size=2, strides=None, padding="valid", normalize=False, rank=None, data_format=None,
                 **kwargs):
        rank_lib.check_arguments(LPPooling.__init__, {"normalize": normalize})
        super().__init__(pool_size, strides, padding, rank, data_format, **kwargs)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:  # not p > 0: NaN too
            raise ValueError(f"p must be a positive number (inf: max pooling of |x|). Received: p={p!r}")
        self.p = float(p)
        self.normalize = normalize

    def build(self, input_shape):
        rank, size, strides = self._geometry(input_shape)
        self._pad_pairs = self._pairs(input_shape, size, strides, need_same_pairs=True)
        self._check_fits(input_shape, size, self._pad_pairs)
        self._volume = 1
        for k in size:
            self._volume *= k
        self._size, self._strides = size, strides
        self.pool = rank_lib.AVG_POOL[rank](
            pool_size=size, strides=strides, padding="valid", data_format=self.data_format, dtype=self.dtype_policy,
            name="pool",
        )
        self.max_pool = rank_lib.MAX_POOL[rank](
            pool_size=size, strides=strides, padding="valid", data_format=self.data_format, dtype=self.dtype_policy,
            name="max_pool",
        )

    def call(self, inputs):
        magnitude = self._pad(ops.abs(inputs), self._pad_pairs, 0.0)
        if self.p == float("inf"):  # the limit of the power mean: the largest |x| of each window
            return self.max_pool(magnitude)
        # Every window's values as one stack (one strided slice per window offset), each window scaled by its
        # own largest value: m * (sum (|x| / m)^p)^(1/p) is the same number, and neither overflows nor
        # underflows to 0 for a large p.
        spatial = range(1, len(inputs.shape) - 1) if self.data_format == "channels_last" else range(
            2, len(inputs.shape))
        out = self.max_pool.compute_output_shape(magnitude.shape)
        out_sizes = [out[a] for a in spatial]
        windows = []
        for offset in itertools.product(*(range(k) for k in self._size)):
            index = [slice(None)] * len(inputs.shape)
            for a, o, s, n in zip(spatial, offset, self._strides, out_sizes):
                index[a] = slice(o, o + (n - 1) * s + 1, s)
            windows.append(magnitude[tuple(index)])
        stack = ops.stack(windows, axis=0)
        largest = ops.max(stack, axis=0)
        positive = largest > 0
        scale = ops.where(positive, largest, ops.ones_like(largest))
        total = ops.sum(ops.power(stack / scale, self.p), axis=0)
        if self.normalize:
            total = total / self._volume
        # The root's gradient is infinite at 0: route zeros around it (on both branches, or where's gradient is NaN).
        safe = ops.where(positive, total, ops.ones_like(total))
        return ops.where(positive, ops.power(safe, 1.0 / self.p) * scale, ops.zeros_like(largest))

    def get_config(self):
        config = super().get_config()
        config.update(p=self.p, normalize=self.normalize)
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class GlobalPooling(keras.layers.Layer):
    """Global max or average pooling over every spatial axis, for rank 1, 2 or 3.

    Args:
        mode: ``"avg"`` or ``"max"``. Defaults to `"avg"`.
        keepdims: keep the spatial axes with size 1. Defaults to `False`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
    """

    def __init__(self, mode="avg", keepdims=False, data_format=None, **kwargs):
        rank_lib.check_arguments(GlobalPooling.__init__, locals())
        super().__init__(**kwargs)
        self.mode = check_mode(mode)
        self.keepdims = bool(keepdims)
        self.data_format = check_data_format(data_format)

    def _axes(self, ndim):
        return tuple(range(1, ndim - 1)) if self.data_format == "channels_last" else tuple(range(2, ndim))

    def build(self, input_shape):
        rank_lib.rank_of_shape(input_shape, f"GlobalPooling '{self.name}'")

    def call(self, inputs):
        reduce = ops.max if self.mode == "max" else ops.mean
        return reduce(inputs, axis=self._axes(len(inputs.shape)), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        axes = self._axes(len(input_shape))
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, keepdims=self.keepdims, data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class AdaptivePooling(keras.layers.Layer):
    """Pools every spatial axis to a fixed size, as PyTorch's ``AdaptiveAvgPool``.

    Bin ``i`` of an axis of length ``n`` covers ``[floor(i*n/m), ceil((i+1)*n/m))``,
    PyTorch's rule, so an input smaller than the output repeats values. Needs
    static spatial sizes; an input already of the output size passes unchanged.

    Args:
        output_size: int or tuple of ``rank`` ints.
        mode: ``"avg"`` or ``"max"``. Defaults to `"avg"`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
    """

    def __init__(self, output_size, mode="avg", data_format=None, **kwargs):
        super().__init__(**kwargs)
        rank_lib.check_positive_ints(output_size, "output_size")
        self.output_size = output_size
        self.mode = check_mode(mode)
        self.data_format = check_data_format(data_format)
        self._first_spatial = 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        rank = rank_lib.rank_of_shape(input_shape, f"AdaptivePooling '{self.name}'")
        self._out = rank_lib.normalize_tuple(self.output_size, rank, "output_size")
        dims = spatial_dims(input_shape, self.data_format)
        if any(n is None for n in dims):
            raise ValueError(
                f"AdaptivePooling '{self.name}' needs static spatial dimensions. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self._dims = dims

    def call(self, inputs):
        reduce = ops.max if self.mode == "max" else ops.mean
        x = inputs
        for axis, (n, m) in enumerate(zip(self._dims, self._out), start=self._first_spatial):
            if n == m:
                continue
            bins = []
            for i in range(m):
                start, stop = (i * n) // m, -(-((i + 1) * n) // m)
                index = [slice(None)] * len(x.shape)
                index[axis] = slice(start, stop)
                bins.append(reduce(x[tuple(index)], axis=axis, keepdims=True))
            x = ops.concatenate(bins, axis=axis)
        return x

    def compute_output_shape(self, input_shape):
        rank = len(input_shape) - 2
        out = tuple(rank_lib.normalize_tuple(self.output_size, rank, "output_size"))
        if self.data_format == "channels_first":
            return (input_shape[0], input_shape[1]) + out
        return (input_shape[0],) + out + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(output_size=self.output_size, mode=self.mode, data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class LastTimeStep(keras.layers.Layer):
    """The last position of a ``(batch, length, channels)`` sequence (channels first: ``(batch, channels,
    length)``): what a causal network has seen of all of it.

    Args:
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"LastTimeStep '{self.name}' needs a (batch, length, channels) input "
                             f"((batch, channels, length) channels first). Received: input_shape={tuple(input_shape)}")

    def call(self, inputs):
        return inputs[:, -1, :] if self.data_format == "channels_last" else inputs[:, :, -1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] if self.data_format == "channels_last" else input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format)
        return config
