"""Model inspection: parameters, multiply-accumulates and receptive fields, per layer.

``summary(model_or_name)`` replays the model's graph on symbolic inputs with
every cnnzoo block opened up (a block's ``call`` runs on Keras tensors, so its
convolutions, pools, paddings, slices, additions and concatenations all become
graph nodes), then walks that graph once in topological order:

- **MACs** (multiply-accumulates per example): convolutions count
  output elements x kernel volume x in_channels / groups; dense layers (and
  LeNet-5's RBF output) count in x out. Nothing else counts: normalization,
  activations, pooling, additions and padding are left out, the usual
  convention (torchvision's "GFLOPS" field is this number).
- **Receptive field** per spatial axis as ``(size, jump, start)``: the extent
  of input seen by one output unit, the distance between neighbouring units'
  fields (effective stride), and the centre of unit 0's field in input pixels.
  Convolutions and pools grow it by ``d(k-1) * jump``; strides multiply the
  jump; padding and slicing move the start; where paths merge (residual
  additions, Inception concatenations) the field is the union of the paths'
  fields, so the largest path wins. Global pooling, flattening and dense
  layers see the whole input (``None``).
- **Parameters**: ``convention="keras"`` counts every weight, BatchNorm moving
  statistics included (Keras's ``count_params()``); ``"torch"`` leaves those
  statistics out (PyTorch counts them as buffers, not parameters).
"""

import dataclasses

import keras
import numpy as np

from cnnzoo import compat, registry

CONVENTIONS = ("keras", "torch")
# cnnzoo layers analysed as one unit instead of being opened up
_OPAQUE = ("AdaptivePooling", "RBFOutput")


def _is_bn_statistic(variable):
    return variable.path.rsplit("/", 1)[-1] in ("moving_mean", "moving_variance")


def count_params(model_or_layer, convention="torch", trainable=None):
    """Counts parameters.

    Args:
        model_or_layer: a built Keras model or layer.
        convention: ``"torch"`` (no BatchNorm moving statistics) or ``"keras"``
            (every weight, as ``count_params()``). Defaults to `"torch"`.
        trainable: None for all weights, True / False for only (non-)trainable ones.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}. Received: convention={convention!r}")
    if trainable is None:
        weights = model_or_layer.weights
    else:
        weights = model_or_layer.trainable_weights if trainable else model_or_layer.non_trainable_weights
    return sum(int(np.prod(w.shape)) for w in weights if convention == "keras" or not _is_bn_statistic(w))


@dataclasses.dataclass(frozen=True)
class Field:
    """Receptive field along one spatial axis."""

    size: float
    jump: float
    start: float


@dataclasses.dataclass
class Row:
    """One layer of a `Summary`: name, kind, output shape, parameters, BatchNorm statistics, MACs, receptive field."""
    name: str
    kind: str
    output_shape: tuple
    trainable_params: int
    non_trainable_params: int
    bn_statistics: int
    macs: int
    receptive_field: tuple  # one Field per spatial axis, or None (the whole input)

    def params(self, convention="torch"):
        total = self.trainable_params + self.non_trainable_params
        return total if convention == "keras" else total - self.bn_statistics


@dataclasses.dataclass(repr=False)
class Summary:
    """Per-layer rows and totals; ``str()`` (and the REPL's echo) is the printed table, ``to_dict()`` the JSON form."""

    def __repr__(self):  # a REPL shows the table, not the dataclass's fields
        return str(self)

    name: str
    input_shape: tuple
    rows: list

    @property
    def macs(self):
        return sum(r.macs for r in self.rows)

    def params(self, convention="torch"):
        return sum(r.params(convention) for r in self.rows)

    @property
    def trainable_params(self):
        return sum(r.trainable_params for r in self.rows)

    def to_dict(self):
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "macs": self.macs,
            "params_torch": self.params("torch"),
            "params_keras": self.params("keras"),
            "trainable_params": self.trainable_params,
            "layers": [
                {
                    "name": r.name, "kind": r.kind, "output_shape": list(r.output_shape),
                    "trainable_params": r.trainable_params,
                    "non_trainable_params": r.non_trainable_params, "macs": r.macs,
                    "receptive_field": None if r.receptive_field is None
                    else [dataclasses.asdict(f) for f in r.receptive_field],
                }
                for r in self.rows
            ],
        }

    def __str__(self):
        header = (f"{'layer':<24} {'kind':<18} {'output shape':<22} {'params':>12} {'MACs':>15}  "
                  "receptive field (size/jump/start)")
        lines = [f"{self.name}  input {tuple(self.input_shape)}", header, "-" * len(header)]
        for r in self.rows:
            rf = "all" if r.receptive_field is None else " x ".join(
                f"{_fmt(f.size)}/{_fmt(f.jump)}/{_fmt(f.start)}" for f in r.receptive_field)
            lines.append(f"{r.name[:24]:<24} {r.kind[:18]:<18} {str(tuple(r.output_shape))[:22]:<22} "
                         f"{r.params('keras'):>12,} {r.macs:>15,}  {rf}")
        lines.append("-" * len(header))
        lines.append(f"parameters: {self.params('torch'):,} (torch convention: no BatchNorm statistics), "
                     f"{self.params('keras'):,} (keras count_params), {self.trainable_params:,} trainable")
        lines.append(f"multiply-accumulates per example: {self.macs:,} ({_si(self.macs)})")
        return "\n".join(lines)


