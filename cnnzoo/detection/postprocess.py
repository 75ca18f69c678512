"""From a detector's raw outputs to boxes, labels and scores: `postprocess` and `detect`.

torchvision's SSD post-processing, in Keras ops: per image, the class logits' softmax; the boxes
decoded from the anchors and clipped to the input; per class (background excluded) the boxes scoring
above ``score_threshold``, at most ``topk_candidates`` of them; greedy NMS within each class at
``iou_threshold``; the ``detections_per_image`` best that remain, best first; boxes scaled from the
network's input to each original image's size. The settings' defaults are the detector's own
(its `DetectionOutputs` layer's config: torchvision's 0.01, 0.45, 400 and 200 for SSD300).
"""

import dataclasses

import numpy as np
from keras import ops

from cnnzoo.detection.boxes import clip_boxes, decode_boxes, nms_mask
from cnnzoo.detection.layers import POSTPROCESS_SETTINGS, DetectionOutputs, check_postprocess_setting


@dataclasses.dataclass
class Detections:
    """One image's detections, best first.

    Attributes:
        boxes: ``(n, 4)`` float32 ``(x1, y1, x2, y2)`` in the image's pixels.
        labels: ``(n,)`` int class indices (0 is the background, never reported).
        scores: ``(n,)`` float32 class probabilities.
        class_names: the names of every class index, or empty.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    class_names: tuple = ()

    def __len__(self):
        return len(self.scores)

    @property
    def names(self):
        """The label of each detection as a name (the index as text when no names are known)."""
        return [self.class_names[i] if i < len(self.class_names) else str(int(i)) for i in self.labels]

    def above(self, score):
        """The detections scoring at least ``score``."""
        keep = self.scores >= score
        return Detections(self.boxes[keep], self.labels[keep], self.scores[keep], self.class_names)

    def __repr__(self):
        lines = [f"Detections: {len(self)}"]
        for box, name, score in list(zip(self.boxes, self.names, self.scores))[:10]:
            lines.append(f"  {name:<16} {score:.3f}  ({', '.join(f'{v:.1f}' for v in box)})")
        if len(self) > 10:
            lines.append(f"  ... {len(self) - 10} more")
        return "\n".join(lines)


def is_detector(model):
    """True for a cnnzoo detector (a model with a `DetectionOutputs` layer)."""
    return any(isinstance(layer, DetectionOutputs) for layer in getattr(model, "layers", ()))


def detection_layer(model):
    """The `DetectionOutputs` layer of a detector (its anchors and settings), or a clear error."""
    found = [layer for layer in getattr(model, "layers", ()) if isinstance(layer, DetectionOutputs)]
    if len(found) != 1:
        raise ValueError(f"model must be a cnnzoo detector (one DetectionOutputs layer, as cnnzoo.ssd300_vgg16 "
                         f"and cnnzoo.ssd build). Received: model={getattr(model, 'name', model)!r}")
    return found[0]


def _settings(layer, overrides):
    """The detector's own post-processing settings, with the given ones (checked) in their place."""
    settings = {name: getattr(layer, name) for name in POSTPROCESS_SETTINGS}
    settings.update({k: check_postprocess_setting(k, v) for k, v in overrides.items() if v is not None})
    return settings


def _one_image(outputs, layer, settings):
    """``(boxes, labels, scores)`` of one image's ``(anchors, 4 + classes)`` outputs, in input pixels."""
    height, width = layer.image_size
    outputs = ops.convert_to_tensor(outputs)
    boxes = clip_boxes(decode_boxes(outputs[:, :4], layer.anchors, layer.box_weights), height, width)
    scores = ops.transpose(ops.softmax(outputs[:, 4:], axis=-1)[:, 1:])  # (classes - 1, anchors)
    threshold = settings["score_threshold"]
    k = min(settings["topk_candidates"], int(scores.shape[-1]))
    top, index = ops.top_k(ops.where(scores > threshold, scores, -1.0), k)  # per class, best first
    valid = top > threshold
    candidates = ops.take(boxes, index, axis=0)  # (classes - 1, k, 4)
    keep = nms_mask(candidates, settings["iou_threshold"], valid)
    flat = ops.reshape(ops.where(keep, top, -1.0), (-1,))
    n = min(settings["detections_per_image"], int(ops.sum(ops.cast(keep, "int32"))))
    best_scores, best = ops.top_k(flat, n)
    best = ops.convert_to_numpy(best)
    chosen = ops.convert_to_numpy(ops.reshape(candidates, (-1, 4)))[best]
    return chosen.astype("float32"), (best // k + 1).astype("int64"), ops.convert_to_numpy(best_scores)


def postprocess(outputs, model, image_sizes=None, class_names=(), **settings):
    """A detector's raw outputs as `Detections`, one per image.

    Args:
        outputs: ``(batch, anchors, 4 + classes)``, what ``model`` outputs.
        model: the detector (its `DetectionOutputs` layer gives the anchors and the defaults).
        image_sizes: ``(height, width)`` of each original image, to scale the boxes to. Defaults to
            the network's input size.
        class_names: the names of the class indices. Defaults to none.
        **settings: ``score_threshold``, ``iou_threshold``, ``topk_candidates``,
            ``detections_per_image``, over the detector's own.
    """
    layer = detection_layer(model)
    chosen = _settings(layer, settings)
    outputs = ops.convert_to_tensor(outputs)
    if len(outputs.shape) != 3 or int(outputs.shape[-1]) != 4 + layer.classes:
        raise ValueError(f"outputs must be (batch, anchors, {4 + layer.classes}) for this detector. "
                         f"Received: shape={tuple(outputs.shape)}")
    batch = int(outputs.shape[0])
    sizes = [layer.image_size] * batch if image_sizes is None else list(image_sizes)
    if len(sizes) != batch:
        raise ValueError(f"image_sizes must give one (height, width) per image ({batch}). "
                         f"Received: {len(sizes)} sizes")
    results = []
    for i in range(batch):
        boxes, labels, scores = _one_image(outputs[i], layer, chosen)
        ratio = (np.asarray(sizes[i], "float32") / np.asarray(layer.image_size, "float32"))[[1, 0, 1, 0]]
        results.append(Detections(boxes * ratio, labels, scores, tuple(class_names)))
    return results
