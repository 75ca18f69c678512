"""Readers of the datasets' own file formats, with sanity checks: one module per format.

- `cnnzoo.data.idx`: IDX (MNIST, Fashion-MNIST), gzipped or raw; magic number,
  dimensions and record count are checked against the file's size.
- `cnnzoo.data.cifar`: CIFAR python pickles (``cifar-10-batches-py``,
  ``cifar-100-python``) and binary batches (``cifar-10-batches-bin``, ``cifar-100-binary``).

This module is their earlier home and keeps every name (what they share is
`cnnzoo.data.files`). Every error names the file. Readers return NumPy
arrays: ``images`` uint8 of shape (N, H, W, C) and ``labels`` int64 of shape (N,).
"""

from cnnzoo.data.cifar import (  # noqa: F401
    CIFAR_BINARY,
    CIFAR_PICKLE,
    CIFAR_RECORDS,
    read_cifar_binary,
    read_cifar_pickle,
    read_cifar_split,
)
from cnnzoo.data.files import DatasetFileError, read_bytes  # noqa: F401
from cnnzoo.data.idx import IDX_FILES, find_file, read_idx, read_idx_split  # noqa: F401
