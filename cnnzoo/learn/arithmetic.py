"""Convolution arithmetic with its formulas filled in: output size, parameters, MACs, receptive field.

``conv_arithmetic((32, 32, 3), "conv 5x5 10 p2")`` answers the primer's question
(a 32x32x3 input, ten 5x5 filters, stride 1, pad 2: what shape, how many
parameters?) and shows the working: ``floor((32 + 2 + 2 - 1*(5-1) - 1) / 1) + 1 = 32``,
``10 x (5*5*3/1 + 1) = 760``. A stack (``"conv 3x3 64, conv 3x3 64, pool 2"``)
gives the growth layer by layer. ``cnnzoo conv`` prints the same.

Layer syntax (comma-separated): ``conv K F [options]``, ``pool K [options]`` (max),
``maxpool K``, ``avgpool K``; ``K`` is ``3`` or ``3x3`` (``3x3x3`` in 3D). Options:
``s2`` / ``stride=2``, ``p1`` / ``pad=1`` / ``same`` / ``valid``, ``d2`` /
``dilation=2``, ``g2`` / ``groups=2``. Convolutions default to stride 1 and no
padding; pools to a stride equal to their size. ``same`` is Keras's rule: the
output is ``ceil(n / s)``, the odd pixel of padding after.
"""

import dataclasses
import math
import re

KINDS = {"conv": "conv", "pool": "max", "maxpool": "max", "avgpool": "avg"}


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer of a stack: ``kind`` is ``"conv"``, ``"max"`` or ``"avg"``."""

    kind: str
    kernel: tuple
    filters: int = None
    strides: tuple = None
    padding: object = "valid"  # "valid", "same", or one int per axis
    dilation: tuple = None
    groups: int = 1
    text: str = ""


@dataclasses.dataclass
class LayerArithmetic:
    """What one layer does to the shape, with the working."""

    spec: LayerSpec
    input_shape: tuple
    output_shape: tuple
    params: int
    macs: int
    receptive_field: tuple  # per spatial axis, in input pixels
    jump: tuple  # per spatial axis: input pixels between neighbouring output units
    padding: tuple  # (before, after) per axis
    formulas: dict  # "output", "params", "macs", "receptive_field", "unshared", "dense": the working, as text
    unshared_params: int = 0  # the same connections without weight sharing (a locally connected layer)
    dense_params: int = 0  # a fully connected layer from this input to this output


def _positive(text, what, layer):
    if not re.fullmatch(r"\d+", text) or int(text) < 1:
        raise ValueError(f"{what} must be a positive int in {layer!r}. Received: {text!r}")
    return int(text)


def _per_axis(text, rank, what, layer):
    parts = text.lower().split("x")
    values = tuple(_positive(p, what, layer) for p in parts)
    if len(values) == 1:
        return values * rank
    if len(values) != rank:
        raise ValueError(f"{what} {text!r} in {layer!r} has {len(values)} sizes for a {rank}D input")
    return values


def parse_layers(text, rank):
    """``"conv 3x3 64 s2 p1, pool 2"`` -> a list of `LayerSpec` for a ``rank``-D input."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"layers must be a non-empty string such as 'conv 3x3 64, pool 2'. Received: {text!r}")
    specs = []
    for layer in (part.strip() for part in text.split(",")):
        tokens = layer.split()
        if not tokens or tokens[0].lower() not in KINDS:
            raise ValueError(f"each layer starts with one of {sorted(KINDS)}. Received: {layer!r}")
        kind = KINDS[tokens[0].lower()]
        if len(tokens) < (3 if kind == "conv" else 2):
            form = "conv K F (e.g. conv 3x3 64)" if kind == "conv" else "pool K (e.g. pool 2)"
            raise ValueError(f"a layer reads {form}. Received: {layer!r}")
        kernel = _per_axis(tokens[1], rank, "the kernel size", layer)
        filters = _positive(tokens[2], "the number of filters", layer) if kind == "conv" else None
        options = dict(strides=(1,) * rank if kind == "conv" else kernel, padding="valid", dilation=(1,) * rank,
                       groups=1)
        for token in tokens[3 if kind == "conv" else 2:]:
            t = token.lower()
            if t in ("same", "valid"):
                options["padding"] = t
            elif t in ("max", "avg") and kind != "conv":
                kind = t
            else:
                m = re.fullmatch(r"(s|stride|p|pad|padding|d|dilation|g|groups)=?([\dx]+)", t)
                if not m:
                    raise ValueError(f"unknown option {token!r} in {layer!r}: use s2, p1, same, valid, d2, g2")
                key = {"s": "strides", "stride": "strides", "p": "padding", "pad": "padding", "padding": "padding",
                       "d": "dilation", "dilation": "dilation", "g": "groups", "groups": "groups"}[m[1]]
                if key == "padding":
                    values = tuple(int(v) for v in m[2].split("x"))
                    options[key] = values * rank if len(values) == 1 else values
                    if len(options[key]) != rank:
                        raise ValueError(f"padding {m[2]!r} in {layer!r} has {len(values)} sizes for a {rank}D input")
                elif key == "groups":
                    options[key] = _positive(m[2], "groups", layer)
                else:
                    options[key] = _per_axis(m[2], rank, key, layer)
        if kind != "conv" and (options["groups"] != 1 or max(options["dilation"]) > 1):
            raise ValueError(f"pools take no groups or dilation. Received: {layer!r}")
        specs.append(LayerSpec(kind, kernel, filters, text=layer, **options))
    return specs


