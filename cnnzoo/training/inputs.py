"""What the engine trains on: a ``tf.data.Dataset``, numpy arrays or a ``keras.utils.PyDataset``, made one thing.

`adapt` takes any of the three and returns `Feed`: the batches ``model.fit`` reads
on every Keras backend, their number per epoch and whether the feed may be
repeated into one iterator for the whole run. Labels become what the engine's
loss reads, whatever form they came in: integer class indices are one-hot
encoded, and a model with named outputs (GoogLeNet's auxiliary heads) gets the
same labels for every output.

On JAX and PyTorch the array and PyDataset paths import no TensorFlow: arrays become `ArrayBatches`
(a ``keras.utils.PyDataset``, shuffled every epoch from ``(seed, epoch)``); on TensorFlow they are a
``tf.data`` pipeline, as before. A ``tf.data.Dataset`` is only recognized where TensorFlow is loaded.
"""

import dataclasses
import sys

import keras
import numpy as np

ACCEPTED = ("a tf.data.Dataset of (images, labels) batches, an (images, labels) tuple of arrays "
            "or a keras.utils.PyDataset")


@dataclasses.dataclass
class Feed:
    """Batches ready for ``model.fit``.

    Attributes:
        data: a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``.
        steps: batches per epoch, or None where unknown (an endless dataset).
        repeatable: a ``tf.data.Dataset``, which ``.repeat()`` makes one iterator for the whole run.
    """

    data: object
    steps: int = None
    repeatable: bool = False


def adapt(data, argument, *, batch_size, num_classes, output_keys=None, training=False, seed=0):
    """``data`` as a `Feed` for a classifier of ``num_classes`` classes.

    Args:
        data: a ``tf.data.Dataset`` yielding ``(x, y)`` batches, a tuple ``(x, y)`` of arrays (batched here
            with ``batch_size``; shuffled every epoch with ``seed`` when ``training``) or a
            ``keras.utils.PyDataset`` whose items are ``(x, y)`` batches. ``y``: one-hot rows or integer class
            indices.
        argument: the argument's name, for error messages.
        batch_size: the batch size for arrays.
        num_classes: the classifier's classes (integer labels are one-hot encoded to them); None uses the
            labels as given (a detector's per-anchor targets).
        training: shuffle arrays every epoch. Defaults to `False`.
        seed: of that shuffling. Defaults to `0`.
        output_keys: the model's output names when its outputs are a dict.

    Raises:
        TypeError: ``data`` is none of the three.
        ValueError: arrays of different lengths, labels out of range or of the wrong width.
    """
    if _is_tf_dataset(data):
        return Feed(_labelled_dataset(data, argument, num_classes, output_keys), _cardinality(data), True)
    if isinstance(data, keras.utils.PyDataset):
        return Feed(LabelledPyDataset(data, argument, num_classes, output_keys), _length(data), False)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(hasattr(a, "shape") or isinstance(a, (list, tuple))
                                                                  for a in data):
        return _array_feed(data, argument, batch_size, num_classes, output_keys, training, seed)
    kind = f"a {type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
    raise TypeError(f"{argument} must be {ACCEPTED}. Received: {argument}={kind}")


def _is_tf_dataset(data):
    tf = sys.modules.get("tensorflow")  # a tf.data.Dataset exists only where TensorFlow was imported
    return tf is not None and isinstance(data, tf.data.Dataset)


def one_hot_labels(y, argument, num_classes):
    """``y`` (integer indices or one-hot rows, numpy) as float32 one-hot rows; errors name ``argument``."""
    y = np.asarray(y)
    if y.ndim == 1 or (y.ndim == 2 and y.shape[-1] == 1 and num_classes != 1):
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{argument}: class-index labels must be integers. Received: labels of dtype {y.dtype}")
        y = y.reshape(-1)
        bad = y[(y < 0) | (y >= num_classes)]
        if bad.size:
            raise ValueError(f"{argument}: labels must be class indices in [0, {num_classes}) for a model with "
                             f"{num_classes} classes. Received: label {int(bad[0])}")
        return np.eye(num_classes, dtype="float32")[y]
    if y.ndim != 2 or y.shape[-1] != num_classes:
        raise ValueError(f"{argument}: labels must be class indices of shape (n,) or one-hot rows of shape "
                         f"(n, {num_classes}). Received: labels of shape {y.shape}")
    return y.astype("float32")


def _per_output(y, output_keys):
    return {k: y for k in output_keys} if output_keys else y


