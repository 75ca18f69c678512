"""Writing files so a crash never leaves half of one, hashes of files, arrays and file lists, and Keras's home folder:
shared by training, data and weights.
"""

import hashlib
import os
import tempfile


def keras_home():
    """Keras's folder for downloads and caches: ``$KERAS_HOME``, else ``~/.keras``."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def short_digest(parts):
    """The first 16 hex digits of the SHA-256 of ``parts`` (bytes, or anything ``str`` writes), separated."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def array_fingerprint(*arrays):
    """A short hash of arrays' shapes, dtypes and bytes."""
    import numpy as np

    parts = []
    for array in arrays:
        array = np.ascontiguousarray(array)
        parts += [array.shape, array.dtype.str, array.tobytes()]
    return short_digest(parts)


def files_fingerprint(paths, labels=()):
    """A short hash of files' paths (as given), sizes and labels: a folder's content as a scan found it."""
    parts = []
    for i, path in enumerate(paths):
        try:
            size = os.path.getsize(path)
        except OSError:
            size = None
        parts += [os.path.abspath(path), size, labels[i] if i < len(labels) else None]
    return short_digest(parts)


def sha256(path):
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path, text):
    """Writes ``text`` to a temporary file beside ``path``, then renames it into place."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_model_save(model, path, metadata=None):
    """``model.save`` to a temporary name beside ``path``, then a rename: never a half-written model.

    ``metadata`` (a JSON-ready dict: class names, preprocessing) goes inside the file
    (`cnnzoo.compat.add_model_file_metadata`; `cnnzoo.compat.model_file_metadata` reads it back).
    """
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        if metadata is not None:
            from cnnzoo import compat

            compat.add_model_file_metadata(tmp, metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
