"""One way to say a shape, for every command and config: ``224x224x3`` or ``224,224,3`` (``none`` for a free size)."""


def parse_shape(value, name="input_shape"):
    """``"224x224x3"``, ``"224,224,3"`` or a tuple of ints -> ``(224, 224, 3)``; 2 to 4 positive sizes.

    Args:
        value: the text or the sequence.
        name: what the error calls it (``"input_shape"``, ``"--input"``).

    Raises:
        ValueError: naming ``name`` and what was received.
    """
    if isinstance(value, str):
        parts = [p.strip() for p in value.lower().replace("x", ",").split(",")]
        try:
            shape = tuple(None if p == "none" else int(p) for p in parts)
        except ValueError:
            raise ValueError(f"{name} takes sizes such as 224x224x3 or 224,224,3. Received: {name}={value!r}") from None
    else:
        try:
            shape = tuple(value)
        except TypeError:
            raise ValueError(f"{name} must be a shape such as (224, 224, 3). Received: {name}={value!r}") from None
        if any(d is not None and (isinstance(d, bool) or not isinstance(d, int)) for d in shape):
            raise ValueError(f"{name} must hold ints. Received: {name}={value!r}")
    if not 2 <= len(shape) <= 4 or any(d is not None and d < 1 for d in shape):
        raise ValueError(f"{name} needs 2 to 4 positive sizes (L,C / H,W,C / T,H,W,C). Received: {name}={value!r}")
    return shape


def check_channels_last(shape, name="input_shape"):
    """Raises when ``shape`` (an image's or a clip's, with its channels) only makes sense channels-first.

    cnnzoo's shapes are channels-last by default, ``(H, W, C)`` and ``(T, H, W, C)``, as Keras's. A shape whose
    first axis looks like channels (1 or 3) and whose last is larger than every other size, as in
    ``(3, 224, 224)`` or ``(3, 16, 112, 112)``, is what a PyTorch user types: building it would silently
    make another network (224 input channels). The message names the channels-last form.

    Raises:
        ValueError: naming ``name``, what was received and what to write instead.
    """
    return check_layout(shape, "channels_last", name)


def check_layout(shape, data_format, name="input_shape"):
    """Raises when ``shape`` (with its channels) only makes sense in the other layout than ``data_format``:
    ``(3, 224, 224)`` for channels-last, ``(224, 224, 3)`` for channels-first. The message names both ways out.

    Raises:
        ValueError: naming ``name``, what was received and what to write instead.
    """
    shape = tuple(shape)
    if len(shape) < 3 or any(d is None for d in (shape[0], shape[-1])):
        return shape
    first = data_format == "channels_first"
    channels, last = (shape[-1], shape[0]) if first else (shape[0], shape[-1])  # the misplaced channels, if any
    middle = [d for d in shape[1:-1] if d is not None]
    if channels in (1, 3) and last not in (1, 3) and all(last >= d for d in middle):
        suggested = (shape[-1],) + shape[:-1] if first else shape[1:] + (shape[0],)
        text = "x".join("none" if d is None else str(d) for d in suggested)
        wanted, forms, other = (("channels-first", "(C, H, W), (C, T, H, W)", "channels_last") if first else
                                ("channels-last", "(H, W, C), (T, H, W, C)", "channels_first"))
        raise ValueError(f"{name} looks {'channels-last' if first else 'channels-first'}: this model is {wanted} "
                         f"({forms}; data_format={data_format!r}). Write {suggested} (or {text} on a command line), "
                         f"or build with data_format={other!r}. Received: {name}={shape}")
    return shape
    first, last, middle = shape[0], shape[-1], [d for d in shape[1:-1] if d is not None]
    if first in (1, 3) and last not in (1, 3) and all(last >= d for d in middle):
        suggested = shape[1:] + (first,)
        text = "x".join("none" if d is None else str(d) for d in suggested)
        raise ValueError(f"{name} looks channels-first: cnnzoo's shapes are channels-last ((H, W, C), (T, H, W, C), "
                         f"as Keras's default). Write {suggested} (or {text} on a command line). "
                         f"Received: {name}={shape}")
    return shape