def _fmt(v):
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def _si(n):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(n)


# ---- per-operation rules ----

def _spatial(shape):
    return tuple(shape[1:-1])


def _same_before(n, k, s, d):
    if n is None:
        return (d * (k - 1)) // 2
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2


def _window(fields, in_shape, kernel, strides, dilation, padding):
    if fields is None:
        return None
    out = []
    for f, n, k, s, d in zip(fields, _spatial(in_shape), kernel, strides, dilation):
        if padding == "valid":
            before = 0
        elif padding == "causal":
            before = d * (k - 1)
        else:
            before = _same_before(n, k, s, d)
        out.append(Field(f.size + d * (k - 1) * f.jump, f.jump * s, f.start + (d * (k - 1) / 2 - before) * f.jump))
    return tuple(out)


def _union(all_fields):
    spatial = [f for f in all_fields if f is not None]
    if len(spatial) != len(all_fields) or not spatial:
        return None
    out = []
    for axis_fields in zip(*spatial):
        lo = min(f.start - (f.size - 1) / 2 * 1 for f in axis_fields)
        hi = max(f.start + (f.size - 1) / 2 * 1 for f in axis_fields)
        out.append(Field(hi - lo + 1, max(f.jump for f in axis_fields), (lo + hi) / 2))
    return tuple(out)


def _conv_macs(layer, in_shape, out_shape):
    kernel = int(np.prod(layer.kernel_size))
    groups = getattr(layer, "groups", 1) or 1
    return int(np.prod(_spatial(out_shape))) * layer.filters * kernel * int(in_shape[-1]) // groups


