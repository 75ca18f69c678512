"""One way to copy weights between two models: variable by variable, by path.

Used by pretrained weight sets (the published network's weights into a model
with another head or input size) and by fine-tuning (a trained ``.keras``
model's body into a new model). Names, never order or shape, decide what goes
where; every variable that does not fit is named in one error, and nothing is
copied then.
"""

import numpy as np

# Layers that belong to the classifier: they may be absent or of another size in the target.
HEAD_PREFIXES = ("head_", "aux")


def is_head_layer(layer_name):
    """True for a classifier layer (``predictions``, ``head_*``, GoogLeNet's ``aux*``)."""
    return layer_name == "predictions" or layer_name.startswith(HEAD_PREFIXES)


def adapt_input_kernel(kernel, in_channels):
    """A first-layer kernel ``(*k, C, F)`` for ``in_channels`` inputs instead of C.

    One channel: the sum over the C input channels (a grey image replicated to C
    channels gives the same output). More channels: the C channels repeated
    cyclically and scaled by ``C / in_channels`` so the output scale is kept
    (timm's ``adapt_input_conv`` rule).
    """
    kernel = np.asarray(kernel)
    c = kernel.shape[-2]
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int. Received: in_channels={in_channels!r}")
    if in_channels == c:
        return kernel.copy()
    if in_channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    reps = -(-in_channels // c)
    tiled = np.concatenate([kernel] * reps, axis=-2)[..., :in_channels, :]
    return tiled * (c / in_channels)


def copy_weights(source, target, *, skip_head=False, adapt_first_conv=True, what=None):
    """Copies every variable of ``target`` from the variable of ``source`` with the same path.

    Args:
        source: the model the values come from.
        target: the model that receives them (same layer names).
        skip_head: classifier layers (`is_head_layer`) that ``source`` lacks or has in
            another shape keep ``target``'s values (a new head, other classes).
        adapt_first_conv: the first convolution kernel may take another number of input
            channels (`adapt_input_kernel`: RGB weights for grey images).
        what: how the error names the source (``"weights='imagenet'"``). Defaults to the
            source model's name.

    Returns:
        ``target``.

    Raises:
        ValueError: naming every variable that is missing or of another shape; nothing is copied then.
    """
    values = {v.path: v for v in source.weights}
    assignments, problems = [], []
    first_kernel = next((v.path for v in target.weights if v.path.endswith("kernel") and len(v.shape) >= 3), None)
    for v in target.weights:
        src = values.get(v.path)
        shape = tuple(v.shape)
        if src is not None and tuple(src.shape) == shape:
            assignments.append((v, np.asarray(src)))
            continue
        if (src is not None and adapt_first_conv and v.path == first_kernel and len(src.shape) == len(shape)
                and tuple(src.shape[:-2]) == shape[:-2] and src.shape[-1] == shape[-1]):
            assignments.append((v, adapt_input_kernel(np.asarray(src), int(shape[-2]))))
            continue
        if skip_head and is_head_layer(v.path.split("/")[0]):
            continue
        problems.append(f"{v.path} {shape}" + (" (missing)" if src is None else f" (source: {tuple(src.shape)})"))
    if problems:
        shown = ", ".join(problems[:8]) + (f" ... ({len(problems)} in all)" if len(problems) > 8 else "")
        raise ValueError(f"{what or f'model {source.name!r}'} do not fit {target.name!r}; nothing was copied: {shown}")
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype, copy=False))
    return target
