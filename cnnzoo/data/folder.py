"""A user's own data: one sub-folder per class, of images, of video files or of frame folders (clips).

`scan_folder` lists a folder once (class folders, extensions, a quick check of
every image file) for images and clips alike; `image_folder_pipeline` streams
the images through tf.data, decoded and resized in parallel, never all in
memory; `load_image_folder` reads a small folder into memory.

Unreadable, corrupt, truncated and non-image files are reported by path and
skipped (the count is reported); grey, RGBA, palette and 16-bit images are
converted (16-bit scaled, not clipped); an empty class folder, or fewer than
two classes, is an error.
"""

import dataclasses
import functools
import os

import numpy as np

from cnnzoo.data.datasets import Dataset
from cnnzoo.files import files_fingerprint

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class ImageFolderError(ValueError):
    """The folder's layout cannot be used (no classes, an empty class...)."""


@dataclasses.dataclass
class FolderReport:
    """What scanning a folder found: the class names, the files per class and the files skipped (and why)."""
    class_names: list
    skipped: list  # (path, reason)

    def __str__(self):
        lines = [f"{len(self.class_names)} classes: {', '.join(self.class_names)}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s):")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)


def _to_mode(img, channels):
    """A PIL image in ``"L"`` (channels 1) or ``"RGB"``, whatever it was stored as.

    16-bit and 32-bit integer images (PIL modes ``I;16*``, ``I``) are scaled from
    0..65535 to 0..255 rather than clipped; palette images go through RGBA so a
    transparent palette entry converts as PIL defines it; RGBA drops alpha
    (torchvision's loader does the same); CMYK, LA and 1-bit convert as PIL does.
    """
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        array = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.round(array * (255.0 / 65535.0)), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        array = np.asarray(img, dtype=np.float64)
        scale = 255.0 if array.size and np.nanmax(array) <= 1.0 else 1.0
        img = Image.fromarray(np.clip(np.nan_to_num(array) * scale, 0, 255).astype(np.uint8), "L")
    elif img.mode == "P":
        img = img.convert("RGBA")
    return img.convert("L" if channels == 1 else "RGB")