def _rule(op, node, inputs, in_fields, outputs, rank):
    """Returns (macs, output fields) for one graph operation."""
    name = type(op).__name__
    in_shape = tuple(inputs[0].shape) if inputs else None
    out_shape = tuple(outputs[0].shape)
    spatial_out = len(out_shape) == rank + 2
    if isinstance(op, keras.layers.InputLayer):
        return 0, tuple(Field(1, 1, 0.0) for _ in range(rank))
    if isinstance(op, compat.BaseConv):
        fields = _window(in_fields[0], in_shape, op.kernel_size, op.strides, op.dilation_rate, op.padding)
        return _conv_macs(op, in_shape, out_shape), fields
    if isinstance(op, compat.BasePooling):
        return 0, _window(in_fields[0], in_shape, op.pool_size, op.strides, (1,) * rank, op.padding)
    if isinstance(op, keras.layers.Dense):
        macs = int(np.prod(in_shape[1:-1] or (1,))) * int(in_shape[-1]) * op.units
        return macs, in_fields[0] if spatial_out and len(in_shape) == rank + 2 else None
    if name == "RBFOutput":
        return int(in_shape[-1]) * op.units, None
    if name == "AdaptivePooling":
        if in_fields[0] is None:
            return 0, None
        fields = []
        for f, n, m in zip(in_fields[0], _spatial(in_shape), _spatial(out_shape)):
            if n == m:
                fields.append(f)
            else:  # bins of about n/m, the largest ceil(n/m)
                k = -(-n // m)
                fields.append(Field(f.size + (k - 1) * f.jump, f.jump * n / m, f.start + (k - 1) / 2 * f.jump))
        return 0, tuple(fields)
    if isinstance(op, (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D)):
        if in_fields[0] is None:
            return 0, None
        pads = [op.padding] if rank == 1 else list(op.padding)  # (before, after) per spatial axis
        return 0, tuple(Field(f.size, f.jump, f.start - pads[a][0] * f.jump) for a, f in enumerate(in_fields[0]))
    if name == "Pad":
        if in_fields[0] is None:
            return 0, None
        pads = op.pad_width
        return 0, tuple(Field(f.size, f.jump, f.start - pads[a + 1][0] * f.jump) for a, f in enumerate(in_fields[0]))
    if name == "GetItem":
        args = node.arguments.args
        key = args[1] if len(args) > 1 else node.arguments.kwargs.get("key")
        if in_fields[0] is None or not spatial_out:
            return 0, None if not spatial_out else in_fields[0]
        key = tuple(key) if isinstance(key, (tuple, list)) else (key,)
        fields = list(in_fields[0])
        for axis, k in enumerate(key[1 : rank + 1]):
            if isinstance(k, slice):
                first = k.start or 0
                fields[axis] = Field(fields[axis].size, fields[axis].jump * (k.step or 1),
                                     fields[axis].start + first * fields[axis].jump)
        return 0, tuple(fields)
    if not spatial_out:
        return 0, None  # flatten, global pooling, reshape: the whole input
    spatial_inputs = [f for t, f in zip(inputs, in_fields) if len(t.shape) == rank + 2]
    if len(spatial_inputs) > 1:
        return 0, _union(spatial_inputs)
    if spatial_inputs and _spatial(in_shape) == _spatial(out_shape):
        return 0, spatial_inputs[0]  # elementwise: norms, activations, dropout, LRN, channel gathers
    return 0, None


# ---- replaying the graph with the blocks opened up ----

class _Recorder:
    def __init__(self, rank):
        self.rank = rank
        self.fields = {}  # id(KerasTensor) -> fields
        self.macs = 0
        self.seen = set()

    def visit(self, tensor):
        """Propagates fields to ``tensor`` through every node that produced it."""
        if id(tensor) in self.fields:
            return self.fields[id(tensor)]
        history = compat.keras_history(tensor)
        if history is None:
            return None
        op, node_index, _ = history
        node = compat.inbound_nodes(op)[node_index]
        inputs = list(node.input_tensors)
        in_fields = [self.visit(t) for t in inputs]
        macs, out_fields = _rule(op, node, inputs, in_fields, list(node.outputs), self.rank)
        if id(node) not in self.seen:
            self.seen.add(id(node))
            self.macs += macs
        for out in node.outputs:
            self.fields[id(out)] = out_fields
        return out_fields


def _opens(layer):
    # cnnzoo's Conv2D/3D and MaxPooling1D/2D/3D are Keras's with another kernel (cnnzoo.layers.convolution):
    # analysed as Keras's
    return (type(layer).__module__.startswith("cnnzoo.") and type(layer).__name__ not in _OPAQUE
            and not isinstance(layer, (compat.BaseConv, compat.BasePooling)))


def summary(model_or_name, input_shape=None, print_fn=None):
    """Per-layer output shapes, parameters, MACs and receptive fields of a model.

    Args:
        model_or_name: a Keras functional model or a registered model name.
        input_shape: for a name, the input shape to build it with; for a model,
            concrete sizes for its unknown (None) dimensions. Defaults to `None`.
        print_fn: called with the table (e.g. ``print``); None prints nothing.

    Returns:
        A `Summary`.
    """
    if isinstance(model_or_name, str):
        kwargs = {} if input_shape is None else {"input_shape": tuple(input_shape)}
        model = registry.get_model(model_or_name, **kwargs)
    elif isinstance(model_or_name, keras.Model):
        model = model_or_name
    else:
        raise TypeError(f"model_or_name must be a keras.Model or a registered name. Received: {model_or_name!r}")
    if not hasattr(model, "_run_through_graph") or len(model.inputs) != 1:
        raise ValueError(f"summary needs a functional model with one input. Received: model={model.name!r}")
    shape = tuple(model.inputs[0].shape[1:])
    if input_shape is not None and not isinstance(model_or_name, str):
        given = tuple(input_shape)
        if len(given) != len(shape) or any(a is not None and a != b for a, b in zip(shape, given)):
            raise ValueError(f"input_shape {given} does not fit the model's input {shape}")
        shape = given
    rank = len(shape) - 1
    recorder = _Recorder(rank)
    rows = []
    original_call = keras.layers.Layer.__call__
    created = []  # (layer, number of inbound nodes before), to undo the replay's side effects

    def opened_call(self, *args, **kwargs):
        if _opens(self):
            kwargs.pop("training", None)
            kwargs.pop("mask", None)
            return self.call(*args, **kwargs)
        created.append((self, len(compat.inbound_nodes(self))))
        return original_call(self, *args, **kwargs)

    def operation_fn(op):
        def run(*args, **kwargs):
            kwargs.pop("training", None)
            before = recorder.macs
            out = opened_call(op, *args, **kwargs)
            outputs = keras.tree.flatten(out)
            fields = recorder.visit(outputs[0])
            recorder_macs = recorder.macs - before
            if not isinstance(op, keras.layers.InputLayer):
                trainable = count_params(op, "keras", trainable=True)
                non_trainable = count_params(op, "keras", trainable=False)
                stats = count_params(op, "keras") - count_params(op, "torch")
                rows.append(Row(op.name, type(op).__name__, tuple(outputs[0].shape), trainable, non_trainable,
                                stats, recorder_macs, fields))
            return out

        return run

    keras.layers.Layer.__call__ = opened_call
    try:
        x = keras.Input(shape, batch_size=1, name="analysis_input")
        outputs = compat.run_through_graph(model, x, operation_fn)
        for t in keras.tree.flatten(outputs):
            recorder.visit(t)
    finally:
        keras.layers.Layer.__call__ = original_call
        for layer, count in created:
            compat.forget_nodes_after(layer, count)
    result = Summary(model.name, shape, rows)
    if print_fn is not None:
        print_fn(str(result))
    return result


def receptive_field(model_or_name, layer_name, input_shape=None):
    """The receptive field (one `Field` per spatial axis) of a layer's output units."""
    result = summary(model_or_name, input_shape=input_shape)
    for row in result.rows:
        if row.name == layer_name:
            return row.receptive_field
    raise ValueError(f"No layer named {layer_name!r} in {result.name}. Received: layer_name={layer_name!r}")