def _pairs(spec, sizes):
    if spec.padding == "valid":
        return tuple((0, 0) for _ in sizes)
    if spec.padding == "same":
        out = []
        for n, k, s, d in zip(sizes, spec.kernel, spec.strides, spec.dilation):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    return tuple((p, p) for p in spec.padding)


def _join(values, sep="*"):
    return sep.join(str(v) for v in values)


def _axes(parts):
    """Per-axis working, said once when every axis is the same."""
    return f"{parts[0]} (each axis)" if len(parts) > 1 and len(set(parts)) == 1 else "; ".join(parts)


def conv_arithmetic(input_shape, layers):
    """The shape, parameters, MACs and receptive field after each layer of a stack, with the working.

    Args:
        input_shape: ``(L, C)``, ``(H, W, C)`` or ``(T, H, W, C)``.
        layers: a layer string (see the module docstring) or a list of `LayerSpec`.

    Returns:
        A list of `LayerArithmetic`, one per layer.
    """
    shape = tuple(input_shape)
    if not 2 <= len(shape) <= 4 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(f"input_shape must be 2 to 4 positive ints (L,C / H,W,C / T,H,W,C). "
                         f"Received: input_shape={input_shape!r}")
    rank = len(shape) - 1
    specs = parse_layers(layers, rank) if isinstance(layers, str) else list(layers)
    field, jump = (1,) * rank, (1,) * rank
    rows = []
    for spec in specs:
        sizes, channels = shape[:-1], shape[-1]
        pairs = _pairs(spec, sizes)
        out = tuple((n + a + b - d * (k - 1) - 1) // s + 1
                    for n, (a, b), k, s, d in zip(sizes, pairs, spec.kernel, spec.strides, spec.dilation))
        if any(o < 1 for o in out):
            raise ValueError(f"{spec.text!r}: the kernel is larger than the padded input {sizes}")
        if spec.kind == "conv" and (channels % spec.groups or spec.filters % spec.groups):
            raise ValueError(f"{spec.text!r}: groups={spec.groups} must divide the input channels ({channels}) "
                             f"and the filters ({spec.filters})")
        out_channels = spec.filters if spec.kind == "conv" else channels
        output_axes = []
        for n, (a, b), k, s, d, o in zip(sizes, pairs, spec.kernel, spec.strides, spec.dilation, out):
            output_axes.append(f"floor(({n} + {a} + {b} - {d}*({k}-1) - 1) / {s}) + 1 = {o}")
        volume = math.prod(spec.kernel)
        if spec.kind == "conv":
            params = spec.filters * (volume * channels // spec.groups + 1)
            params_text = (f"F x (k-volume * C/groups + bias) = {spec.filters} x ({_join(spec.kernel)}*{channels}"
                           f"/{spec.groups} + 1) = {params:,}")
            macs = math.prod(out) * spec.filters * volume * channels // spec.groups
            macs_text = (f"outputs x k-volume x C/groups = ({_join(out)}*{spec.filters}) x {volume} x "
                         f"{channels}/{spec.groups} = {macs:,}")
            positions = math.prod(out)
            unshared = positions * params
            unshared_text = (f"output positions x the layer's parameters = {_join(out)} x {params:,} = {unshared:,} "
                             f"(weight sharing divides by {positions:,})")
            inputs, outputs = math.prod(sizes) * channels, positions * spec.filters
            dense = inputs * outputs + outputs
            dense_text = f"inputs x outputs + biases = {inputs:,} x {outputs:,} + {outputs:,} = {dense:,}"
        else:
            params, macs, unshared, dense = 0, 0, 0, 0
            params_text = "0 (pooling has no weights)"
            macs_text = "0 (comparisons or additions, not multiply-accumulates)"
            unshared_text = dense_text = ""
        new_field = tuple(r + (k - 1) * d * j for r, k, d, j in zip(field, spec.kernel, spec.dilation, jump))
        new_jump = tuple(j * s for j, s in zip(jump, spec.strides))
        field_text = _axes([f"{r} + ({k}-1)*{d}*{j} = {nr}, jump {j}*{s} = {nj}" for r, k, d, j, nr, s, nj in
                            zip(field, spec.kernel, spec.dilation, jump, new_field, spec.strides, new_jump)])
        rows.append(LayerArithmetic(
            spec, shape, out + (out_channels,), params, macs, new_field, new_jump, pairs,
            {"output": _axes(output_axes), "params": params_text, "macs": macs_text,
             "receptive_field": field_text, "unshared": unshared_text, "dense": dense_text},
            unshared, dense,
        ))
        shape, field, jump = out + (out_channels,), new_field, new_jump
    return rows


def format_arithmetic(input_shape, rows):
    """The report `cnnzoo conv` prints."""
    lines = [f"input {tuple(input_shape)}"]
    for i, row in enumerate(rows, start=1):
        spec = row.spec
        what = (f"conv {_join(spec.kernel, 'x')}, {spec.filters} filters" if spec.kind == "conv"
                else f"{spec.kind} pool {_join(spec.kernel, 'x')}")
        lines += [
            f"layer {i}: {what}, stride {_join(spec.strides, 'x')}, padding "
            f"{_axes([f'{a}+{b}' for a, b in row.padding])}"
            + (f" ({spec.padding})" if isinstance(spec.padding, str) else "")
            + (f", dilation {_join(spec.dilation, 'x')}, groups {spec.groups}" if spec.kind == "conv" else ""),
            f"  output size      floor((n + pad - d*(k-1) - 1) / s) + 1: {row.formulas['output']}"
            f"  -> {row.output_shape}",
            f"  parameters       {row.formulas['params']}",
            f"  MACs             {row.formulas['macs']}",
            f"  receptive field  r + (k-1)*d*jump: {row.formulas['receptive_field']}",
        ]
        if spec.kind == "conv":
            lines += [f"  without sharing  {row.formulas['unshared']}",
                      f"  fully connected  {row.formulas['dense']}"]
    if rows:
        lines.append(f"stack: output {rows[-1].output_shape}, receptive field {_join(rows[-1].receptive_field, 'x')}, "
                     f"{sum(r.params for r in rows):,} parameters, {sum(r.macs for r in rows):,} MACs per example")
    return "\n".join(lines)
