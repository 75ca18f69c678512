"""Boxes in Keras ops (every backend): areas, IoU, the box coder, clipping and non-maximum suppression.

Boxes are ``(x1, y1, x2, y2)`` in pixels, torchvision's convention; every function takes leading batch
dimensions (``(..., N, 4)``). The arithmetic follows ``torchvision.ops`` and torchvision's ``BoxCoder``
operation for operation, so a cnnzoo detector decodes what torchvision's decodes to float32 rounding.

Non-maximum suppression is exact greedy NMS (torchvision's ``nms``: boxes in descending score order, each
kept unless an already kept box overlaps it with IoU above the threshold), computed without a
per-box loop: ``keep[i] = valid[i] and no kept j before i overlaps i`` is iterated from ``keep = valid``
to its fixed point, which is unique and equal to the greedy result (the value at position ``i`` is
settled once every earlier position is, so ``K`` rounds settle everything; real detections settle in
a handful). Each round is one ``(..., K, K)`` product, so NMS runs batched over classes and images.
"""

import math

import numpy as np
from keras import ops

SSD_BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
"""The SSD box coder's weights for (x, y, w, h) (torchvision's ``SSD``)."""

BBOX_XFORM_CLIP = math.log(1000.0 / 16)
"""The largest log-scale a decoded width or height may take (torchvision's ``BoxCoder`` default)."""


