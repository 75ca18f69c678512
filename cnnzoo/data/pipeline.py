"""tf.data pipelines: shuffle, augment, batch, normalize, prefetch.

Training randomness is a pure function of ``(seed, epoch, position)``: the
epoch's order is a stateless permutation and pad-and-crop / flip are stateless
draws keyed by the block's first position. Examples are gathered, augmented
(on uint8) and converted several batches at a time, vectorized, so the pipeline
costs little next to even a small model's step. So a run resumed from
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


def _choose(views, choice):
    """Per example ``i``, ``views[choice[i]][i]``: one gather of whole examples from same-shaped views.

    Picking among a few static slices costs a copy per view; per-pixel gathers
    (``batch_dims`` gathers, image transforms) cost 3x more on CPU (benchmarks/README.md).
    """
    batch = tf.shape(choice)[0]
    return tf.gather(tf.concat(views, axis=0), choice * batch + tf.range(batch))


def _augment_block(store, index, key, shape, crop, crop_padding, flip):
    """Pad-and-crop and horizontal flips of the examples ``index``, vectorized.

    With ``crop``, ``store`` holds every image zero-padded by ``crop_padding``
    and flattened over rows, ``(N * (H + 2p), W + 2p, C)``: a crop is a gather of
    ``H`` consecutive rows, then one of ``2p + 1`` column windows. One stateless
    draw keyed by ``key`` gives every example its own offsets and flip.
    Without it, ``store`` holds the images as they are.
    """
    height, width = shape[0], shape[1]
    batch = tf.shape(index)[0]
    if crop:
        span = 2 * crop_padding + 1
        offsets = tf.random.stateless_uniform([batch, 2], seed=key, minval=0, maxval=span, dtype=tf.int32)
        rows = index[:, None] * (height + 2 * crop_padding) + offsets[:, :1] + tf.range(height)[None]
        images = tf.gather(store, rows)  # (B, H, W + 2p, C)
        images = _choose([images[:, :, s:s + width] for s in range(span)], offsets[:, 1])
    else:  # without crop the store holds whole, unpadded images
        images = tf.gather(store, index)
    if flip:
        mirrored = tf.cast(tf.random.stateless_uniform([batch], seed=key[::-1]) < 0.5, tf.int32)
        images = _choose([images, tf.reverse(images, axis=[2])], mirrored)
    return images


def default_background():
    """`make_pipeline`'s default: background threads only when a GPU does the model's work."""
    return bool(tf.config.list_logical_devices("GPU"))


def batches_per_call(batch_size, shape, budget_bytes=16 * 2**20, most=32):
    """Batches prepared per pipeline call: up to ``most``, within ``budget_bytes`` of float32 output."""
    batch_bytes = 4 * batch_size * int(np.prod(shape))
    return int(max(1, min(most, budget_bytes // batch_bytes)))


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
    background=None,
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
        background: prepare batches on tf.data's own threads, ahead of the
            model (parallel map and prefetch). Defaults to `None`: on when a GPU
            is visible. Off, batches are prepared in the training loop's thread,
            several at a time (`batches_per_call`): on a CPU the model's step
            uses every core, and background threads slowed LeNet-5 training by
            7-20% against 0-3% this way (benchmarks/README.md).

    Returns:
        A ``tf.data.Dataset`` of ``(images float32, labels)`` batches; a training
        pipeline carries its `EpochCounter` as ``.epoch_counter``.
    """
    augment = check_augment(augment) if training else ()
    if ("crop" in augment or "flip" in augment) and dataset.images.ndim != 4:
        raise ValueError("augment 'crop' and 'flip' need images (N, height, width, channels). "
                         f"Received: dataset.images of shape {dataset.images.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    if background is None:
        background = default_background()
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)
    classes = dataset.num_classes
    n = len(dataset)
    shape = tuple(dataset.images.shape[1:])
    crop, flip = "crop" in augment, "flip" in augment
    pad = crop_padding if crop else 0
    store = np.pad(dataset.images, [(0, 0), (pad, pad), (pad, pad)] + [(0, 0)] * (len(shape) - 2)) if pad else dataset.images
    # crop gathers rows of the padded images; otherwise whole examples are gathered
    store = tf.constant(store.reshape((-1,) + store.shape[2:]) if crop else store)
    labels = tf.constant(dataset.labels)
    mean_t = None if mean is None else tf.constant(np.asarray(mean, "float32"))
    std_t = None if std is None else tf.constant(np.asarray(std, "float32"))
    mixers = []
    if "mixup" in augment:
        mixers.append(keras.layers.MixUp(seed=seed + 3))
    if "cutmix" in augment:
        mixers.append(keras.layers.CutMix(seed=seed + 4))
    randaugment = keras.layers.RandAugment(value_range=(0, 1), seed=seed + 2) if "randaugment" in augment else None
    # Keras's random layers advance a seed variable per call: they run batch by batch, in sequence
    stateful = randaugment is not None or bool(mixers)
    per_call = batches_per_call(batch_size, shape)
    full = n // batch_size * batch_size
    counter = EpochCounter() if training else None

    def blocks(_):
        """This epoch's examples in blocks of ``per_call`` batches (plus a last partial batch, if kept)."""
        if training:
            epoch = counter.variable.read_value()
            order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        else:
            epoch, order = tf.constant(0, tf.int64), tf.range(n)
        starts = tf.range(0, full, per_call * batch_size, dtype=tf.int64)
        ends = tf.minimum(starts + per_call * batch_size, full)
        if not drop_remainder and full < n:
            starts, ends = tf.concat([starts, [full]], 0), tf.concat([ends, [n]], 0)
        return tf.data.Dataset.from_tensor_slices((starts, ends)).map(
            lambda a, b: (order[a:b], epoch * n + a))

    def load(index, position):
        """A block of batches: one gather, one vectorized augmentation (on uint8), one conversion."""
        if crop or flip:
            x = _augment_block(store, index, tf.stack([tf.cast(seed, tf.int64), position]), shape, crop,
                               crop_padding, flip)
        else:
            x = tf.gather(store, index)
        x = tf.cast(x, tf.float32) / 255.0
        y = tf.gather(labels, index)
        if not stateful:
            x, y = finish(x, y)
        size = tf.minimum(batch_size, tf.shape(index)[0])  # a block is whole batches, or the last partial one
        return tf.reshape(x, (-1, size) + shape), tf.reshape(y, tf.concat([[-1, size], tf.shape(y)[1:]], 0))

    def finish(x, y):  # labels and normalization; with stateful layers, in a map of its own, batch by batch
        if randaugment is not None:
            x = randaugment(x, training=True)
        y = tf.one_hot(y, classes) if (one_hot or mixers) else y
        for mixer in mixers:
            out = mixer({"images": x, "labels": y}, training=True)
            x, y = out["images"], out["labels"]
        if mean_t is not None:
            x = (x - mean_t) / std_t
        return x, y

    ds = tf.data.Dataset.from_tensors(0).flat_map(blocks)
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) if background else {}
    ds = ds.map(load, **parallel).unbatch()
    if stateful:
        ds = ds.map(finish)
    # cardinality is lost through flat_map and unbatch; Keras needs it for progress and schedules
    ds = ds.apply(tf.data.experimental.assert_cardinality(n // batch_size if drop_remainder else -(-n // batch_size)))
    if background:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.epoch_counter = counter
    return ds
