"""Moving digits: a video classification dataset where the label is the motion.

Each clip is ``frames`` frames (default 16) of ``size x size`` (default 64)
showing one real MNIST digit moving with one of ten motion patterns:

    0 left, 1 right, 2 up, 3 down, 4 diagonal down-right, 5 diagonal up-left,
    6 clockwise circle, 7 anticlockwise circle, 8 zoom in, 9 zoom out.

Start position, speed, circle radius and digit scale are drawn at random for
every clip, so a single frame (a digit of some size somewhere) says nearly
nothing about the motion: only the change across frames does. Train clips use
MNIST training digits, test clips MNIST test digits. Generation is seeded:
the same (split, count, seed) gives the same clips. Classes are balanced
(``count / 10`` each, shuffled).
"""

import numpy as np

from cnnzoo.data.datasets import Dataset, load_arrays

MOTIONS = ("left", "right", "up", "down", "down_right", "up_left", "clockwise", "anticlockwise",
           "zoom_in", "zoom_out")


def _resize_nearest(digit, scale):
    n = digit.shape[0]
    m = max(2, int(round(n * scale)))
    idx = np.minimum((np.arange(m) + 0.5) * n / m, n - 1).astype(int)
    return digit[np.ix_(idx, idx)]


def _paste(canvas, sprite, cy, cx):
    """Max-composites ``sprite`` centred at (cy, cx), clipped at the borders."""
    h, w = sprite.shape
    size = canvas.shape[0]
    y0, x0 = int(round(cy - h / 2)), int(round(cx - w / 2))
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(size, y0 + h), min(size, x0 + w)
    if ye > ys and xe > xs:
        region = canvas[ys:ye, xs:xe]
        np.maximum(region, sprite[ys - y0 : ye - y0, xs - x0 : xe - x0], out=region)


def render_clip(digit, motion, rng, frames=16, size=64):
    """One clip ``(frames, size, size)`` uint8 of ``digit`` (28x28 uint8) moving with ``motion`` (0-9)."""
    t = np.arange(frames) / max(frames - 1, 1)
    clip = np.zeros((frames, size, size), np.uint8)
    unit = size / 64  # digit scales are relative to a 64-pixel canvas
    if motion in (8, 9):  # zoom about a random centre
        small, large = rng.uniform(0.6, 0.9) * unit, rng.uniform(1.3, 1.6) * unit
        scales = small + (large - small) * (t if motion == 8 else 1 - t)
        cy, cx = rng.uniform(size * 0.35, size * 0.65, 2)
        for f, s in enumerate(scales):
            _paste(clip[f], _resize_nearest(digit, s), cy, cx)
        return clip
    sprite = _resize_nearest(digit, rng.uniform(0.6, 1.6) * unit)
    if motion < 6:
        direction = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0), 4: (1, 1), 5: (-1, -1)}[motion]
        distance = rng.uniform(size * 0.25, size * 0.45)
        dy, dx = (np.array(direction) / np.linalg.norm(direction)) * distance
        margin = sprite.shape[0] / 2
        # start so the whole path stays mostly in the frame
        cy0 = rng.uniform(margin, size - margin) - dy * 0.5
        cx0 = rng.uniform(margin, size - margin) - dx * 0.5
        for f in range(frames):
            _paste(clip[f], sprite, cy0 + dy * t[f], cx0 + dx * t[f])
        return clip
    radius = rng.uniform(size * 0.12, size * 0.22)
    cy, cx = rng.uniform(size * 0.38, size * 0.62, 2)
    phase = rng.uniform(0, 2 * np.pi)
    sign = 1 if motion == 6 else -1  # image y points down: +angle is clockwise on screen
    angles = phase + sign * 2 * np.pi * 0.75 * t
    for f in range(frames):
        _paste(clip[f], sprite, cy + radius * np.sin(angles[f]), cx + radius * np.cos(angles[f]))
    return clip


def generate(digits, count, seed=0, frames=16, size=64):
    """``count`` clips (balanced over the ten motions) from an array of 28x28 digits.

    Returns:
        ``(clips (count, frames, size, size, 1) uint8, labels (count,) int64)``.
    """
    if count < 1:
        raise ValueError(f"count must be positive. Received: count={count!r}")
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(MOTIONS)
    rng.shuffle(labels)
    picks = rng.integers(0, len(digits), count)
    clips = np.empty((count, frames, size, size, 1), np.uint8)
    for i in range(count):
        clips[i, ..., 0] = render_clip(digits[picks[i]].reshape(28, 28), int(labels[i]), rng, frames, size)
    return clips, labels.astype(np.int64)


def load(split, count, data_dir=None, seed=None, frames=16, size=64, allow_sample=True):
    """Moving-digits clips of ``split`` as a `Dataset`, from that split's real MNIST digits.

    ``seed`` defaults to 0 for train and 1 for test.
    """
    mnist = load_arrays("mnist", split, data_dir=data_dir, allow_sample=allow_sample)
    clips, labels = generate(mnist.images[..., 0], count, seed=(0 if split == "train" else 1) if seed is None else seed,
                             frames=frames, size=size)
    return Dataset("moving_digits", split, clips, labels, len(MOTIONS), f"generated from {mnist.source}")