def check_boxes(boxes, name="boxes"):
    """Checks NumPy-convertible boxes: shape ``(..., 4)``, finite, ``x2 >= x1`` and ``y2 >= y1``.

    Raises:
        ValueError: naming ``name``, the first offending box and its index.
    """
    array = np.asarray(boxes, dtype="float64")
    if array.ndim < 1 or array.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4): (x1, y1, x2, y2) per box. "
                         f"Received: {name} of shape {array.shape}")
    flat = array.reshape(-1, 4)
    bad = ~np.isfinite(flat).all(axis=1) | (flat[:, 2] < flat[:, 0]) | (flat[:, 3] < flat[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, finite. "
                         f"Received: {name}[{i}] = {flat[i].tolist()}")
    return array


def _floats(x):
    """A tensor of ``x``, float32 unless it is floating already (integer boxes are pixels too)."""
    x = ops.convert_to_tensor(x)
    return x if "float" in str(x.dtype) else ops.cast(x, "float32")


def box_area(boxes):
    """``(x2 - x1) * (y2 - y1)`` of ``(..., N, 4)`` boxes: ``(..., N)``."""
    boxes = _floats(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair: ``(..., N, 4)``, ``(..., M, 4)`` -> ``(..., N, M)``.

    As ``torchvision.ops.box_iou``: two empty boxes give NaN (0 / 0), which no threshold exceeds.
    """
    boxes1, boxes2 = _floats(boxes1), _floats(boxes2)
    area1, area2 = box_area(boxes1), box_area(boxes2)
    a, b = ops.expand_dims(boxes1, -2), ops.expand_dims(boxes2, -3)
    top_left = ops.maximum(a[..., :2], b[..., :2])
    bottom_right = ops.minimum(a[..., 2:], b[..., 2:])
    wh = ops.maximum(bottom_right - top_left, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = ops.expand_dims(area1, -1) + ops.expand_dims(area2, -2) - inter
    return inter / union


def _centres(boxes):
    widths = boxes[..., 2] - boxes[..., 0]
    heights = boxes[..., 3] - boxes[..., 1]
    return widths, heights, boxes[..., 0] + 0.5 * widths, boxes[..., 1] + 0.5 * heights


def encode_boxes(boxes, anchors, weights=SSD_BOX_WEIGHTS):
    """The regression targets that move ``anchors`` onto ``boxes`` (matched pairs, ``(..., 4)`` each).

    ``(wx * dx / w_a, wy * dy / h_a, ww * log(w / w_a), wh * log(h / h_a))`` with ``dx, dy`` the centre
    offsets: torchvision's ``BoxCoder.encode_single``.
    """
    boxes, anchors = _floats(boxes), _floats(anchors)
    wx, wy, ww, wh = weights
    ex_w, ex_h, ex_x, ex_y = _centres(anchors)
    gt_w, gt_h, gt_x, gt_y = _centres(boxes)
    return ops.stack([wx * (gt_x - ex_x) / ex_w, wy * (gt_y - ex_y) / ex_h,
                      ww * ops.log(gt_w / ex_w), wh * ops.log(gt_h / ex_h)], axis=-1)


def decode_boxes(codes, anchors, weights=SSD_BOX_WEIGHTS, clip=BBOX_XFORM_CLIP):
    """The boxes that ``codes`` (``(..., A, 4)``) make of ``anchors`` (``(A, 4)`` or ``(..., A, 4)``).

    The inverse of `encode_boxes`, with the log-scales clipped at ``clip`` before the exponential:
    torchvision's ``BoxCoder.decode_single``.
    """
    codes = _floats(codes)
    anchors = ops.cast(ops.convert_to_tensor(anchors), codes.dtype)
    wx, wy, ww, wh = weights
    widths, heights, ctr_x, ctr_y = _centres(anchors)
    dx, dy = codes[..., 0] / wx, codes[..., 1] / wy
    dw = ops.minimum(codes[..., 2] / ww, clip)
    dh = ops.minimum(codes[..., 3] / wh, clip)
    x, y = dx * widths + ctr_x, dy * heights + ctr_y
    half_w, half_h = 0.5 * (ops.exp(dw) * widths), 0.5 * (ops.exp(dh) * heights)
    return ops.stack([x - half_w, y - half_h, x + half_w, y + half_h], axis=-1)


def clip_boxes(boxes, height, width):
    """Boxes clipped to an image of ``height`` x ``width`` (torchvision's ``clip_boxes_to_image``)."""
    boxes = _floats(boxes)
    x = ops.clip(boxes[..., 0::2], 0.0, float(width))
    y = ops.clip(boxes[..., 1::2], 0.0, float(height))
    return ops.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)


def nms_mask(boxes, iou_threshold, valid=None):
    """Greedy NMS over boxes already in descending score order: which survive, ``(..., K)`` booleans.

    Args:
        boxes: ``(..., K, 4)``, the highest-scoring first along the last box axis.
        iou_threshold: a box is dropped when a kept, higher-scoring box overlaps it with IoU above this.
        valid: ``(..., K)`` booleans, the candidates (padding is False). Defaults to all.
    """
    boxes = _floats(boxes)
    k = int(boxes.shape[-2])
    if valid is None:
        valid = ops.ones(tuple(boxes.shape[:-1]), dtype="bool")
    valid = ops.cast(valid, "bool")
    if k == 0:
        return valid
    earlier = ops.convert_to_tensor(np.tril(np.ones((k, k), dtype=bool), -1))  # [i, j]: j ranks above i
    overlaps = ops.logical_and(box_iou(boxes, boxes) > iou_threshold, earlier)
    keep = valid
    for _ in range(k):
        hit = ops.any(ops.logical_and(overlaps, ops.expand_dims(keep, -2)), axis=-1)
        settled = ops.logical_and(valid, ops.logical_not(hit))
        if bool(ops.all(ops.equal(settled, keep))):
            break
        keep = settled
    return keep


def nms(boxes, scores, iou_threshold):
    """torchvision's ``nms``: the indices of the boxes kept, in descending score order.

    Args:
        boxes: ``(N, 4)``.
        scores: ``(N,)``.
        iou_threshold: boxes overlapping a kept, higher-scoring one with IoU above this are dropped.

    Returns:
        An int tensor of indices into ``boxes``.
    """
    boxes, scores = _floats(boxes), _floats(scores)
    n = int(boxes.shape[0])
    if n == 0:
        return ops.zeros((0,), dtype="int32")
    _, order = ops.top_k(scores, n)  # descending; ties keep their index order
    keep = nms_mask(ops.take(boxes, order, axis=0), iou_threshold)
    return ops.convert_to_tensor(ops.convert_to_numpy(order)[ops.convert_to_numpy(keep)])


def batched_nms(boxes, scores, labels, iou_threshold):
    """torchvision's ``batched_nms``: NMS within each label, indices kept in descending score order.

    Boxes of different labels never suppress each other: each label's boxes are shifted by an offset
    larger than every coordinate (torchvision's own way for up to 1,000 boxes on the CPU).
    """
    boxes = _floats(boxes)
    if int(boxes.shape[0]) == 0:
        return ops.zeros((0,), dtype="int32")
    offsets = ops.cast(ops.convert_to_tensor(labels), boxes.dtype) * (ops.max(boxes) + 1.0)
    return nms(boxes + ops.expand_dims(offsets, -1), scores, iou_threshold)


def match_anchors(boxes, anchors, iou_threshold=0.5, valid=None):
    """SSD's matching of anchors to ground-truth boxes (torchvision's ``SSDMatcher``).

    Each anchor takes the box it overlaps most when that IoU is at least ``iou_threshold`` (else -1);
    then every box takes the anchor it overlaps most, whatever the IoU, so no box goes unmatched.

    Args:
        boxes: ``(..., M, 4)`` ground truth (padding rows allowed, marked by ``valid``).
        anchors: ``(A, 4)``.
        iou_threshold: the IoU that makes a match. Defaults to `0.5`.
        valid: ``(..., M)`` booleans, the real boxes. Defaults to all.

    Returns:
        ``(..., A)`` int32: the index of each anchor's box, or -1 (background).
    """
    boxes = _floats(boxes)
    anchors = ops.cast(ops.convert_to_tensor(anchors), boxes.dtype)
    m = int(boxes.shape[-2])
    iou = box_iou(boxes, anchors)  # (..., M, A)
    if valid is not None:
        iou = ops.where(ops.expand_dims(ops.cast(valid, "bool"), -1), iou, -1.0)
    iou = ops.where(ops.isnan(iou), 0.0, iou)
    best = ops.cast(ops.argmax(iou, axis=-2), "int32")  # per anchor
    matches = ops.where(ops.max(iou, axis=-2) >= iou_threshold, best, -1)
    # every real box claims its best anchor (the later box wins a shared anchor, as torchvision's scatter)
    best_anchor = ops.argmax(iou, axis=-1)  # (..., M)
    claims = ops.one_hot(best_anchor, int(anchors.shape[0]), dtype="int32")  # (..., M, A)
    if valid is not None:
        claims = claims * ops.expand_dims(ops.cast(valid, "int32"), -1)
    index = ops.reshape(ops.arange(1, m + 1, dtype="int32"), (m, 1))
    claimant = ops.max(claims * index, axis=-2) - 1  # the highest box index claiming each anchor, or -1
    return ops.where(claimant >= 0, claimant, matches)