def _array_feed(data, argument, batch_size, num_classes, output_keys, training, seed):
    x, y = (np.asarray(a) for a in data)
    if len(x) != len(y):
        raise ValueError(f"{argument}: images and labels must have the same length. Received: {len(x)} images "
                         f"and {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"{argument} must not be empty. Received: 0 images")
    y = one_hot_labels(y, argument, num_classes) if num_classes is not None else y.astype("float32")
    if np.issubdtype(x.dtype, np.floating) and x.dtype != np.float32:
        x = x.astype("float32")
    if keras.backend.backend() != "tensorflow":
        batches = ArrayBatches(x, _per_output(y, output_keys), batch_size, shuffle=training, seed=seed)
        return Feed(batches, len(batches), False)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, _per_output(y, output_keys)))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return Feed(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE), -(-len(x) // batch_size), True)


class ArrayBatches(keras.utils.PyDataset):
    """``(x, y)`` arrays in batches, in a fresh order every epoch that depends on ``(seed, epoch)`` only.

    Args:
        x: the images.
        y: the labels (an array, or ``{output: array}``).
        batch_size: examples per batch (the last batch may be smaller).
        shuffle: a new seeded order every epoch. Defaults to `False`.
        seed: of the order. Defaults to `0`.
    """

    def __init__(self, x, y, batch_size, shuffle=False, seed=0):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle, self.seed = x, y, batch_size, shuffle, seed
        self.epoch = 0
        self._order = self._order_of(0)

    def _order_of(self, epoch):
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def set_epoch(self, epoch):
        """Starts ``epoch``'s order (a resumed run starts at its first unfinished epoch)."""
        self.epoch = epoch
        self._order = self._order_of(epoch)

    @property
    def num_batches(self):
        return -(-len(self.x) // self.batch_size)

    def __len__(self):
        return self.num_batches

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        y = {k: v[rows] for k, v in self.y.items()} if isinstance(self.y, dict) else self.y[rows]
        return self.x[rows], y

    def epoch_callback(self):
        """A Keras callback that starts each epoch's order at its beginning (resumed runs included)."""
        batches = self

        class SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                batches.set_epoch(epoch)

        return SetEpoch()


def _labelled_dataset(ds, argument, num_classes, output_keys):
    import tensorflow as tf  # loaded already: ds is a tf.data.Dataset

    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(f"{argument} must yield (images, labels) batches. Received: elements {spec}")
    label = spec[1]
    if isinstance(label, dict) or num_classes is None:
        return ds  # already one label per named output, or targets used as given (a detector's)
    if label.dtype.is_integer and label.shape.rank in (1, 2) and (label.shape.rank == 1 or label.shape[-1] == 1):
        ds = ds.map(lambda x, y: (x, tf.one_hot(tf.reshape(y, [-1]), num_classes)))
    elif label.shape.rank is not None and label.shape[-1] not in (None, num_classes):
        raise ValueError(f"{argument}: labels must be class indices or one-hot rows of width {num_classes}. "
                         f"Received: label batches of shape {label.shape}")
    if output_keys:
        ds = ds.map(lambda x, y: (x, _per_output(y, output_keys)))
    return ds


def _cardinality(ds):
    n = int(ds.cardinality().numpy())
    return n if n > 0 else None


def _length(ds):
    try:
        return ds.num_batches
    except (NotImplementedError, TypeError):
        return None


class LabelledPyDataset(keras.utils.PyDataset):
    """A user's ``keras.utils.PyDataset`` with the engine's labels; its workers and queue are kept."""

    def __init__(self, source, argument, num_classes, output_keys=None):
        super().__init__(workers=source.workers, use_multiprocessing=source.use_multiprocessing,
                         max_queue_size=source.max_queue_size)
        self.source, self.argument, self.num_classes, self.output_keys = source, argument, num_classes, output_keys

    @property
    def num_batches(self):
        return _length(self.source)

    def __getitem__(self, index):
        item = self.source[index]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError(f"{self.argument}: a PyDataset's items must be (images, labels) batches. Received: "
                             f"an item of type {type(item).__name__}")
        x, y = item[0], item[1]
        if not isinstance(y, dict) and self.num_classes is not None:
            y = _per_output(one_hot_labels(keras.ops.convert_to_numpy(y), self.argument, self.num_classes),
                            self.output_keys)
        return (x, y)

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        self.source.on_epoch_end()
