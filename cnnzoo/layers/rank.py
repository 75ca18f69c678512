"""Rank lookups and argument helpers shared by every block.

Keras's own ``BaseConv(rank, ...)`` serves Conv1D/2D/3D from one implementation;
cnnzoo does the same one level up: every block asks these tables for the layer
class of its rank instead of keeping a copy per rank.
"""

import keras

from cnnzoo.layers import convolution

RANKS = (1, 2, 3)

# Keras's layers with the backend's kernel where cnnzoo has one (cnnzoo.layers.convolution; Conv1D stays Keras's)
CONV = {1: keras.layers.Conv1D, 2: convolution.Conv2D, 3: convolution.Conv3D}
MAX_POOL = {1: convolution.MaxPooling1D, 2: convolution.MaxPooling2D, 3: convolution.MaxPooling3D}
AVG_POOL = {
    1: keras.layers.AveragePooling1D,
    2: keras.layers.AveragePooling2D,
    3: keras.layers.AveragePooling3D,
}
STRING_PADDINGS = ("same", "valid", "causal")
ZERO_PADDING = {
    1: keras.layers.ZeroPadding1D,
    2: keras.layers.ZeroPadding2D,
    3: keras.layers.ZeroPadding3D,
}


def check_rank(rank, name="rank"):
    """Returns ``rank`` if it is 1, 2 or 3, else raises ``ValueError``."""
    if isinstance(rank, bool) or rank not in RANKS:
        raise ValueError(f"{name} must be 1, 2 or 3. Received: {name}={rank!r}")
    return int(rank)


def rank_of_shape(input_shape, owner):
    """The spatial rank of a ``(batch, *spatial, channels)`` shape.

    Args:
        input_shape: a full shape, batch dimension included.
        owner: the name of the layer or model asking, for the error message.

    Returns:
        1, 2 or 3.
    """
    ndim = len(input_shape)
    if ndim - 2 not in RANKS:
        raise ValueError(
            f"{owner} expects a 3D, 4D or 5D input (batch, *spatial, channels) for "
            f"rank 1, 2 or 3. Received: input_shape={tuple(input_shape)}"
        )
    return ndim - 2


def normalize_tuple(value, rank, name, minimum=1):
    """Turns an int or a sequence into a ``rank``-length tuple of ints.

    Args:
        value: an int, or a sequence of ``rank`` ints.
        rank: the length wanted.
        name: the argument's name, for error messages.
        minimum: the smallest value allowed. Defaults to `1`.

    Returns:
        A tuple of ``rank`` ints.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a tuple of ints. Received: {name}={value!r}")
    if isinstance(value, int):
        values = (value,) * rank
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a tuple of ints. Received: {name}={value!r}"
            ) from None
        if len(values) != rank:
            raise ValueError(
                f"{name} must have {rank} entries for a rank-{rank} layer. "
                f"Received: {name}={value!r}"
            )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must contain ints. Received: {name}={value!r}")
        if v < minimum:
            word = "positive" if minimum == 1 else f">= {minimum}"
            raise ValueError(f"{name} must be {word}. Received: {name}={value!r}")
    return values


def check_arguments(func, arguments):
    """Types every argument by its default: one validation rule for every builder and block.

    A parameter whose default is a bool takes only a bool (``preact="no"`` is an
    error, not a truthy "yes"); one whose default is an int or a float takes only a
    finite real number (not a bool, not NaN or infinity) or a per-axis tuple;
    parameters with a None default are left to their owner, as are range checks.

    Args:
        func: the builder or ``__init__`` whose signature gives the defaults.
        arguments: ``{name: value}`` as called (``locals()`` of an ``__init__`` works).

    Raises:
        TypeError / ValueError naming the argument and what was received.
    """
    import inspect
    import math

    for name, p in inspect.signature(func).parameters.items():
        if name not in arguments:  # (a default of None or none at all is neither a bool nor a number below)
            continue
        value, default = arguments[name], p.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
        elif isinstance(default, (int, float)):
            if isinstance(value, (tuple, list)):
                continue  # per-axis values (strides, kernel sizes): their owner checks each entry
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number. Received: {name}={value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite. Received: {name}={value!r}")


def positive_int(value, name, allow_none=False):
    """``value`` when it is an int >= 1 (or None with ``allow_none``); raises naming ``name``."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        kind = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"{name} must be {kind}. Received: {name}={value!r}")
    return value


