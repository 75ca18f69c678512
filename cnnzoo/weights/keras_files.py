"""Keras weight files (``.weights.h5``, ``.keras``) into a cnnzoo model, checked layer by layer first."""

import os
import tempfile
import zipfile

from cnnzoo import compat


def load_keras_weights(model, path):
    """Loads a ``.weights.h5`` or ``.keras`` file of the same architecture into ``model``.

    The file's variables are compared with the model's, layer by layer, first:
    a mismatch raises ``ValueError`` naming the first layer that does not fit,
    and nothing is loaded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"weights file not found. Received: weights={path!r}")
    if not path.endswith((".keras", ".weights.h5")):
        raise ValueError(f"weights must end in .weights.h5 or .keras. Received: weights={path!r}")
    with tempfile.TemporaryDirectory() as tmp:
        h5_path = path
        if path.endswith(".keras"):
            try:
                with zipfile.ZipFile(path) as archive:
                    archive.extract("model.weights.h5", tmp)
            except (zipfile.BadZipFile, KeyError, OSError) as e:
                raise ValueError(f"weights={path!r} is not a readable .keras file ({type(e).__name__}: {e})") from None
            h5_path = os.path.join(tmp, "model.weights.h5")
        try:
            stored = compat.weight_shapes_by_key(h5_path)
        except OSError as e:  # h5py's errors for an empty, truncated or foreign file
            raise ValueError(f"weights={path!r} is not a readable Keras weights file ({e})") from None
        for layer, key in compat.weights_file_keys(model):
            ours = sorted(tuple(v.shape) for v in layer.weights)
            theirs = stored.get(key, [])
            if ours != theirs:
                raise ValueError(
                    f"weights={path!r} does not fit this model: layer '{layer.name}' has "
                    f"variables of shapes {ours}, the file has {theirs} in its place."
                )
        model.load_weights(h5_path)