def _as_array(img, channels):
    array = np.asarray(img, dtype=np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    if channels not in (1, 3):  # e.g. a 4-channel model: repeat the grey level
        array = np.repeat(array.mean(axis=-1, keepdims=True).astype(np.uint8), channels, axis=-1)
    return array


def read_image(path, size, channels):
    """One image as ``(H, W, channels)`` uint8, stretched to ``size`` (``(height, width)``) unless None.

    Raises:
        ValueError: the file is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            img = _to_mode(img, channels)
            if size is not None:
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            return _as_array(img, channels)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None


def crop_box(width, height, out_size, resize="crop", resize_ratio=1.0, rng=None,
             scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """The region of a ``width x height`` image that becomes the ``out_size`` ``(h, w)`` output.

    - ``rng`` given (training): torchvision's RandomResizedCrop: an area of
      ``scale`` of the image and an aspect ratio in ``ratio`` (log-uniform), ten
      tries, then the whole image cropped to the nearest allowed ratio.
    - ``resize="crop"`` (evaluation): the shorter side resized to
      ``resize_ratio`` times the output's, then the centre ``out_size`` crop
      (torchvision's Resize(256) + CenterCrop(224) is ``resize_ratio=256/224``);
      the aspect ratio is kept.
    - ``resize="stretch"``: the whole image, stretched to the output.

    Returns:
        ``(left, top, right, bottom)`` in the image's pixels (floats).
    """
    out_h, out_w = out_size
    if rng is not None:
        area = width * height
        log_ratio = np.log(ratio)
        for _ in range(10):
            target = area * rng.uniform(*scale)
            aspect = np.exp(rng.uniform(*log_ratio))
            w = int(round(np.sqrt(target * aspect)))
            h = int(round(np.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                return (left, top, left + w, top + h)
        in_ratio = width / height
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            w, h = int(round(height * max(ratio))), height
        else:
            w, h = width, height
        return ((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)
    if resize == "stretch":
        return (0.0, 0.0, float(width), float(height))
    # the image scaled by s has its shorter side at resize_ratio * the output's; the crop is out_size there
    s = resize_ratio * min(out_h, out_w) / min(width, height)
    w, h = min(out_w / s, width), min(out_h / s, height)
    return ((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)


def load_image(path, out_size, channels=3, resize="crop", resize_ratio=1.0, rng=None, flip=False):
    """One image file prepared for a model: decoded, converted, cropped and resized in one PIL pass.

    The crop region is chosen first (`crop_box`), so JPEG files are decoded at the
    smallest DCT scale that still covers it (PIL's ``draft``): a 4000x3000 photo
    for a 224 crop decodes at an eighth of its size. ``flip`` with ``rng``: a
    horizontal flip with probability 1/2.

    Returns:
        ``(out_h, out_w, channels)`` uint8.

    Raises:
        ValueError: naming what is wrong, when the file is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    out_h, out_w = out_size
    try:
        with Image.open(path) as img:
            width, height = img.size
            box = crop_box(width, height, out_size, resize, resize_ratio, rng)
            if img.format == "JPEG":
                s = max(out_w / max(box[2] - box[0], 1e-9), out_h / max(box[3] - box[1], 1e-9))
                img.draft("L" if channels == 1 else "RGB", (int(np.ceil(width * s)), int(np.ceil(height * s))))
                factor = img.size[0] / width
                box = tuple(b * factor for b in box)
            img.load()
            img = _to_mode(img, channels)
            img = img.resize((out_w, out_h), Image.BILINEAR, box=box)
            if rng is not None and flip and rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            return _as_array(img, channels)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None


def check_image_file(path):
    """Why ``path`` is not a usable image, or None: read from its header and its last bytes, not decoded.

    A JPEG whose end-of-image marker is missing, or a PNG without its IEND chunk,
    is truncated; a file PIL cannot identify is not an image. Fast enough to
    scan tens of thousands of files before the first training step.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            fmt = img.format
            width, height = img.size
        if width < 1 or height < 1:
            return "an empty image"
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 1024))
            tail = f.read()
        if fmt == "JPEG" and b"\xff\xd9" not in tail:
            return "truncated JPEG (no end-of-image marker)"
        if fmt == "PNG" and b"IEND" not in tail:
            return "truncated PNG (no IEND chunk)"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def _read_clip(folder, size, channels, frames):
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ValueError("no frames")
    picks = np.linspace(0, len(files) - 1, frames).round().astype(int)  # resample to `frames`
    return np.stack([read_image(os.path.join(folder, files[i]), size, channels) for i in picks])


def class_folders(root):
    """The sorted class sub-folders of ``root``; raises unless it is a folder with at least two."""
    if not os.path.isdir(root):
        raise ImageFolderError(f"not a folder. Received: data_dir={root!r}")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if len(classes) < 2:
        raise ImageFolderError(
            f"{root} must hold one sub-folder per class, at least two; found {len(classes)} "
            f"({', '.join(classes) or 'none'})")
    return classes


def holdout_mask(labels, num_classes, fraction, seed=0):
    """A seeded per-class hold-out: True for ``fraction`` of each class (at least one)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1). Received: fraction={fraction!r}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        mask[idx[: max(1, int(round(len(idx) * fraction)))]] = True
    return mask


VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv")
KINDS = ("images", "clips", "frame_folders")


@dataclasses.dataclass
class FileList:
    """What a folder scan found: paths and labels in a fixed order, the class names, what was skipped."""

    paths: list
    labels: np.ndarray
    class_names: list
    skipped: list  # (path, reason)

    def __len__(self):
        return len(self.paths)

    @property
    def num_classes(self):
        return len(self.class_names)

    def report(self):
        return FolderReport(list(self.class_names), list(self.skipped))

    def subset(self, mask):
        mask = np.asarray(mask, bool)
        return FileList([p for p, m in zip(self.paths, mask) if m], self.labels[mask], self.class_names,
                        self.skipped)

    def split(self, fraction, seed=0):
        """``(train, validation)``: a seeded ``fraction`` of each class held out (at least one)."""
        mask = holdout_mask(self.labels, self.num_classes, fraction, seed)
        return self.subset(~mask), self.subset(mask)


def _entry_problem(path, kind, verify):
    """Why an entry of a class folder is not a sample of ``kind``, or None."""
    is_dir = os.path.isdir(path)
    if kind == "images":
        if is_dir:
            return "a folder where images were expected (clips need a 3D model)"
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            return "not an image file (by its extension)"
        return check_image_file(path) if verify else None
    if kind == "frame_folders":
        return None if is_dir else "an image where a clip folder of frames was expected"
    return None if is_dir or path.lower().endswith(VIDEO_EXTENSIONS) else "neither a video file nor a frame folder"


def scan_folder(root, kind="images", classes=None, verify=True):
    """Lists ``root/<class>/<entry>`` once: the one scanner of image folders and clip folders.

    Args:
        root: the folder.
        kind: ``"images"`` (image files; with ``verify`` each is checked from its
            header and last bytes, `check_image_file`), ``"clips"`` (video files
            or frame folders) or ``"frame_folders"``. Defaults to `"images"`.
        classes: the class folders to read, in label order (another folder's
            classes, for a separate validation folder); None: every sub-folder,
            sorted. Defaults to `None`.
        verify: check image files while scanning. Defaults to `True`.

    Returns:
        A `FileList`. Entries that are not samples of ``kind`` are in its
        ``skipped`` with the reason; a class without samples raises.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}. Received: kind={kind!r}")
    classes = class_folders(root) if classes is None else list(classes)
    paths, labels, skipped = [], [], []
    for label, cls in enumerate(classes):
        folder = os.path.join(root, cls)
        if not os.path.isdir(folder):
            raise ImageFolderError(f"class folder {folder} is missing")
        count = 0
        for entry in sorted(e for e in os.listdir(folder) if not e.startswith(".")):
            path = os.path.join(folder, entry)
            problem = _entry_problem(path, kind, verify)
            if problem:
                skipped.append((path, problem))
                continue
            paths.append(path)
            labels.append(label)
            count += 1
        if count == 0:
            what = {"images": "readable images", "clips": "videos or frame folders", "frame_folders": "clips"}[kind]
            raise ImageFolderError(f"class folder {folder} has no {what}")
    return FileList(paths, np.asarray(labels, np.int64), classes, skipped)


def load_image_folder(root, image_size, channels=3, frames=None, name=None):
    """Reads ``root/<class>/<image>`` (or ``root/<class>/<clip folder>/<frame>``) into memory, stretched
    to ``image_size``. Fine for small folders; `image_folder_pipeline` streams folders of any size.

    Args:
        root: the folder.
        image_size: ``(height, width)`` every image is resized to.
        channels: 1 (grey) or 3 (RGB); others repeat the grey level. Defaults to `3`.
        frames: for clips, the number of frames each clip is resampled to.
        name: dataset name in the returned record. Defaults to the folder's name.

    Returns:
        ``(Dataset, FolderReport)``.
    """
    files = scan_folder(root, "frame_folders" if frames else "images", verify=False)
    images, labels, skipped = [], [], list(files.skipped)
    for path, label in zip(files.paths, files.labels):
        try:
            images.append(_read_clip(path, image_size, channels, frames) if frames
                          else read_image(path, image_size, channels))
        except ValueError as e:
            skipped.append((path, str(e)))
            continue
        labels.append(label)
    for label, cls in enumerate(files.class_names):
        if label not in labels:
            raise ImageFolderError(f"class folder {os.path.join(root, cls)} has no readable "
                                   f"{'clips' if frames else 'images'}")
    dataset = Dataset(name or os.path.basename(os.path.normpath(root)), "train", np.stack(images),
                      np.asarray(labels, np.int64), files.num_classes, f"folder:{root}")
    return dataset, FolderReport(files.class_names, skipped)


def read_or_next(index, paths, read, reported, what="file"):
    """``read(j)`` for the first ``j`` from ``index`` on (wrapping) whose file reads: a file that turned
    unreadable mid-run is reported on stderr once, by path, and the next one takes its place, so an
    epoch keeps its length. 32 unreadable in a row raise: the folder changed under the run.
    """
    import sys

    n = len(paths)
    for step in range(min(n, 32)):
        j = (int(index) + step) % n
        try:
            return read(j)
        except ValueError as e:
            if paths[j] not in reported:
                reported.add(paths[j])
                print(f"cnnzoo: skipping unreadable {what} {paths[j]} ({e}); the next one takes its place",
                      file=sys.stderr, flush=True)
    raise ValueError(f"32 {what}s in a row are unreadable from {paths[int(index)]} on: the folder changed")


def image_folder_pipeline(files, image_size, training, batch_size, seed=0, channels=3, resize="crop",
                          resize_ratio=1.0, augment=None, mean=None, std=None, background=True,
                          drop_remainder=None, one_hot=True):
    """A tf.data pipeline streaming a `FileList` of images from disk: nothing is held in memory.

    Each image is decoded, converted, cropped and resized in one PIL pass
    (`load_image`) inside a parallel map; batches are normalized after scaling to
    [0, 1]. Training order is a stateless permutation per epoch (`EpochCounter`,
    set by the training engine) and every random crop and flip is drawn from
    ``(seed, epoch, position)``, so a resumed run sees the batches an
    uninterrupted one sees. A file that cannot be read when its turn comes (it
    changed or was deleted mid-run) is reported by path on stderr and the next
    readable file of the list takes its place, so an epoch keeps its length.

    Args:
        files: a `FileList` of images (`scan_folder`).
        image_size: ``(height, width)`` of the output.
        training: shuffle every epoch and augment.
        batch_size: examples per batch.
        seed: of the order and the augmentation. Defaults to `0`.
        channels: 1 or 3 (others repeat the grey level). Defaults to `3`.
        resize: ``"crop"`` (keep the aspect ratio: shorter side to ``resize_ratio``
            times the output, centre crop) or ``"stretch"``. Defaults to `"crop"`.
        resize_ratio: 256/224 reproduces torchvision's ImageNet evaluation. Defaults to `1.0`.
        augment: ``"random_resized_crop"`` (torchvision's RandomResizedCrop and a
            horizontal flip, the ImageNet training transform) or None (the evaluation
            transform in training too). Applied only when ``training``. Defaults to `None`.
        mean: per-channel mean subtracted after scaling to [0, 1]; None: none.
        std: per-channel standard deviation divided by; None: none.
        background: decode on tf.data's threads, ahead of the model. Defaults to `True`.
        drop_remainder: defaults to ``training``.
        one_hot: one-hot labels. Defaults to `True`.

    Returns:
        A ``tf.data.Dataset`` of ``(images float32, labels)`` batches with a known
        number of batches; a training pipeline carries ``.epoch_counter``.
    """
    import tensorflow as tf

    from cnnzoo.data.pipeline import EpochCounter, listed, pipeline_options

    if augment not in (None, "random_resized_crop"):
        raise ValueError(f"augment must be None or 'random_resized_crop'. Received: augment={augment!r}")
    if resize not in ("crop", "stretch"):
        raise ValueError(f"resize must be 'crop' or 'stretch'. Received: resize={resize!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    n = len(files)
    if n == 0:
        raise ImageFolderError("the file list is empty")
    paths, labels = list(files.paths), np.asarray(files.labels, np.int64)
    out_h, out_w = (int(image_size[0]), int(image_size[1]))
    random_crop = training and augment == "random_resized_crop"
    reported = set()

    def load(index, epoch):
        rng = np.random.default_rng([seed, int(epoch), int(index)]) if random_crop else None
        return read_or_next(index, paths, lambda j: (
            load_image(paths[j], (out_h, out_w), channels, resize, resize_ratio, rng, flip=True), labels[j]),
            reported, "image")

    counter = EpochCounter(n, seed) if training else None
    ds = tf.data.Dataset.range(n)
    if training:
        def position(i):  # a new pass begins the next epoch by itself, unless the engine's callback sets it
            epoch = counter.begin(i)
            with tf.control_dependencies([epoch]):
                return tf.gather(counter.order, i), tf.identity(epoch)

        ds = ds.map(position)
    else:
        ds = ds.map(lambda i: (i, tf.constant(0, tf.int64)))

    def decode(index, epoch):
        image, label = tf.numpy_function(load, [index, epoch], [tf.uint8, tf.int64], stateful=False)
        return tf.ensure_shape(image, (out_h, out_w, channels)), tf.ensure_shape(label, ())

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE if background else None, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else bool(drop_remainder))
    scale = 1.0 / 255.0
    mean_t = None if mean is None else tf.constant(np.broadcast_to(np.asarray(mean, "float32"), (channels,)))
    std_t = None if std is None else tf.constant(np.broadcast_to(np.asarray(std, "float32"), (channels,)))

    def finish(x, y):
        x = tf.cast(x, tf.float32) * scale
        if mean_t is not None:
            x = x - mean_t
        if std_t is not None:
            x = x / std_t
        return x, (tf.one_hot(y, files.num_classes) if one_hot else y)

    ds = ds.map(finish)
    if background:
        ds = ds.prefetch(2)
    ds = ds.with_options(pipeline_options(background))
    ds.epoch_counter = counter
    ds.cnnzoo_identity = functools.cache(lambda: {  # what a run folder records of it (computed once: it stats
        # every file)
        "kind": "image files", "files": n, "fingerprint": files_fingerprint(paths, labels.tolist()),
        "image_size": [out_h, out_w], "channels": channels, "resize": resize, "resize_ratio": float(resize_ratio),
        "augment": augment, "training": bool(training), "batch_size": batch_size, "seed": seed,
        "mean": listed(mean), "std": listed(std)})
    return ds


def split(dataset, fraction, seed=0):
    """A seeded, per-class split of an in-memory `Dataset`: ``(train, validation)`` with ``fraction`` of each
    class held out (`FileList.split` is the same for a scanned folder).
    """
    mask = holdout_mask(dataset.labels, dataset.num_classes, fraction, seed)
    take = lambda m, s: dataclasses.replace(dataset, images=dataset.images[m], labels=dataset.labels[m], split=s)  # noqa: E731
    return take(~mask, "train"), take(mask, "validation")
