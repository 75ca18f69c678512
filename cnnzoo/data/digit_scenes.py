"""Digit scenes: a detection dataset of real MNIST digits pasted on a canvas, with their tight boxes.

Each image is ``size x size`` (default 96), grey, black background, holding 1 to ``max_digits`` (default
4) MNIST digits, each resized to ``digit_size`` pixels (a random side between the two bounds), placed at
random where it overlaps no earlier digit's box by more than 0.2 IoU, and max-composited. A digit's box is
the tight box of its nonzero pixels, ``(x1, y1, x2, y2)`` in pixels (the pixels' outer edges); its class
is the digit plus one (0 is the background, as in every cnnzoo detector). Train scenes use MNIST training
digits, test scenes MNIST test digits. Generation is seeded: the same (split, count, seed) gives the same
scenes; nothing is downloaded.
"""

import dataclasses

import numpy as np

from cnnzoo.data.datasets import load_arrays
from cnnzoo.data.moving_digits import _resize_nearest

CLASS_NAMES = ("background",) + tuple(str(d) for d in range(10))


@dataclasses.dataclass
class DetectionDataset:
    """Images with boxes: what a detection recipe trains on.

    Attributes:
        name, split: the dataset and the split.
        images: ``(n, H, W, C)`` uint8.
        boxes: ``(n, M, 4)`` float32 ``(x1, y1, x2, y2)`` in pixels, padded with zeros past each image's boxes.
        labels: ``(n, M)`` int64 classes, 1 and up; 0 marks padding.
        class_names: the name of every class index, the background first.
        source: where the pictures came from.
    """

    name: str
    split: str
    images: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    class_names: tuple
    source: str = ""

    def __len__(self):
        return len(self.images)

    def objects(self, i):
        """``(boxes, labels)`` of image ``i`` without the padding."""
        real = self.labels[i] > 0
        return self.boxes[i][real], self.labels[i][real]


def _iou(box, others):
    if not len(others):
        return np.zeros(0)
    others = np.asarray(others)
    lt = np.maximum(box[:2], others[:, :2])
    rb = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(others) - inter)


def render_scene(digits, classes, rng, size=96, max_digits=4, digit_size=(16, 40), max_overlap=0.2):
    """One scene: ``(image (size, size) uint8, boxes (k, 4) float32, labels (k,) int64)``.

    Args:
        digits: ``(n, 28, 28)`` uint8 digits to draw from.
        classes: their digit classes.
        rng: a NumPy generator.
        size: the canvas side. Defaults to `96`.
        max_digits: at most this many digits (at least 1). Defaults to `4`.
        digit_size: the range of a pasted digit's side in pixels. Defaults to `(16, 40)`.
        max_overlap: the largest IoU of a new digit's box with an earlier one. Defaults to `0.2`.
    """
    canvas = np.zeros((size, size), np.uint8)
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, max_digits + 1))):
        pick = int(rng.integers(0, len(digits)))
        sprite = _resize_nearest(digits[pick], rng.uniform(*digit_size) / 28)
        rows, cols = np.nonzero(sprite)
        if not len(rows):
            continue
        h, w = sprite.shape
        for _attempt in range(20):
            y0, x0 = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
            box = np.float32([x0 + cols.min(), y0 + rows.min(), x0 + cols.max() + 1, y0 + rows.max() + 1])
            if not (_iou(box, boxes) > max_overlap).any():
                region = canvas[y0:y0 + h, x0:x0 + w]
                np.maximum(region, sprite, out=region)
                boxes.append(box)
                labels.append(int(classes[pick]) + 1)
                break
    return canvas, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def generate(digits, classes, count, seed=0, size=96, max_digits=4, digit_size=(16, 40)):
    """``count`` scenes from 28x28 digits and their classes.

    Returns:
        ``(images (count, size, size, 1) uint8, boxes (count, max_digits, 4) float32, labels (count, max_digits)
        int64)``, padded with zeros.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int. Received: count={count!r}")
    if not 8 <= size <= 1024:
        raise ValueError(f"size must be in [8, 1024] pixels. Received: size={size!r}")
    low, high = digit_size
    if not 4 <= low <= high <= size:
        raise ValueError(f"digit_size must be (low, high) with 4 <= low <= high <= size ({size}). "
                         f"Received: digit_size={digit_size!r}")
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 1), np.uint8)
    boxes = np.zeros((count, max_digits, 4), np.float32)
    labels = np.zeros((count, max_digits), np.int64)
    for i in range(count):
        image, b, lab = render_scene(digits, classes, rng, size, max_digits, digit_size)
        images[i, ..., 0] = image
        boxes[i, :len(b)], labels[i, :len(lab)] = b, lab
    return images, boxes, labels


def load(split, count, data_dir=None, seed=None, size=96, max_digits=4, digit_size=(16, 40), allow_sample=True):
    """Digit scenes of ``split`` as a `DetectionDataset`, from that split's real MNIST digits.

    ``seed`` defaults to 0 for train and 1 for test.
    """
    mnist = load_arrays("mnist", split, data_dir=data_dir, allow_sample=allow_sample)
    images, boxes, labels = generate(mnist.images[..., 0], mnist.labels, count,
                                     seed=(0 if split == "train" else 1) if seed is None else seed, size=size,
                                     max_digits=max_digits, digit_size=digit_size)
    return DetectionDataset("digit_scenes", split, images, boxes, labels, CLASS_NAMES,
                            f"generated from {mnist.source}")
