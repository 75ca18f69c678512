"""tf.data pipelines: shuffle, augment, batch, normalize, prefetch.

Training randomness is a pure function of ``(seed, epoch, position)``: the
epoch's order is a stateless permutation and pad-and-crop / flip are stateless
draws keyed by the batch's first position. Examples are gathered, converted and
augmented a batch at a time (vectorized), so the pipeline costs little next to
even a small model's step. So a run resumed from
a checkpoint at epoch k (Keras ``BackupAndRestore``) sees exactly the batches
an uninterrupted run sees, and parallel mapping stays deterministic.
``EpochCounter`` tells the pipeline the epoch: the training engine adds its
callback, which sets it at the start of every epoch.

MixUp, CutMix and RandAugment are Keras preprocessing layers applied per batch;
their seed generators are stateful, so with them a resumed run is equivalent in
distribution but not bit-identical.
"""

import keras
import numpy as np
import tensorflow as tf

AUGMENTATIONS = ("crop", "flip", "mixup", "cutmix", "randaugment")


def check_augment(augment):
    augment = tuple(augment or ())
    for a in augment:
        if a not in AUGMENTATIONS:
            raise ValueError(f"augment entries must be in {AUGMENTATIONS}. Received: augment={augment!r}")
    return augment


class EpochCounter:
    """The current epoch, read by the pipeline when an epoch's iterator starts."""

    def __init__(self):
        self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="pipeline_epoch")

    def callback(self):
        counter = self

        class SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                counter.variable.assign(epoch)

        return SetEpoch()


def _augment_batch(images, key, crop, crop_padding, flip):
    """Pad-and-crop and horizontal flips of a whole batch ``(B, H, W, C)``, vectorized.

    One stateless draw per batch, keyed by ``key``, gives every example its own
    offsets and flip: no per-example function calls in the pipeline.
    """
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    if crop:
        p = crop_padding
        padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        offsets = tf.random.stateless_uniform([batch, 2], seed=key, minval=0, maxval=2 * p + 1, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(height)[None]  # (B, H): each example's window
        cols = offsets[:, 1:] + tf.range(width)[None]
        images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
    if flip:
        mirrored = tf.random.stateless_uniform([batch], seed=key[::-1]) < 0.5
        images = tf.where(mirrored[:, None, None, None], tf.reverse(images, axis=[2]), images)
    return images


def make_pipeline(
    dataset,
    batch_size,
    training,
    seed=0,
    augment=(),
    crop_padding=4,
    mean=None,
    std=None,
    one_hot=True,
    drop_remainder=None,
):
    """A batched tf.data pipeline from a loaded `Dataset`.

    Args:
        dataset: a `cnnzoo.data.Dataset` (uint8 images, int labels).
        batch_size: examples per batch (the global batch under a strategy).
        training: shuffle (a new seeded order every epoch) and augment.
        seed: seed of shuffling and augmentation. Defaults to `0`.
        augment: any of ``"crop"`` (pad ``crop_padding`` and random crop),
            ``"flip"`` (horizontal), ``"mixup"``, ``"cutmix"``, ``"randaugment"``.
            Applied only when ``training``. Defaults to `()`.
        crop_padding: pixels of zero padding before the random crop. Defaults to `4`.
        mean, std: per-channel normalization after scaling to [0, 1]; None
            leaves [0, 1]. Defaults to `None`.
        one_hot: one-hot labels (label smoothing, MixUp, CutMix need them). Defaults to `True`.
        drop_remainder: drop the last partial batch; defaults to ``training``
            (equal batches on every replica).

    Returns:
        A ``tf.data.Dataset`` of ``(images float32, labels)`` batches; a training
        pipeline carries its `EpochCounter` as ``.epoch_counter``.
    """
    augment = check_augment(augment) if training else ()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    classes = dataset.num_classes
    n = len(dataset)
    images = tf.constant(dataset.images)
    labels = tf.constant(dataset.labels)
    mean_t = None if mean is None else tf.constant(np.asarray(mean, "float32"))
    std_t = None if std is None else tf.constant(np.asarray(std, "float32"))
    mixers = []
    if "mixup" in augment:
        mixers.append(keras.layers.MixUp(seed=seed + 3))
    if "cutmix" in augment:
        mixers.append(keras.layers.CutMix(seed=seed + 4))
    randaugment = keras.layers.RandAugment(value_range=(0, 1), seed=seed + 2) if "randaugment" in augment else None
    crop, flip = "crop" in augment, "flip" in augment

    counter = None
    if training:
        counter = EpochCounter()
        epoch_var = counter.variable

        def epoch_indices(_):
            epoch = epoch_var.read_value()
            order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64), epoch])))
            return tf.data.Dataset.from_tensor_slices((order, epoch * n + tf.range(n, dtype=tf.int64)))

        ds = tf.data.Dataset.from_tensors(0).flat_map(epoch_indices)
        ds = ds.batch(batch_size, drop_remainder=True if drop_remainder is None else drop_remainder)

        def load_batch(index, position):  # whole batches: one gather, one vectorized augmentation (on uint8)
            x = tf.gather(images, index)
            if crop or flip:
                x = _augment_batch(x, tf.stack([tf.cast(seed, tf.int64), position[0]]), crop, crop_padding, flip)
            return x, tf.gather(labels, index)
    else:
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size, drop_remainder=bool(drop_remainder))
        load_batch = None

    def finish(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        if randaugment is not None:
            x = randaugment(x, training=True)
        y = tf.one_hot(y, classes) if (one_hot or mixers) else y
        for mixer in mixers:
            out = mixer({"images": x, "labels": y}, training=True)
            x, y = out["images"], out["labels"]
        if mean_t is not None:
            x = (x - mean_t) / std_t
        return x, y

    # Keras's random layers advance a seed variable per call: run them in sequence, in a map of
    # their own; otherwise loading and finishing a batch is one map (one function call a batch).
    stateful = randaugment is not None or bool(mixers)
    if load_batch is not None and not stateful:
        ds = ds.map(lambda i, p: finish(*load_batch(i, p)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        if load_batch is not None:
            ds = ds.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.map(finish, num_parallel_calls=None if stateful else tf.data.AUTOTUNE, deterministic=True)
    if training:
        # cardinality is lost through flat_map; Keras needs it for progress and schedules
        batches = n // batch_size if (drop_remainder is None or drop_remainder) else -(-n // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.epoch_counter = counter
    return ds
