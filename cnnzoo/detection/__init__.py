"""Detection's pieces, in Keras ops (every backend): boxes, default boxes (anchors), matching, the detector's
layers (SSD's L2 normalization, the head's outputs with their anchors), training targets and SSD's loss,
post-processing (``coco_eval``: COCO's mAP, with pycocotools).

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
from cnnzoo.detection.layers import DetectionOutputs, L2Normalization
from cnnzoo.detection.loss import SSDLoss, encode_targets
from cnnzoo.detection.postprocess import Detections, detection_layer, is_detector, postprocess

__all__ = [
    "SSD300",
    "SSD_BOX_WEIGHTS",
    "DefaultBoxes",
    "DetectionOutputs",
    "L2Normalization",
    "Detections",
    "SSDLoss",
    "batched_nms",
    "box_area",
    "box_iou",
    "check_boxes",
    "clip_boxes",
    "decode_boxes",
    "detection_layer",
    "is_detector",
    "encode_boxes",
    "encode_targets",
    "match_anchors",
    "nms",
    "nms_mask",
    "postprocess",
]
