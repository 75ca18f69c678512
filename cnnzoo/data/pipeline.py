"""tf.data pipelines: cache, shuffle, batch, augment, normalize, prefetch.

Augmentation uses Keras preprocessing layers (ZeroPadding2D + RandomCrop for
pad-and-crop, RandomFlip, MixUp, CutMix, RandAugment) applied per batch inside
``Dataset.map``. Everything random is
seeded, so a pipeline built twice with the same seed yields the same batches.
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


def _augmenter(augment, image_shape, pad, seed):
    """A Keras preprocessing stack for image batches, or None."""
    layers = []
    h, w = image_shape[:2]
    if "crop" in augment:
        layers += [
            keras.layers.ZeroPadding2D(pad),
            keras.layers.RandomCrop(h, w, seed=seed),
        ]
    if "flip" in augment:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    if "randaugment" in augment:
        layers.append(keras.layers.RandAugment(value_range=(0, 1), seed=seed + 2))
    return keras.Sequential(layers) if layers else None


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
    cache=True,
    drop_remainder=None,
):
    """A batched tf.data pipeline from a loaded `Dataset`.

    Args:
        dataset: a `cnnzoo.data.Dataset` (uint8 images, int labels).
        batch_size: examples per batch.
        training: shuffle (seeded, reshuffled each epoch) and augment.
        seed: seed of shuffling and augmentation. Defaults to `0`.
        augment: any of ``"crop"`` (pad ``crop_padding`` and random crop),
            ``"flip"`` (horizontal), ``"mixup"``, ``"cutmix"``, ``"randaugment"``.
            Applied only when ``training``. Defaults to `()`.
        crop_padding: pixels of zero padding before the random crop. Defaults to `4`.
        mean, std: per-channel normalization after scaling to [0, 1]; None
            leaves [0, 1]. Defaults to `None`.
        one_hot: one-hot labels (needed for label smoothing, MixUp, CutMix).
            Defaults to `True`.
        cache: cache the decoded arrays in memory. Defaults to `True`.
        drop_remainder: drop the last partial batch; defaults to ``training``
            (equal batches on every replica).

    Returns:
        A ``tf.data.Dataset`` of ``(images float32, labels)`` batches.
    """
    augment = check_augment(augment) if training else ()
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    classes = dataset.num_classes
    ds = tf.data.Dataset.from_tensor_slices((dataset.images, dataset.labels))
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(len(dataset), 60000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)

    mean_t = None if mean is None else tf.constant(np.asarray(mean, "float32"))
    std_t = None if std is None else tf.constant(np.asarray(std, "float32"))
    augmenter = _augmenter(augment, dataset.images.shape[1:], crop_padding, seed)
    mixers = []
    if "mixup" in augment:
        mixers.append(keras.layers.MixUp(seed=seed + 3))
    if "cutmix" in augment:
        mixers.append(keras.layers.CutMix(seed=seed + 4))

    def transform(images, labels):
        x = tf.cast(images, tf.float32) / 255.0
        if augmenter is not None:
            x = augmenter(x, training=True)
        y = tf.one_hot(labels, classes) if (one_hot or mixers) else labels
        for mixer in mixers:
            out = mixer({"images": x, "labels": y}, training=True)
            x, y = out["images"], out["labels"]
        if mean_t is not None:
            x = (x - mean_t) / std_t
        return x, y

    # Keras's random layers advance a seed variable on every call: parallel calls
    # would take the seeds in a racing order, so random transforms run in sequence.
    random = augmenter is not None or bool(mixers)
    ds = ds.map(transform, num_parallel_calls=None if random else tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
