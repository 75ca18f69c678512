"""IDX files (MNIST, Fashion-MNIST): gzipped or raw; magic number, dimensions and
record count are checked against the file's size. Every error names the file.
"""

import os

import numpy as np

from cnnzoo.data.files import DatasetFileError, read_bytes

# IDX type codes: https://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path, expected_ndim=None):
    """Reads an IDX file (gzipped or raw) into a NumPy array."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetFileError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    if ndim == 0:
        raise DatasetFileError(f"{path}: the header declares no dimensions")
    if expected_ndim is not None and ndim != expected_ndim:
        raise DatasetFileError(f"{path}: expected {expected_ndim} dimensions, the header says {ndim}")
    if len(data) < 4 + 4 * ndim:
        raise DatasetFileError(f"{path}: truncated header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise DatasetFileError(
            f"{path}: header announces {dims[0]} records ({expected} bytes) but the file holds "
            f"{len(body)} bytes; it is truncated or corrupt"
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims)


IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_file(folder, stem):
    """``folder/stem`` or ``folder/stem.gz``, whichever exists, else None."""
    for candidate in (stem + ".gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    return None


def read_idx_split(folder, split):
    """Images (N, 28, 28, 1) and labels (N,) of an MNIST-format split in ``folder``."""
    image_stem, label_stem = IDX_FILES[split]
    image_path, label_path = find_file(folder, image_stem), find_file(folder, label_stem)
    if image_path is None or label_path is None:
        raise FileNotFoundError(f"{folder}: no {image_stem}[.gz] / {label_stem}[.gz]")
    images = read_idx(image_path, expected_ndim=3)
    labels = read_idx(label_path, expected_ndim=1)
    if len(images) != len(labels):
        raise DatasetFileError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    if images.dtype != np.uint8:
        raise DatasetFileError(f"{image_path}: MNIST-format images are unsigned bytes, this file holds {images.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = np.flatnonzero((labels < 0) | (labels > 9))
        raise DatasetFileError(f"{label_path}: {len(bad)} labels outside 0..9 (the first, {int(labels[bad[0]])}, "
                               f"at record {int(bad[0])})")
    return images[..., None], labels.astype(np.int64)
