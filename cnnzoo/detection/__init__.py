"""Detection's pieces, in Keras ops (every backend): boxes, default boxes (anchors), matching, post-processing.

The detectors themselves are models (`cnnzoo.ssd300_vgg16`, `cnnzoo.ssd`, in ``cnnzoo/models/ssd.py``);
`cnnzoo.detect` runs one on images.
"""

from cnnzoo.detection.anchors import SSD300, DefaultBoxes
from cnnzoo.detection.boxes import (
    SSD_BOX_WEIGHTS,
    batched_nms,
    box_area,
    box_iou,
    check_boxes,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    match_anchors,
    nms,
    nms_mask,
)
from cnnzoo.detection.postprocess import Detections, detection_layer, postprocess

__all__ = [
    "SSD300",
    "SSD_BOX_WEIGHTS",
    "DefaultBoxes",
    "Detections",
    "batched_nms",
    "box_area",
    "box_iou",
    "check_boxes",
    "clip_boxes",
    "decode_boxes",
    "detection_layer",
    "encode_boxes",
    "match_anchors",
    "nms",
    "nms_mask",
    "postprocess",
]
