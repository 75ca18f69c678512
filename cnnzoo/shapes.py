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