def check_positive_ints(value, name):
    """Validates an int-or-tuple argument whose rank is not known yet."""
    if isinstance(value, int) and not isinstance(value, bool):
        normalize_tuple(value, 1, name)
    else:
        try:
            n = len(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a tuple of ints. Received: {name}={value!r}"
            ) from None
        if n not in RANKS:
            raise ValueError(f"{name} must have 1, 2 or 3 entries. Received: {name}={value!r}")
        normalize_tuple(value, n, name)
    return value


def check_padding(padding, name="padding"):
    """Validates ``padding``: a string mode, or explicit zero padding.

    Explicit padding is an int (every side of every axis), a tuple of ints (one
    per axis, both sides) or a tuple of ``(before, after)`` pairs.
    """
    if isinstance(padding, str):
        if padding.lower() not in STRING_PADDINGS:
            raise ValueError(
                f"{name} must be one of {STRING_PADDINGS}, an int or a tuple. "
                f"Received: {name}={padding!r}"
            )
        return padding.lower()
    if isinstance(padding, bool):
        raise TypeError(f"{name} must be a string, an int or a tuple. Received: {name}={padding!r}")
    if isinstance(padding, int):
        if padding < 0:
            raise ValueError(f"{name} must be non-negative. Received: {name}={padding!r}")
        return padding
    try:
        entries = list(padding)
    except TypeError:
        raise TypeError(
            f"{name} must be a string, an int or a tuple. Received: {name}={padding!r}"
        ) from None
    if len(entries) not in RANKS:
        raise ValueError(f"{name} must have 1, 2 or 3 entries. Received: {name}={padding!r}")
    for entry in entries:
        pair = entry if isinstance(entry, (tuple, list)) else (entry, entry)
        if len(pair) != 2:
            raise ValueError(f"{name} pairs must be (before, after). Received: {name}={padding!r}")
        for v in pair:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(
                    f"{name} must contain non-negative ints. Received: {name}={padding!r}"
                )
    return tuple(tuple(e) if isinstance(e, (tuple, list)) else e for e in entries)


def explicit_padding_pairs(padding, rank, name="padding"):
    """Explicit padding as a ``rank``-tuple of ``(before, after)`` pairs."""
    if isinstance(padding, int):
        return ((padding, padding),) * rank
    if len(padding) != rank:
        raise ValueError(
            f"{name} must have {rank} entries for a rank-{rank} layer. Received: {name}={padding!r}"
        )
    return tuple(tuple(p) if isinstance(p, tuple) else (p, p) for p in padding)


def same_padding_pairs(kernel_size, strides, dilation_rate):
    """The ``(before, after)`` pairs that Keras's ``"same"`` uses at stride 1.

    At stride 1 the total is ``d*(k-1)`` whatever the input size, so explicit
    padding equal to this can run as ``"same"`` without a padding layer.
    """
    pairs = []
    for k, s, d in zip(kernel_size, strides, dilation_rate):
        if s != 1:
            return None
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def conv_output_length(n, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """The closed form ``floor((n + p - d(k-1) - 1)/s) + 1``.

    Args:
        n: input length, or None.
        kernel_size: the window, an int.
        stride: an int.
        padding: ``"same"``, ``"valid"``, ``"causal"`` or a ``(before, after)`` pair.
        ceil_mode: PyTorch's pooling ``ceil_mode``: the ceiling instead of the
            floor, less one when the last window would start beyond the input
            and its leading padding. Defaults to `False`.
        dilation: an int. Defaults to `1`.

    Returns:
        The output length, or None when ``n`` is None.
    """
    if n is None:
        return None
    if padding == "same":
        return -(-n // stride)
    before = 0
    if padding == "valid":
        total = 0
    elif padding == "causal":
        total = before = dilation * (kernel_size - 1)
    else:
        before, total = padding[0], padding[0] + padding[1]
    span = n + total - dilation * (kernel_size - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if out > 1 and (out - 1) * stride >= n + before:
        out -= 1
    return out


def check_data_format(data_format):
    """Returns ``"channels_last"`` or ``"channels_first"``; None means ``keras.config.image_data_format()``, as
    for Keras's own layers (the layer then records the layout it was built with).
    """
    if data_format is None:
        return keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format
