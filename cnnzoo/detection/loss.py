"""Training a detector: ground truth as per-anchor targets (`encode_targets`), and SSD's loss (`SSDLoss`).

A detector trains on ``(images, targets)`` where ``targets`` is ``(batch, anchors, 5)``: for every anchor
the box codes of the ground-truth box it is matched to (`match_anchors`, then `encode_boxes`) and that
box's class, 0 for the background. `SSDLoss` is torchvision's SSD loss on them: smooth L1 over the
matched anchors' codes, plus cross-entropy over the matched anchors and the hardest background anchors
(three per matched one, per image), both summed and divided by the batch's matched anchors.
"""

import keras
import numpy as np
from keras import ops

from cnnzoo.detection.boxes import SSD_BOX_WEIGHTS, check_boxes, encode_boxes, match_anchors


def encode_targets(boxes, labels, anchors, iou_threshold=0.5, box_weights=SSD_BOX_WEIGHTS, classes=None):
    """Per-anchor targets of ground-truth boxes: ``(..., anchors, 5)``, box codes then the class.

    Args:
        boxes: ``(..., M, 4)`` ``(x1, y1, x2, y2)`` in the network input's pixels; rows whose label is 0
            are padding (images with fewer boxes).
        labels: ``(..., M)`` classes, 1 and up (0: padding).
        anchors: ``(A, 4)``, the detector's (`cnnzoo.detection.detection_layer(model).anchors`).
        iou_threshold: the IoU that matches an anchor to a box. Defaults to `0.5` (SSD's).
        box_weights: the box coder's weights. Defaults to SSD's `(10, 10, 5, 5)`.
        classes: the detector's classes (background included): labels and boxes are checked when given
            (a label outside them, a box with ``x2 < x1``, raise naming it). Defaults to `None`.

    Returns:
        float32 ``(..., A, 5)``; an unmatched anchor has codes 0 and class 0.
    """
    if classes is not None:
        check_boxes(boxes)
        values = np.asarray(labels)
        bad = values[(values < 0) | (values >= classes)]
        if bad.size:
            raise ValueError(f"labels must be in [1, {classes}) for a detector of {classes} classes (0: padding, "
                             f"the background). Received: label {int(bad[0])}")
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    anchors = ops.cast(ops.convert_to_tensor(anchors), "float32")
    m = int(boxes.shape[-2])
    matches = match_anchors(boxes, anchors, iou_threshold, valid=labels > 0)
    matched = ops.expand_dims(matches >= 0, -1)
    pick = ops.one_hot(ops.maximum(matches, 0), m, dtype="float32")  # (..., A, M): exact gathers as products
    matched_boxes = ops.matmul(pick, boxes)
    safe = ops.where(matched, matched_boxes, ops.cast(anchors, "float32"))  # no log(0) for the unmatched
    codes = ops.where(matched, encode_boxes(safe, anchors, box_weights), 0.0)
    classes = ops.sum(pick * ops.expand_dims(ops.cast(labels, "float32"), -2), axis=-1)
    classes = ops.where(matches >= 0, classes, 0.0)
    return ops.concatenate([codes, ops.expand_dims(classes, -1)], axis=-1)


@keras.saving.register_keras_serializable(package="cnnzoo")
class SSDLoss(keras.losses.Loss):
    """SSD's multibox loss, torchvision's ``SSD.compute_loss``, on `encode_targets` targets.

    ``y_pred`` is the detector's ``(batch, anchors, 4 + classes)``. The loss is
    ``(sum of smooth-L1 over matched anchors' codes + sum of cross-entropy over matched anchors and the
    negatives_per_positive x as many hardest background anchors per image) / matched anchors in the
    batch`` (at least 1). Keras averages a loss over the batch, so each image's share is scaled by the
    batch size: the value is torchvision's exactly.

    Args:
        negatives_per_positive: background anchors kept per matched anchor (hard-negative mining).
            Defaults to `3` (torchvision's positive fraction 0.25).
        box_weight: the weight of the box term. Defaults to `1.0`.
    """

    def __init__(self, negatives_per_positive=3.0, box_weight=1.0, name="ssd_loss", reduction="sum_over_batch_size",
                 **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        for arg, value in (("negatives_per_positive", negatives_per_positive), ("box_weight", box_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{arg} must be a number >= 0. Received: {arg}={value!r}")
        self.negatives_per_positive = float(negatives_per_positive)
        self.box_weight = float(box_weight)

    def terms(self, y_true, y_pred):
        """``(box term, class term)`` per image, each already divided by the batch's matched anchors."""
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        classes = ops.cast(y_true[..., 4], "int32")
        positive = classes > 0
        positive_f = ops.cast(positive, "float32")
        count = ops.maximum(ops.sum(positive_f), 1.0)
        diff = ops.abs(y_pred[..., :4] - y_true[..., :4])
        smooth_l1 = ops.sum(ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5), axis=-1)
        box = ops.sum(smooth_l1 * positive_f, axis=-1)
        logits = y_pred[..., 4:]
        cross_entropy = ops.logsumexp(logits, axis=-1) - ops.sum(
            logits * ops.one_hot(classes, int(logits.shape[-1]), dtype="float32"), axis=-1)
        # the hardest negatives: rank background anchors by their loss, keep 3 per positive of the image
        ranked = ops.where(positive, -float("inf"), ops.stop_gradient(cross_entropy))
        rank = ops.argsort(ops.argsort(-ranked, axis=-1), axis=-1)
        quota = self.negatives_per_positive * ops.sum(positive_f, axis=-1, keepdims=True)
        # as torchvision: ranks are over every anchor (positives last), so a quota beyond the negatives
        # counts positives twice
        negative = ops.cast(ops.cast(rank, "float32") < quota, "float32")
        cls = ops.sum(cross_entropy * (positive_f + negative), axis=-1)
        return self.box_weight * box / count, cls / count

    def call(self, y_true, y_pred):
        box, cls = self.terms(y_true, y_pred)
        batch = ops.cast(ops.shape(box)[0], "float32")
        return (box + cls) * batch  # Keras divides by the batch size

    def get_config(self):
        return {**super().get_config(), "negatives_per_positive": self.negatives_per_positive,
                "box_weight": self.box_weight}
