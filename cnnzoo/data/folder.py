"""A user's own data: one sub-folder per class, of images, or of frame folders (clips).

Unreadable or corrupt files are reported by path and skipped (the count is
reported); images of mixed sizes and channel counts are resized and
converted; an empty class folder, or fewer than two classes, is an error.
"""

import dataclasses
import os

import numpy as np

from cnnzoo.data.datasets import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class ImageFolderError(ValueError):
    """The folder's layout cannot be used (no classes, an empty class...)."""


@dataclasses.dataclass
class FolderReport:
    class_names: list
    skipped: list  # (path, reason)

    def __str__(self):
        lines = [f"{len(self.class_names)} classes: {', '.join(self.class_names)}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} unreadable file(s):")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)


def read_image(path, size, channels):
    """One image as ``(H, W, channels)`` uint8, resized to ``size`` (``(height, width)``) unless None.

    Raises:
        ValueError: the file is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            img = img.convert("L" if channels == 1 else "RGB")
            if size is not None:
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    array = array[..., None] if array.ndim == 2 else array
    if channels not in (1, 3):  # e.g. a 4-channel model: repeat the grey level
        array = np.repeat(array.mean(axis=-1, keepdims=True).astype(np.uint8), channels, axis=-1)
    return array


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


def load_image_folder(root, image_size, channels=3, frames=None, name=None):
    """Reads ``root/<class>/<image>`` (or ``root/<class>/<clip folder>/<frame>``).

    Args:
        root: the folder.
        image_size: ``(height, width)`` every image is resized to.
        channels: 1 (grey) or 3 (RGB); others repeat the grey level. Defaults to `3`.
        frames: for clips, the number of frames each clip is resampled to.
        name: dataset name in the returned record. Defaults to the folder's name.

    Returns:
        ``(Dataset, FolderReport)``.
    """
    classes = class_folders(root)
    images, labels, skipped = [], [], []
    for label, cls in enumerate(classes):
        folder = os.path.join(root, cls)
        entries = sorted(e for e in os.listdir(folder) if not e.startswith("."))
        count = 0
        for entry in entries:
            path = os.path.join(folder, entry)
            try:
                if os.path.isdir(path):
                    if frames is None:
                        raise ValueError("a folder where images were expected (clips need a 3D model)")
                    sample = _read_clip(path, image_size, channels, frames)
                elif frames is not None:
                    raise ValueError("an image where a clip folder of frames was expected")
                else:
                    sample = read_image(path, image_size, channels)
            except ValueError as e:
                skipped.append((path, str(e)))
                continue
            images.append(sample)
            labels.append(label)
            count += 1
        if count == 0:
            raise ImageFolderError(f"class folder {folder} has no readable {'clips' if frames else 'images'}")
    dataset = Dataset(name or os.path.basename(os.path.normpath(root)), "train", np.stack(images),
                      np.asarray(labels, np.int64), len(classes), f"folder:{root}")
    return dataset, FolderReport(classes, skipped)


def split(dataset, fraction, seed=0):
    """A seeded, per-class split: ``(train, validation)`` with ``fraction`` of each class held out."""
    mask = holdout_mask(dataset.labels, dataset.num_classes, fraction, seed)
    take = lambda m, s: dataclasses.replace(dataset, images=dataset.images[m], labels=dataset.labels[m], split=s)  # noqa: E731
    return take(~mask, "train"), take(mask, "validation")
