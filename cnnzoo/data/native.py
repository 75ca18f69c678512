"""Readers of the datasets' own file formats, with sanity checks.

- IDX (MNIST, Fashion-MNIST): gzipped or raw; magic number, dimensions and
  record count are checked against the file's size.
- CIFAR python pickles (``cifar-10-batches-py``, ``cifar-100-python``) and
  binary batches (``cifar-10-batches-bin``, ``cifar-100-binary``).

Every error names the file. Readers return NumPy arrays: ``images`` uint8 of
shape (N, H, W, C) and ``labels`` int64 of shape (N,).
"""

import gzip
import os
import pickle

import numpy as np


class DatasetFileError(ValueError):
    """A dataset file is missing, truncated or not what its name says."""


# IDX type codes: https://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise DatasetFileError(f"{path}: cannot be read ({e}); the file may be truncated") from None


def read_idx(path, expected_ndim=None):
    """Reads an IDX file (gzipped or raw) into a NumPy array."""
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetFileError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
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


# name: (folder, train files, test files, label key, records per file)
CIFAR_PICKLE = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10000),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", None),
}
# name: (folder, train files, test files, label bytes before the image, label index used)
CIFAR_BINARY = {
    "cifar10": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"], 1, 0),
    "cifar100": ("cifar-100-binary", ["train.bin"], ["test.bin"], 2, 1),
}
CIFAR_RECORDS = {("cifar10", "train"): 50000, ("cifar10", "test"): 10000,
                 ("cifar100", "train"): 50000, ("cifar100", "test"): 10000}


def _cifar_images(flat, path):
    if flat.ndim != 2 or flat.shape[1] != 3072:
        raise DatasetFileError(f"{path}: expected rows of 3072 bytes, found shape {flat.shape}")
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def read_cifar_pickle(path, label_key):
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise
    except Exception as e:  # pickle raises many types on a corrupt file
        raise DatasetFileError(f"{path}: not a CIFAR python batch ({type(e).__name__}: {e})") from None
    data = batch.get(b"data")
    labels = batch.get(label_key.encode())
    if data is None or labels is None:
        raise DatasetFileError(f"{path}: missing 'data' or '{label_key}' entries")
    data = np.asarray(data)
    # bytes only: a float array cast to uint8 would silently become zeros (values in [0, 1)) or wrap around
    if data.dtype != np.uint8 and not (np.issubdtype(data.dtype, np.integer) and data.size
                                        and data.min() >= 0 and data.max() <= 255):
        raise DatasetFileError(f"{path}: CIFAR images are bytes 0..255; this batch holds {data.dtype} values")
    images = _cifar_images(data.astype(np.uint8), path)
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise DatasetFileError(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


def read_cifar_binary(path, label_bytes, label_index):
    with open(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    record = label_bytes + 3072
    if raw.size == 0 or raw.size % record:
        raise DatasetFileError(
            f"{path}: {raw.size} bytes is not a whole number of {record}-byte records; truncated or corrupt"
        )
    rows = raw.reshape(-1, record)
    return _cifar_images(rows[:, label_bytes:], path), rows[:, label_index].astype(np.int64)


def read_cifar_split(folder, name, split, check_count=True):
    """Images (N, 32, 32, 3) and labels of a CIFAR split from its python or binary batches.

    ``folder`` may be the batches folder itself or its parent.
    """
    pickle_dir, train_py, test_py, label_key, _ = CIFAR_PICKLE[name]
    binary_dir, train_bin, test_bin, label_bytes, label_index = CIFAR_BINARY[name]
    candidates = [
        ("pickle", d, train_py if split == "train" else test_py)
        for d in (os.path.join(folder, pickle_dir), folder)
    ] + [
        ("binary", d, train_bin if split == "train" else test_bin)
        for d in (os.path.join(folder, binary_dir), folder)
    ]
    for kind, directory, files in candidates:
        paths = [os.path.join(directory, f) for f in files]
        if not all(os.path.exists(p) for p in paths):
            continue
        parts = [
            read_cifar_pickle(p, label_key) if kind == "pickle" else read_cifar_binary(p, label_bytes, label_index)
            for p in paths
        ]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        expected = CIFAR_RECORDS[(name, split)]
        if check_count and len(images) != expected:
            raise DatasetFileError(
                f"{directory}: {name} {split} should have {expected} records, the files hold {len(images)}"
            )
        classes = 10 if name == "cifar10" else 100
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise DatasetFileError(f"{directory}: labels outside 0..{classes - 1}")
        return images, labels
    raise FileNotFoundError(
        f"{folder}: no {pickle_dir}/ or {binary_dir}/ batches for the {split} split"
    )
