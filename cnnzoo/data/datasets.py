"""``load(name, split)``: MNIST, Fashion-MNIST, CIFAR-10/100 as tf.data datasets.

Where the data comes from, first match wins:

1. ``data_dir`` (or the ``CNNZOO_DATA_DIR`` environment variable): the
   dataset's native files, in ``data_dir/<name>/`` or ``data_dir`` itself.
   IDX (gzipped or raw) for the MNIST family, python or binary batches for CIFAR.
   A folder given is used or refused, never replaced: when it does not hold
   the dataset, that is a ``DatasetNotFoundError`` naming it (no other source
   is tried).
2. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` package folder,
   ``/usr/share/datasets/fashion-mnist``.
3. tensorflow-datasets: its cache, or a download with ``download=True``.
4. With ``allow_sample=True``, and only when no folder was given: the small real
   sample shipped inside cnnzoo (MNIST and Fashion-MNIST only), announced in one
   line: it is not the full dataset.

Nothing found is a ``DatasetNotFoundError`` saying which ways were tried.
"""

import dataclasses
import os
import sys

import numpy as np

from cnnzoo.data import cifar, idx

# The reader of each file format: (folder, dataset name, split, check_count) -> (images, labels).
READERS = {
    "idx": lambda folder, name, split, check_count: idx.read_idx_split(folder, split),
    "cifar": lambda folder, name, split, check_count: cifar.read_cifar_split(folder, name, split, check_count),
}
DATASETS = {
    # name: (classes, image shape, file format: a key of READERS)
    "mnist": (10, (28, 28, 1), "idx"),
    "fashion_mnist": (10, (28, 28, 1), "idx"),
    "cifar10": (10, (32, 32, 3), "cifar"),
    "cifar100": (100, (32, 32, 3), "cifar"),
}
SPLITS = ("train", "test")
FOLDER_ALIASES = {"fashion_mnist": ("fashion_mnist", "fashion-mnist")}
DEBIAN_FOLDERS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
SAMPLES_DIR = os.path.join(os.path.dirname(__file__), "samples")


class DatasetNotFoundError(FileNotFoundError):
    """No source of a dataset could be found."""


@dataclasses.dataclass
class Dataset:
    """A loaded split: the arrays and where they came from."""

    name: str
    split: str
    images: np.ndarray  # uint8, (N, H, W, C)
    labels: np.ndarray  # int64, (N,)
    num_classes: int
    source: str  # "data_dir:<path>", "debian:<path>", "tfds", "sample:<path>"

    @property
    def is_sample(self):
        return self.source.startswith("sample:")

    def __len__(self):
        return len(self.labels)


def _check(name, split):
    if name not in DATASETS:
        raise ValueError(f"name must be one of {tuple(DATASETS)}. Received: name={name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")


def _read_native(name, split, folder, check_count=True):
    """The split from the dataset's files in ``folder``, by their format's reader."""
    return READERS[DATASETS[name][2]](folder, name, split, check_count)


def _from_data_dir(name, split, data_dir, check_count=True):
    """The native files in ``data_dir/<name>`` or ``data_dir`` itself; None when absent."""
    folders = [os.path.join(data_dir, alias) for alias in FOLDER_ALIASES.get(name, (name,))] + [data_dir]
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        try:
            return _read_native(name, split, folder, check_count=check_count)
        except FileNotFoundError:
            continue
    return None


def _from_tfds(name, split, download):
    import logging

    absl = logging.getLogger("absl")  # tfds logs its cache probing ("Variant folder ... has no dataset_info.json")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        import tensorflow_datasets as tfds

        ds = tfds.load(name, split=split, as_supervised=True, batch_size=-1, download=download)
        images, labels = tfds.as_numpy(ds)
        return images.astype(np.uint8), labels.astype(np.int64)
    except Exception as e:  # offline, not cached, or tfds itself failing: say so later
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    finally:
        absl.setLevel(level)


def load_arrays(name, split, data_dir=None, download=False, allow_sample=False, check_count=True):
    """Loads one split as NumPy arrays, from the first source that has it.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        data_dir: a folder with the native files. Defaults to `None`: the
            ``CNNZOO_DATA_DIR`` environment variable, then the other sources.
        download: let tensorflow-datasets download when not cached (offline its
            retries take minutes, so this is opt-in). Defaults to `False`.
        allow_sample: fall back to the sample shipped with cnnzoo. Defaults to `False`.
        check_count: require the official number of records (CIFAR files). Defaults to `True`.

    Returns:
        A `Dataset`.
    """
    _check(name, split)
    classes = DATASETS[name][0]
    tried = []
    given = "data_dir" if data_dir is not None else "CNNZOO_DATA_DIR" if os.environ.get("CNNZOO_DATA_DIR") else None
    data_dir = os.fspath(data_dir) if data_dir is not None else os.environ.get("CNNZOO_DATA_DIR") or None
    if data_dir is not None:  # a folder the user gave: used or refused, never replaced by another source
        if not os.path.isdir(data_dir):
            raise DatasetNotFoundError(f"{given} must be a folder that exists (with the {name} files in it or in "
                                       f"{name}/). Received: {given}={data_dir!r}")
        found = _from_data_dir(name, split, data_dir, check_count=check_count)
        if found is not None:
            return Dataset(name, split, *found, classes, f"data_dir:{data_dir}")
        expected = {"idx": "IDX files such as train-images-idx3-ubyte.gz",
                    "cifar": "the python or binary batches"}[DATASETS[name][2]]
        raise DatasetNotFoundError(f"{given} holds no {name} {split} split ({expected}, in the folder or in "
                                   f"{name}/). Received: {given}={data_dir!r}")
    debian = DEBIAN_FOLDERS.get(name)
    if debian and os.path.isdir(debian):
        found = _from_data_dir(name, split, debian)
        if found is not None:
            return Dataset(name, split, *found, classes, f"debian:{debian}")
    if debian:
        tried.append(f"{debian} (Debian's dataset-{name.replace('_', '-')} package)")
    result = _from_tfds(name, split, download)
    if not isinstance(result, str):
        return Dataset(name, split, *result, classes, "tfds")
    tried.append(f"tensorflow-datasets ({result})")
    if allow_sample:
        sample = os.path.join(SAMPLES_DIR, name)
        found = _from_data_dir(name, split, sample, check_count=False)
        if found is not None:
            print(f"cnnzoo: no {name} found (--data-dir, CNNZOO_DATA_DIR, tensorflow-datasets): using the SMALL "
                  f"SAMPLE shipped with cnnzoo ({len(found[1])} {split} images), not comparable to published "
                  "accuracies", file=sys.stderr)
            return Dataset(name, split, *found, classes, f"sample:{sample}")
        tried.append("the bundled sample (none for this dataset)")
    raise DatasetNotFoundError(
        f"Could not find the {name} {split} split. Tried: " + "; ".join(tried) + ". Supply it with "
        "data_dir= (or --data-dir), the CNNZOO_DATA_DIR environment variable, Debian's "
        "dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), or tensorflow-datasets' "
        "manual download folder (tfds.download.DownloadConfig(manual_dir=...))."
    )
