"""Video pipelines: UCF101 through tensorflow-datasets, or a local folder of clips.

A local folder holds one sub-folder per class of video files (decoded with PyAV,
``pip install cnnzoo[video]``) or of frame folders (one image per frame); the
videos are decoded lazily inside the tf.data pipeline, so a dataset of any size
streams from disk. UCF101 as distributed (``UCF-101/<class>/*.avi`` and
``ucfTrainTestlist/``) uses its official train/test lists.

Clip sampling takes ``frames`` frames ``stride`` apart, from a random start
(training) or the centre (evaluation), looping short videos. Frames are resized
so the short side is ``size * 8 / 7`` (128 for 112, as torchvision's video
recipes), cropped to ``size x size`` (random when training, centre otherwise),
flipped at random when training, scaled to [0, 1] and normalized with the
Kinetics-400 channel statistics. Randomness is stateless, keyed by the seed
and the example's position.
"""

import functools
import os
import sys

import numpy as np
import tensorflow as tf

from cnnzoo.data.folder import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,  # noqa: F401 (re-exported)
    ImageFolderError,
    class_folders,
    holdout_mask,
    read_image,
    read_or_next,
    scan_folder,
)
from cnnzoo.data.pipeline import pipeline_options
from cnnzoo.files import files_fingerprint

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


def clip_pipeline(ds, classes, frames=16, stride=2, size=112, training=True, batch_size=8, seed=0, shuffle=True):
    """Batched ``(clips, one-hot labels)`` from a dataset of ``(video uint8 (T, H, W, C), label)``."""
    if training and shuffle:
        ds = ds.shuffle(256, seed=seed, reshuffle_each_iteration=True)

    def prepare(index, example):
        video, label = example
        key = tf.stack([tf.constant(seed, tf.int64), index])
        clip = sample_clip(video, frames, stride, training, key)
        return transform_clip(clip, size, training, key), tf.one_hot(label, classes)

    ds = ds.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
    return ds.with_options(pipeline_options(background=True))  # no autotuning: see pipeline_options


def ucf101(split="train", frames=16, stride=2, size=112, training=None, batch_size=8, seed=0, tfds_dir=None,
           config="ucf101_1_256", download=False):
    """UCF101 (101 classes) from tensorflow-datasets as batched clips.

    Args:
        split: ``"train"`` or ``"test"`` (official split 1 with the default config).
        frames: frames per clip. Defaults to `16`.
        stride: take every ``stride``-th frame. Defaults to `2`.
        size: the clips' height and width. Defaults to `112`.
        training: random clip positions and augmentation, shuffled; defaults to ``split == "train"``.
        batch_size: clips per batch. Defaults to `8`.
        seed: of the clip positions, augmentation and shuffling. Defaults to `0`.
        config: the tensorflow-datasets config (split and frame size). Defaults to `"ucf101_1_256"`.
        tfds_dir: tensorflow-datasets' data folder (its ``data_dir``; cnnzoo's ``data_dir`` is
            always a folder of the dataset's own files). Defaults to its own.
        download: let tensorflow-datasets download it (6.5 GB). Defaults to `False`.
    """
    import tensorflow_datasets as tfds

    training = split == "train" if training is None else training
    ds = tfds.load(f"ucf101/{config}", split=split, data_dir=tfds_dir, download=download, shuffle_files=training)
    ds = ds.map(lambda example: (example["video"], example["label"]))
    return clip_pipeline(ds, 101, frames, stride, size, training, batch_size, seed)


def decode_video(path):
    """All frames of a video file or a frame folder as ``(T, H, W, 3)`` uint8.

    Raises:
        ValueError: naming the path, when it cannot be decoded.
        ImportError: for a video file when PyAV is not installed.
    """
    path = os.fsdecode(path)
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise ValueError(f"frame folder {path} has no images")
        frames = []
        for name in files:  # every frame at the first frame's size
            try:
                frames.append(read_image(os.path.join(path, name), frames[0].shape[:2] if frames else None, 3))
            except ValueError as e:
                raise ValueError(f"cannot read frame {os.path.join(path, name)}: {e}") from None
        return np.stack(frames)
    try:
        import av
    except ImportError:
        raise ImportError(f"decoding video files ({path}) needs PyAV: pip install av (or cnnzoo[video]); "
                          "frame folders need nothing more") from None
    try:
        with av.open(path) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.FFmpegError, OSError, ValueError, IndexError) as e:  # IndexError: no video stream
        raise ValueError(f"cannot decode {path}: {type(e).__name__}: {e}") from None
    if not frames:
        raise ValueError(f"video {path} has no frames")
    return np.stack(frames)


def _scan(root, classes):
    files = scan_folder(root, "clips", classes=classes)
    return files.paths, [int(v) for v in files.labels], [path for path, _ in files.skipped]


def _ucf_lists(root):
    """``(video folder, list folder)`` when ``root`` is UCF101 as distributed, else None."""
    for lists in (os.path.join(root, "ucfTrainTestlist"), root):
        if os.path.isfile(os.path.join(lists, "classInd.txt")):
            videos = os.path.join(root, "UCF-101") if os.path.isdir(os.path.join(root, "UCF-101")) else root
            return videos, lists
    return None


