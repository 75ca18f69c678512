"""Dataset loaders and tf.data pipelines (TensorFlow proper lives here, not in layers/models)."""

from cnnzoo.data.datasets import DATASETS, Dataset, DatasetNotFoundError, load_arrays
from cnnzoo.data.files import DatasetFileError
from cnnzoo.data.pipeline import AUGMENTATIONS, EpochCounter, make_pipeline


def load(name, split, data_dir=None, batch_size=None, training=None, download=False,
         allow_sample=False, **pipeline_kwargs):
    """Loads ``name``/``split`` and returns a batched tf.data pipeline.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        data_dir: a folder with the dataset's own files (see `load_arrays`). Defaults to `None`.
        download: let tensorflow-datasets download it. Defaults to `False`.
        allow_sample: fall back to the sample shipped with cnnzoo. Defaults to `False`.
        batch_size: Defaults to `None`: 128.
        training: shuffle and augment; defaults to ``split == "train"``.
        **pipeline_kwargs: passed to `make_pipeline` (seed, augment, mean, std...).

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)`` batches.
    """
    dataset = load_arrays(name, split, data_dir=data_dir, download=download, allow_sample=allow_sample)
    return make_pipeline(
        dataset, batch_size or 128, training=split == "train" if training is None else training,
        **pipeline_kwargs,
    )


__all__ = [
    "AUGMENTATIONS", "DATASETS", "Dataset", "EpochCounter", "DatasetFileError", "DatasetNotFoundError", "load",
    "load_arrays", "make_pipeline",
]
