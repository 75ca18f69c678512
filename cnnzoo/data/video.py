"""Video pipelines: UCF101 through tensorflow-datasets, or a local folder of clips.

Clip sampling takes ``frames`` frames ``stride`` apart, from a random start
(training) or the centre (evaluation), looping short videos. Frames are resized
so the short side is ``size * 8 / 7`` (128 for 112, as torchvision's video
recipes), cropped to ``size x size`` (random when training, centre otherwise),
flipped at random when training, scaled to [0, 1] and normalized with the
Kinetics-400 channel statistics. Randomness is stateless, keyed by the seed
and the example's position.
"""

import tensorflow as tf

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def sample_clip(video, frames, stride, training, seed):
    """``frames`` frames ``stride`` apart from a ``(T, H, W, C)`` video (looped when too short)."""
    length = tf.shape(video)[0]
    span = (frames - 1) * stride + 1
    if training:
        start = tf.random.stateless_uniform([], seed=seed, minval=0, maxval=tf.maximum(length - span, 0) + 1,
                                            dtype=tf.int32)
    else:
        start = tf.maximum(length - span, 0) // 2
    indices = (start + tf.range(frames) * stride) % length
    return tf.gather(video, indices)


def transform_clip(clip, size, training, seed):
    """Resize (short side ``size * 8/7``), crop to ``size``, flip, normalize: ``(T, size, size, C)`` float32."""
    clip = tf.cast(clip, tf.float32) / 255.0
    shape = tf.shape(clip)
    h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    short = tf.cast(round(size * 8 / 7), tf.float32)
    scale = short / tf.minimum(h, w)
    new_hw = tf.cast(tf.round(tf.stack([h * scale, w * scale])), tf.int32)
    clip = tf.image.resize(clip, new_hw)
    channels = clip.shape[-1] or 3
    if training:
        clip = tf.image.stateless_random_crop(clip, [shape[0], size, size, channels], seed=seed)
        flip = tf.random.stateless_uniform([], seed=seed[::-1]) < 0.5
        clip = tf.cond(flip, lambda: tf.reverse(clip, axis=[2]), lambda: clip)
    else:
        top, left = (new_hw[0] - size) // 2, (new_hw[1] - size) // 2
        clip = clip[:, top : top + size, left : left + size, :]
    clip = tf.ensure_shape(clip, [None, size, size, channels])
    return (clip - tf.constant(KINETICS_MEAN[:channels])) / tf.constant(KINETICS_STD[:channels])


def clip_pipeline(ds, classes, frames=16, stride=2, size=112, training=True, batch_size=8, seed=0):
    """Batched ``(clips, one-hot labels)`` from a dataset of ``(video uint8 (T, H, W, C), label)``."""
    if training:
        ds = ds.shuffle(256, seed=seed, reshuffle_each_iteration=True)

    def prepare(index, example):
        video, label = example
        key = tf.stack([tf.constant(seed, tf.int64), index])
        clip = sample_clip(video, frames, stride, training, key)
        return transform_clip(clip, size, training, key), tf.one_hot(label, classes)

    ds = ds.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def ucf101(split="train", frames=16, stride=2, size=112, training=None, batch_size=8, seed=0, data_dir=None,
           config="ucf101_1_256", download=False):
    """UCF101 (101 classes) from tensorflow-datasets as batched clips.

    Args:
        split: ``"train"`` or ``"test"`` (official split 1 with the default config).
        data_dir: tensorflow-datasets' data folder. Defaults to its own.
        download: let tensorflow-datasets download it (6.5 GB). Defaults to `False`.
    """
    import tensorflow_datasets as tfds

    training = split == "train" if training is None else training
    ds = tfds.load(f"ucf101/{config}", split=split, data_dir=data_dir, download=download, shuffle_files=training)
    ds = ds.map(lambda example: (example["video"], example["label"]))
    return clip_pipeline(ds, 101, frames, stride, size, training, batch_size, seed)