def _read_ucf_split(videos, lists, split, fold):
    with open(os.path.join(lists, "classInd.txt")) as f:
        classes = [line.split()[1] for line in f if line.strip()]  # "1 ApplyEyeMakeup"
    index = {c: i for i, c in enumerate(classes)}
    name = os.path.join(lists, f"{'train' if split == 'train' else 'test'}list0{fold}.txt")
    if not os.path.isfile(name):
        raise ImageFolderError(f"UCF101 split file {name} is missing (fold={fold})")
    paths, labels = [], []
    with open(name) as f:
        for line in f:
            if line.strip():
                rel = line.split()[0]  # "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi [label]"
                paths.append(os.path.join(videos, rel))
                labels.append(index[rel.split("/")[0]])
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise ImageFolderError(f"{len(missing)} of the {len(paths)} videos listed in {name} are missing under "
                               f"{videos}, e.g. {missing[0]}")
    return paths, labels, classes


def list_clips(root, split="train", fold=1, holdout=0.2, seed=0):
    """The clips of ``split`` in a local folder: ``(paths, labels, class_names)``.

    Layouts, the first that matches:
    1. ``root/train/<class>/...`` and ``root/test/<class>/...``;
    2. UCF101 as distributed: ``classInd.txt`` and ``trainlist0{fold}.txt`` / ``testlist0{fold}.txt``
       in ``root/ucfTrainTestlist`` (or ``root``), videos in ``root/UCF-101`` (or ``root``);
    3. ``root/<class>/...``: a seeded ``holdout`` fraction of each class is the test split.
    Entries of a class folder are video files or frame folders; other files are skipped
    with a message.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'. Received: split={split!r}")
    if not os.path.isdir(root):
        raise ImageFolderError(f"not a folder. Received: data_dir={root!r}")
    if os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "test")):
        classes = class_folders(os.path.join(root, "train"))
        paths, labels, skipped = _scan(os.path.join(root, split), classes)
    elif (ucf := _ucf_lists(root)) is not None:
        paths, labels, classes = _read_ucf_split(*ucf, split, fold)
        skipped = []
    else:
        if not 0 < holdout < 1:
            raise ValueError(f"holdout must be in (0, 1). Received: holdout={holdout!r}")
        classes = class_folders(root)
        paths, labels, skipped = _scan(root, classes)
        test = holdout_mask(labels, len(classes), holdout, seed)
        keep = test if split == "test" else ~test
        paths = [p for p, k in zip(paths, keep) if k]
        labels = [int(lab) for lab, k in zip(labels, keep) if k]
    if not paths:
        raise ImageFolderError(
            f"the {split} split of {root} has no clips (holdout={holdout}: too few clips per class?)")
    if skipped:
        print(f"cnnzoo: skipped {len(skipped)} entries that are neither videos nor frame folders, e.g. {skipped[0]}",
              file=sys.stderr)
    return paths, labels, classes


def folder_clips(root, split="train", frames=16, stride=2, size=112, training=None, batch_size=8, seed=0, fold=1,
                 holdout=0.2):
    """Batched clips from a local folder (see `list_clips` for the layouts).

    Returns:
        ``(dataset, class_names)``: the tf.data pipeline of ``(clips, one-hot labels)``.
    """
    training = split == "train" if training is None else training
    paths, labels, classes = list_clips(root, split, fold, holdout, seed)
    return clip_files_pipeline(paths, labels, len(classes), frames, stride, size, training, batch_size, seed), classes


def clip_files_pipeline(paths, labels, num_classes, frames=16, stride=2, size=112, training=True, batch_size=8,
                        seed=0):
    """Batched ``(clips, one-hot labels)`` streamed from video files or frame folders (`scan_folder`'s clips).

    Videos are decoded lazily inside the pipeline; an unreadable one is reported and
    the next readable clip takes its place, so the pipeline keeps a known number of
    batches (the training engine needs it).
    """
    if any(not os.path.isdir(p) for p in paths):
        try:
            import av  # noqa: F401
        except ImportError:
            raise ImportError("the folder holds video files: decoding them needs PyAV (pip install av, or "
                              "cnnzoo[video]); or extract the frames into one folder per clip") from None
    labels = np.asarray(labels, np.int64)
    reported = set()

    def decode(index):
        return read_or_next(index, paths, lambda j: (decode_video(paths[j]), labels[j]), reported, "clip")

    ds = tf.data.Dataset.range(len(paths))
    if training:  # shuffle the indices, not decoded videos: cheap and covers the whole set
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)

    def load(index):
        video, label = tf.numpy_function(decode, [index], [tf.uint8, tf.int64], stateful=False)
        return tf.ensure_shape(video, [None, None, None, 3]), tf.ensure_shape(label, ())

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = clip_pipeline(ds, num_classes, frames, stride, size, training, batch_size, seed, shuffle=False)
    ds.cnnzoo_identity = functools.cache(lambda: {  # what a run folder records of it (computed once)
        "kind": "clip files", "files": len(paths), "fingerprint": files_fingerprint(paths, labels.tolist()),
        "frames": frames, "stride": stride, "size": size, "training": bool(training), "batch_size": batch_size,
        "seed": seed})
    return ds
