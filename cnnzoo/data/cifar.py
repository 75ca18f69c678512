"""CIFAR-10 / CIFAR-100: the python pickles (``cifar-10-batches-py``, ``cifar-100-python``)
and the binary batches (``cifar-10-batches-bin``, ``cifar-100-binary``), record counts and
labels checked. Every error names the file.
"""

import os
import pickle

import numpy as np

from cnnzoo.data.files import DatasetFileError

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
    """Images (N, 32, 32, 3) uint8 and labels of one python-pickle batch file, read without running code."""
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
    """Images (N, 32, 32, 3) uint8 and labels of one binary batch file (records of label bytes + 3,072 pixels)."""
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
