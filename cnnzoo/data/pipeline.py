"""tf.data pipelines: shuffle, augment, batch, normalize, prefetch.

Training randomness is a pure function of ``(seed, epoch, position)``: the
epoch's order is a stateless permutation and pad-and-crop / flip are stateless
draws keyed by the block's first position. So a run resumed from a checkpoint
at epoch k (the engine's ``RunState``) sees exactly the batches an
uninterrupted run sees, and parallel mapping stays deterministic.
``EpochCounter`` holds the epoch and its order: each new pass over the pipeline
begins the next epoch by itself (plain ``model.fit`` needs nothing more), and the
training engine adds its callback, which sets both at the start of every epoch
(so a resumed run reads the epoch it resumes at).

Examples are gathered, augmented (on uint8: crops and flips are gathers of
contiguous rows) and converted several batches at a time, vectorized, and
normalized along flattened rows, so the pipeline costs little next to even a
small model's step (benchmarks/README.md, "Input pipelines").

MixUp, CutMix and RandAugment are Keras preprocessing layers applied per batch;
their seed generators are stateful, so with them a resumed run is equivalent in
distribution but not bit-identical.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from cnnzoo.files import array_fingerprint

AUGMENTATIONS = ("crop", "flip", "mixup", "cutmix", "randaugment")


def check_augment(augment):
    """``augment`` as a tuple of known names (`AUGMENTATIONS`); raises naming an unknown one."""
    augment = tuple(augment or ())
    for a in augment:
        if a not in AUGMENTATIONS:
            raise ValueError(f"augment entries must be in {AUGMENTATIONS}. Received: augment={augment!r}")
    return augment


class EpochCounter:
    """The current epoch and its order of the ``n`` examples.

    The order is a stateless permutation keyed by ``(seed, epoch)``, computed once an epoch (not per
    example; the pipeline then needs no per-epoch dataset of its own: a new iterator every epoch costs
    ~20 ms less). Two ways the epoch moves on:

    - by itself: each new pass over the pipeline (plain ``model.fit``, a ``for`` loop) begins the next
      epoch when it draws its first element (`begin`), so every epoch has a new order and new crops;
    - driven: `callback` (the training engine adds it) sets the epoch Keras is at when each epoch begins,
      so a run resumed at epoch k reads epoch k's order, as an uninterrupted run does.
    """

    def __init__(self, n, seed):
        self.n, self.seed = n, seed
        # -1 before the first pass, which begins epoch 0 (its order is computed here already)
        self.variable = tf.Variable(-1, dtype=tf.int64, trainable=False, name="pipeline_epoch")
        self.order = tf.Variable(self._order(0), trainable=False, name="pipeline_order")
        self.driven = tf.Variable(False, trainable=False, name="pipeline_epoch_driven")
        self.pending = tf.Variable(False, trainable=False, name="pipeline_epoch_pending")  # set(): the next pass

    def _order(self, epoch):
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(epoch, tf.int64)])
        return tf.random.experimental.stateless_shuffle(tf.range(self.n), seed=seed)

    def set(self, epoch):
        """Sets the epoch (and its order) from outside: the engine's callback before the epoch's first batch, or a
        caller; the next pass reads it (it does not move on first).
        """
        self.variable.assign(epoch)
        self.order.assign(self._order(epoch))
        self.pending.assign(True)

    def begin(self, index):
        """Inside the pipeline, for its element ``index``: the epoch to read (a tensor). Element 0 of a pass
        begins the next epoch (the first pass: epoch 0) unless a callback drives the counter; read the order
        under a control dependency on the result.
        """
        def advance():
            epoch = self.variable + 1
            with tf.control_dependencies([self.variable.assign(epoch), self.order.assign(self._order(epoch))]):
                return tf.identity(epoch)

        def use_the_set_one():
            with tf.control_dependencies([self.pending.assign(False)]):
                return self.variable.read_value()

        first = tf.logical_and(tf.equal(tf.cast(index, tf.int64), 0), tf.logical_not(self.driven))
        return tf.cond(first, lambda: tf.cond(self.pending, use_the_set_one, advance), self.variable.read_value)

    def callback(self):
        """A Keras callback that drives the counter: Keras's epoch number, set when each epoch begins."""
        counter = self

        class SetEpoch(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                counter.driven.assign(True)

            def on_epoch_begin(self, epoch, logs=None):  # before the epoch's first batch is drawn
                counter.set(epoch)

            def on_train_end(self, logs=None):  # a later pass of its own moves on from here (the epochs it
                counter.driven.assign(False)        # set were read: none is pending)
                counter.pending.assign(False)

        return SetEpoch()


def _augment_block(store, index, key, shape, crop_padding, flip):
    """Pad-and-crop and horizontal flips of the examples ``index``, vectorized: two gathers of contiguous rows.

    ``store`` holds every image zero-padded by ``crop_padding`` and transposed,
    flattened over its columns: ``(N * (W + 2p), H + 2p, C)``, so a column of an
    image is one contiguous row of ``store``. One stateless draw keyed by
    ``key`` gives every example its row and column offsets and its flip. A crop
    gathers ``W`` consecutive columns (in reverse order for a flip, which so
    costs nothing), transposes them back to rows and gathers ``H`` consecutive
    rows. Row gathers cost a fraction of per-pixel gathers, image transforms
    or choosing among shifted views (benchmarks/README.md).
    """
    height, width, channels = shape
    padded_height, padded_width = height + 2 * crop_padding, width + 2 * crop_padding
    batch = tf.shape(index)[0]
    offsets = tf.random.stateless_uniform([batch, 2], seed=key, minval=0, maxval=2 * crop_padding + 1, dtype=tf.int32)
    columns = tf.range(width)[None]
    if flip:
        # (a [::-1] slice upsets grappler)
        mirrored = tf.random.stateless_uniform([batch], seed=tf.reverse(key, [0])) < 0.5
        columns = tf.where(mirrored[:, None], width - 1 - columns, columns)
    images = tf.gather(store, index[:, None] * padded_width + offsets[:, 1:] + columns)  # (B, W, H + 2p, C)
    images = tf.transpose(images, [0, 2, 1, 3])  # (B, H + 2p, W, C)
    if crop_padding:
        rows = tf.range(batch)[:, None] * padded_height + offsets[:, :1] + tf.range(height)[None]
        images = tf.gather(tf.reshape(images, [-1, width, channels]), rows)
    return images


def _per_element(mean, std, shape):
    """``mean`` and ``std`` (None: 0 and 1; per channel, or any shape that broadcasts to an example) per element
    of an example flattened.
    """
    values = []
    for name, value, default in (("mean", mean, 0.0), ("std", std, 1.0)):
        try:
            values.append(np.broadcast_to(np.asarray(default if value is None else value, "float32"), shape).ravel())
        except ValueError:
            raise ValueError(f"{name} must be a number or per-channel values that broadcast to an example of shape "
                             f"{shape}. Received: {name}={value!r}") from None
    if not np.all(values[1] > 0):
        raise ValueError(f"std must be positive. Received: std={std!r}")
    return values


def _affine(x, size, scale, offset=0.0):
    """``float32(x) * scale + offset``, ``scale`` and ``offset`` per element of an example flattened to ``size``.

    Uniform values on uint8 are one ``Dequantize`` (a vectorized cast, scale and
    shift: half the CPU time of a cast and a multiply); otherwise broadcasting
    along the rows of ``(batch, size)`` costs a sixth of broadcasting per-channel
    values over ``(..., channels)`` on CPU (benchmarks/README.md). Multiplying by 1
    and adding 0 are skipped.
    """
    scale, offset = (np.broadcast_to(np.asarray(v, "float32"), (size,)) for v in (scale, offset))
    uniform = np.all(scale == scale[0]) and np.all(offset == offset[0])
    if uniform and x.dtype == tf.uint8:  # offset + x * scale = min + (max - min) * x / 255
        low, high = float(offset[0]), float(offset[0] + 255.0 * scale[0])
        return tf.raw_ops.Dequantize(input=tf.bitcast(x, tf.quint8), min_range=low, max_range=high, mode="MIN_COMBINED")
    out = tf.cast(tf.reshape(x, [-1, size]), tf.float32)
    for value, identity, op in ((scale, 1.0, tf.multiply), (offset, 0.0, tf.add)):
        if np.any(value != identity):
            out = op(out, value[0] if np.all(value == value[0]) else tf.constant(value))
    return tf.reshape(out, tf.shape(x))


def default_background():
    """`make_pipeline`'s default: background threads only when a GPU does the model's work."""
    return bool(tf.config.list_logical_devices("GPU"))


def pipeline_options(background):
    """The tf.data options of cnnzoo's pipelines: no autotuning; in-line, no prefetch thread and every core.

    Autotuning runs a thread that models the pipeline and tunes its parallelism;
    deleting an iterator waits for that thread, 0.1-0.65 s about every other
    time here (TensorFlow 2.21), and ``model.fit`` deletes the last epoch's
    iterator at every epoch's end, its validation iterator too: 5% of the MNIST
    recipe's time on this CPU (12 epochs: 28.4 s, now 27.0), 10-15% of epochs
    without validation. An in-line pipeline has nothing to tune; with background
    threads, without autotuning, a parallel map keeps tf.data's starting
    parallelism (one call per core, at most 16) and prefetching grows its buffer
    by itself (as fast as autotuned here). In-line, tf.data's own prefetch thread
    (``inject_prefetch``) is off too: on a CPU it competes with the model's
    threads; and the pipeline's ops may use every core (tf.data runs them on
    one by default, ``max_intra_op_parallelism`` 1), since the model waits for
    them: drained alone here, MNIST's 168 -> 128 us a batch, CIFAR's 726 -> 467
    (benchmarks/README.md, "Input pipelines"). With background threads each call
    keeps to one core, beside the model.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    if not background:
        options.experimental_optimization.inject_prefetch = False
        options.threading.max_intra_op_parallelism = 0  # 0: every core
    return options


def batches_per_call(batch_size, shape, budget_bytes=16 * 2**20, most=32):
    """Batches prepared per pipeline call: up to ``most``, within ``budget_bytes`` of float32 output."""
    batch_bytes = 4 * batch_size * int(np.prod(shape))
    return int(max(1, min(most, budget_bytes // batch_bytes)))


def _check_pipeline_inputs(dataset, batch_size, augment):
    """Raises on what would train silently wrong; returns ``augment``."""
    if np.issubdtype(dataset.images.dtype, np.floating):  # uint8 images cannot hold NaN; floats are checked once
        bad = ~np.isfinite(dataset.images)
        if bad.any():
            examples = np.flatnonzero(bad.reshape(len(dataset.images), -1).any(axis=1))
            raise ValueError(f"dataset.images holds {int(bad.sum())} NaN or infinite values in {len(examples)} "
                             f"example(s), the first at index {int(examples[0])}: training on them would make the "
                             f"weights NaN. Received: dataset {dataset.name!r} ({dataset.split})")
    if ("crop" in augment or "flip" in augment) and dataset.images.ndim != 4:
        raise ValueError("augment 'crop' and 'flip' need images (N, height, width, channels). "
                         f"Received: dataset.images of shape {dataset.images.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    return augment


def _image_store(images, pad):
    """The images as one constant; for crops and flips (``pad`` not None) padded, transposed and
    flattened over columns, the layout `_augment_block` gathers from.
    """
    if pad is None:
        return tf.constant(images)
    store = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)]).transpose(0, 2, 1, 3)
    return tf.constant(np.ascontiguousarray(store).reshape((-1,) + store.shape[2:]))


def _random_layers(augment, seed):
    """Keras's RandAugment (or None) and mixers (MixUp, CutMix) for ``augment``, seeded from ``seed``."""
    mixers = []
    if "mixup" in augment:
        mixers.append(keras.layers.MixUp(seed=seed + 3))
    if "cutmix" in augment:
        mixers.append(keras.layers.CutMix(seed=seed + 4))
    randaugment = keras.layers.RandAugment(value_range=(0, 1), seed=seed + 2) if "randaugment" in augment else None
    return randaugment, mixers


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
        mean: subtracted after scaling to [0, 1]: a number, per-channel values,
            or anything that broadcasts to an example's shape; None: 0. Defaults to `None`.
        std: divided by after the mean, shaped as ``mean``; None: 1. Defaults to `None`.
        one_hot: one-hot labels (label smoothing, MixUp, CutMix need them). Defaults to `True`.
        drop_remainder: drop the last partial batch; defaults to ``training``
            (equal batches on every replica).
        background: prepare batches on tf.data's own threads, ahead of the
            model (parallel map and prefetch). Defaults to `None`: on when a GPU
            is visible. Off, batches are prepared in the training loop's thread,
            several at a time (`batches_per_call`), and tf.data adds no prefetch
            thread of its own: on a CPU the model's step uses every core, and a
            thread beside it competes; the pipeline's ops use every core in turn
            (benchmarks/README.md, "Input pipelines").
            Either way tf.data's autotuning is off (`pipeline_options`).

    Returns:
        A ``tf.data.Dataset`` of ``(images float32, labels)`` batches; a training
        pipeline carries its `EpochCounter` as ``.epoch_counter``.
    """
    augment = _check_pipeline_inputs(dataset, batch_size, check_augment(augment) if training else ())
    if background is None:
        background = default_background()
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)
    classes = dataset.num_classes
    n = len(dataset)
    shape = tuple(dataset.images.shape[1:])
    crop, flip = "crop" in augment, "flip" in augment
    pad = crop_padding if crop else 0
    store = _image_store(dataset.images, pad if crop or flip else None)
    labels = tf.constant(dataset.labels)
    size = int(np.prod(shape))
    mean_e, std_e = _per_element(mean, std, shape)
    randaugment, mixers = _random_layers(augment, seed)
    # Keras's random layers advance a seed variable per call: they run batch by batch, in sequence
    stateful = randaugment is not None or bool(mixers)
    per_call = batches_per_call(batch_size, shape)
    full = n // batch_size * batch_size
    counter = EpochCounter(n, seed) if training else None

    def block(i):
        """Block ``i`` of this epoch: ``per_call`` whole batches, or the last partial batch (when kept)."""
        start = tf.minimum(tf.cast(i, tf.int32) * per_call * batch_size, full)
        end = tf.where(start == full, n, tf.minimum(start + per_call * batch_size, full))
        if training:
            epoch = counter.begin(i)  # a new pass begins the next epoch, unless the engine sets it
            with tf.control_dependencies([epoch]):
                return counter.order[start:end], epoch * n + tf.cast(start, tf.int64)
        return tf.range(start, end), tf.cast(start, tf.int64)

    def load(index, position):
        """A block of batches: one gather, one vectorized augmentation (on uint8), one conversion."""
        if crop or flip:
            x = _augment_block(store, index, tf.stack([tf.cast(seed, tf.int64), position]), shape, pad, flip)
        else:
            x = tf.gather(store, index)
        y = tf.gather(labels, index)
        if stateful:  # [0, 1] for RandAugment and the mixers; normalized after them
            x = _affine(x, size, 1 / 255.0)
        else:
            x = _affine(x, size, 1 / (255.0 * std_e), -mean_e / std_e)
            y = tf.one_hot(y, classes) if one_hot else y
        per_batch = tf.minimum(batch_size, tf.shape(index)[0])  # a block is whole batches, or the last partial one
        return (tf.reshape(x, (-1, per_batch) + shape),
                tf.reshape(y, tf.concat([[-1, per_batch], tf.shape(y)[1:]], 0)))

    def finish(x, y):  # the stateful layers, in a map of their own, batch by batch; then labels and normalization
        if randaugment is not None:
            x = randaugment(x, training=True)
        y = tf.one_hot(y, classes) if (one_hot or mixers) else y
        for mixer in mixers:
            out = mixer({"images": x, "labels": y}, training=True)
            x, y = out["images"], out["labels"]
        return _affine(x, size, 1 / std_e, -mean_e / std_e), y

    whole_blocks = -(-full // (per_call * batch_size))
    partial = not drop_remainder and full < n  # the last partial batch, when kept: one more block
    ds = tf.data.Dataset.range(whole_blocks + int(partial))
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) if background else {}
    ds = ds.map(block).map(load, **parallel).unbatch()
    if stateful:
        ds = ds.map(finish)
    # cardinality is lost through unbatch; Keras needs it for progress and schedules
    ds = ds.apply(tf.data.experimental.assert_cardinality(n // batch_size if drop_remainder else -(-n // batch_size)))
    if background:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    ds = ds.with_options(pipeline_options(background))
    ds.epoch_counter = counter
    # what a run folder records of this pipeline (cnnzoo.training.run_folder): the data's content and the settings
    ds.cnnzoo_identity = functools.cache(lambda: {  # computed once, however many runs read it
        "kind": "arrays", "dataset": dataset.name, "split": dataset.split, "examples": n,
        "fingerprint": array_fingerprint(dataset.images, dataset.labels), "batch_size": batch_size,
        "training": bool(training), "seed": seed, "augment": list(augment), "crop_padding": pad,
        "mean": listed(mean), "std": listed(std)})
    return ds


def listed(value):
    """Per-channel values (a number or a sequence) as a JSON-ready list of floats; None stays None."""
    return None if value is None else np.asarray(value, "float64").ravel().tolist()
