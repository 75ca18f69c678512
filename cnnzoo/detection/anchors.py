"""SSD's default boxes (anchors): Liu et al. 2016, section 2.2, as torchvision's ``DefaultBoxGenerator``.

Level ``k`` of ``m`` has scale ``s_k`` (``min_ratio + (max_ratio - min_ratio) * k / (m - 1)``, then 1.0,
unless ``scales`` are given) and, at every cell centre, the boxes ``s_k x s_k``,
``sqrt(s_k s_{k+1})`` squared, and for each aspect ratio ``r`` the pair ``s_k sqrt(r) x s_k / sqrt(r)``
and its transpose: ``2 + 2 len(r)`` boxes a location. Cell centres are ``(i + 0.5) / f_k`` of the image
with ``f_k`` the level's grid size, or the image size over its ``step`` when steps are given (SSD300's
8, 16, 32, 64, 100, 300). Widths and heights are clipped to [0, 1] of the image when ``clip``.

Anchors are ordered as the heads' outputs: level by level, row-major over the grid, the location's
boxes in the order above. The arithmetic is float32 in torchvision's order, so the anchors are
torchvision's to the bit for SSD300.
"""

import dataclasses
import math
import typing

import numpy as np


@dataclasses.dataclass(frozen=True)
class DefaultBoxes:
    """The default-box layout of an SSD head.

    Attributes:
        aspect_ratios: per level, the aspect ratios besides 1 (``((2,), (2, 3), ...)``).
        scales: ``levels + 1`` scales, as fractions of the image; None derives them from ``min_ratio``
            and ``max_ratio``.
        steps: per level, the image pixels per grid cell; None uses the grid sizes.
        clip: clip widths and heights to the image. Defaults to `True`.
        min_ratio, max_ratio: the first and last level's scale when ``scales`` is None.
    """

    aspect_ratios: tuple
    scales: typing.Optional[tuple] = None
    steps: typing.Optional[tuple] = None
    clip: bool = True
    min_ratio: float = 0.15
    max_ratio: float = 0.9

    def __post_init__(self):
        ratios = self.aspect_ratios
        if (not isinstance(ratios, (list, tuple)) or not ratios
                or any(not isinstance(r, (list, tuple)) for r in ratios)):
            raise ValueError("aspect_ratios must be a non-empty list with one list of ratios per level "
                             f"([[2], [2, 3], ...]). Received: aspect_ratios={ratios!r}")
        if any(isinstance(a, bool) or not isinstance(a, (int, float)) or not a > 0 for r in ratios for a in r):
            raise ValueError(f"aspect_ratios must hold positive numbers. Received: aspect_ratios={ratios!r}")
        object.__setattr__(self, "aspect_ratios", tuple(tuple(r) for r in ratios))
        levels = len(ratios)
        if self.steps is not None:
            if len(self.steps) != levels or any(not s > 0 for s in self.steps):
                raise ValueError(f"steps must be one positive number per level ({levels}). Received: "
                                 f"steps={self.steps!r}")
            object.__setattr__(self, "steps", tuple(self.steps))
        if self.scales is None:
            if not 0 < self.min_ratio <= self.max_ratio:
                raise ValueError(f"min_ratio and max_ratio must satisfy 0 < min_ratio <= max_ratio. Received: "
                                 f"min_ratio={self.min_ratio}, max_ratio={self.max_ratio}")
            if levels > 1:
                span = self.max_ratio - self.min_ratio
                scales = [self.min_ratio + span * k / (levels - 1.0) for k in range(levels)] + [1.0]
            else:
                scales = [self.min_ratio, self.max_ratio]
            object.__setattr__(self, "scales", tuple(scales))
        elif len(self.scales) != levels + 1 or any(not s > 0 for s in self.scales):
            raise ValueError(f"scales must be {levels + 1} positive numbers (one per level and one more). "
                             f"Received: scales={self.scales!r}")
        else:
            object.__setattr__(self, "scales", tuple(self.scales))
        object.__setattr__(self, "clip", bool(self.clip))

    @property
    def levels(self):
        return len(self.aspect_ratios)

    def per_location(self):
        """The number of boxes at each location of each level."""
        return [2 + 2 * len(r) for r in self.aspect_ratios]

    def _sizes(self, k):
        """``(pairs, 2)`` float32 widths and heights of level ``k``, as fractions of the image."""
        s_k = self.scales[k]
        s_prime = math.sqrt(self.scales[k] * self.scales[k + 1])
        pairs = [[s_k, s_k], [s_prime, s_prime]]
        for ratio in self.aspect_ratios[k]:
            root = math.sqrt(ratio)
            pairs += [[s_k * root, s_k / root], [s_k / root, s_k * root]]
        pairs = np.asarray(pairs, dtype=np.float32)
        return np.clip(pairs, 0, 1) if self.clip else pairs

    def boxes(self, grid_sizes, image_size):
        """The anchors of every level, ``(A, 4)`` float32 ``(x1, y1, x2, y2)`` in pixels.

        Args:
            grid_sizes: ``(height, width)`` of each level's feature map.
            image_size: ``(height, width)`` of the network's input.
        """
        if len(grid_sizes) != self.levels:
            raise ValueError(f"{self.levels} levels of aspect ratios, but {len(grid_sizes)} feature maps. "
                             f"Received: grid_sizes={list(grid_sizes)}")
        height, width = image_size
        out = []
        for k, (rows, cols) in enumerate(grid_sizes):
            if self.steps is not None:
                f_x, f_y = width / self.steps[k], height / self.steps[k]
            else:
                f_y, f_x = rows, cols
            xs = ((np.arange(cols) + 0.5).astype(np.float32) / np.float32(f_x)).astype(np.float32)
            ys = ((np.arange(rows) + 0.5).astype(np.float32) / np.float32(f_y)).astype(np.float32)
            cy, cx = np.meshgrid(ys, xs, indexing="ij")
            sizes = self._sizes(k)
            centres = np.repeat(np.stack([cx.reshape(-1), cy.reshape(-1)], axis=-1), len(sizes), axis=0)
            wh = np.tile(sizes, (rows * cols, 1))
            out.append(np.concatenate([centres, wh], axis=1))
        boxes = np.concatenate(out, axis=0).astype(np.float32)
        scale = np.asarray([width, height], dtype=np.float32)
        half = np.float32(0.5) * boxes[:, 2:]
        return np.concatenate([(boxes[:, :2] - half) * scale, (boxes[:, :2] + half) * scale], axis=1)

    def to_config(self):
        """The fields as plain lists, for a layer's ``get_config``."""
        return {"aspect_ratios": [list(r) for r in self.aspect_ratios], "scales": list(self.scales),
                "steps": None if self.steps is None else list(self.steps), "clip": self.clip}


SSD300 = DefaultBoxes(aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
                      scales=(0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05), steps=(8, 16, 32, 64, 100, 300))
"""SSD300's default boxes (torchvision's ``ssd300_vgg16``)."""
