"""Every private Keras API cnnzoo relies on, in one place.

Keras 3 has no public way to do these few things; each function names what it
leans on. ``tests/test_compat.py`` exercises every one of them against the
installed Keras, so an upgrade that changes one fails there, by name, rather
than somewhere deep in training or analysis.

- ``keras.src``'s base classes of convolutions and poolings (MACs and receptive
  fields read their kernel, strides and padding).
- ``Layer._flatten_layers``: every nested layer once (freezing BatchNorm,
  SyncBatchNorm, pictures of kernels).
- ``Trainer._initial_epoch``: how Keras's own BackupAndRestore resumes a fit.
- ``KerasTensor._keras_history``, ``Operation._inbound_nodes``,
  ``Function._run_through_graph``: walking and re-running a functional graph.
- The layout of a Keras 3 ``.weights.h5`` file: a ``layers`` group keyed by each
  top-level layer's snake-cased class name and a counter.
"""

import re

from keras.src.layers.convolutional.base_conv import BaseConv
from keras.src.layers.pooling.base_pooling import BasePooling

__all__ = [
    "BaseConv", "BasePooling", "flatten_layers", "set_initial_epoch", "keras_history", "inbound_nodes",
    "forget_nodes_after", "run_through_graph", "weights_file_keys", "weight_shapes_by_key",
]


def flatten_layers(model):
    """Every layer nested in ``model`` (recursively), once each, the model itself left out."""
    return list(model._flatten_layers(include_self=False))


def set_initial_epoch(model, epoch):
    """The epoch the next ``model.fit`` starts from, as BackupAndRestore sets it (None: fit's argument)."""
    model._initial_epoch = epoch


def keras_history(tensor):
    """``(operation, node_index, tensor_index)`` that made a symbolic tensor, or None for a plain tensor."""
    return getattr(tensor, "_keras_history", None)


def inbound_nodes(operation):
    """The graph nodes where ``operation`` was called, in call order."""
    return operation._inbound_nodes


def forget_nodes_after(operation, count):
    """Drops the nodes added to ``operation`` after its first ``count`` (a re-run's bookkeeping)."""
    del operation._inbound_nodes[count:]


def run_through_graph(model, inputs, operation_fn):
    """Runs a functional ``model`` on ``inputs`` calling ``operation_fn(op)(*args)`` for each operation."""
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def _snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def weights_file_keys(model):
    """``[(layer, key)]``: the key of each top-level layer of ``model`` in its ``.weights.h5`` file."""
    seen = {}
    keys = []
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        keys.append((layer, base if base not in seen else f"{base}_{seen[base]}"))
        seen[base] = seen.get(base, 0) + 1
    return keys


def weight_shapes_by_key(h5_file):
    """``{top-level layer key: sorted list of variable shapes}`` from a Keras 3 ``.weights.h5`` file."""
    import h5py

    shapes = {}
    with h5py.File(h5_file, "r") as f:
        root = f["layers"] if "layers" in f else f
        for key in root:
            found = []

            def visit(_, obj, found=found):
                if isinstance(obj, h5py.Dataset):
                    found.append(tuple(obj.shape))

            root[key].visititems(visit)
            shapes[key] = sorted(found)
    return shapes



# A .keras file is a zip archive (config.json, metadata.json, model.weights.h5); Keras's loader reads those
# entries by name and ignores others (tests/test_compat.py checks it), so cnnzoo keeps what a model needs
# beside its layers (class names, input preprocessing) in an entry of its own.
MODEL_FILE_ENTRY = "cnnzoo.json"


def add_model_file_metadata(path, metadata):
    """Writes ``metadata`` (a JSON-ready dict) into the ``.keras`` file ``path`` as its ``cnnzoo.json`` entry."""
    import json
    import zipfile

    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(MODEL_FILE_ENTRY, json.dumps(metadata, indent=1, sort_keys=True))


def model_file_metadata(path):
    """The ``cnnzoo.json`` entry of a ``.keras`` file as a dict, or None (no entry, or not a ``.keras`` archive)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if MODEL_FILE_ENTRY not in archive.namelist():
                return None
            return json.loads(archive.read(MODEL_FILE_ENTRY))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
