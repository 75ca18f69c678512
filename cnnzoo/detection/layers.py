"""The layers a single-shot detector adds to a CNN: SSD's L2 normalization and its head's outputs.

They live with the detection pieces they use (the default boxes, the box coder's weights), above
`cnnzoo.layers` (whose argument checks they share), so the arrows between the two run one way.

`L2Normalization` is ParseNet's channel-wise L2 normalization with a learnt per-channel scale (SSD
applies it to VGG's conv4_3, whose activations are larger than the later maps'). `DetectionOutputs`
gathers an SSD head's per-level box and class convolutions into one ``(batch, anchors, 4 + classes)``
tensor and carries what turns it into boxes: the default-box layout, the image size, the box coder's
weights and the post-processing settings, all in its config, so a saved detector decodes as it did.
"""

import keras
from keras import ops

from cnnzoo.detection.anchors import DefaultBoxes
from cnnzoo.detection.boxes import SSD_BOX_WEIGHTS
from cnnzoo.layers import rank as rank_lib


@keras.saving.register_keras_serializable(package="cnnzoo")
class L2Normalization(keras.layers.Layer):
    """``x / max(||x||, epsilon) * scale`` over the channel axis, with ``scale`` learnt per channel.

    torchvision's SSD: ``scale_weight * F.normalize(x)``, the scale initialised to 20.

    Args:
        scale_init: the scale's initial value. Defaults to `20.0`.
        epsilon: the smallest norm divided by. Defaults to `1e-12` (PyTorch's ``F.normalize``).
        axis: the channel axis. Defaults to `-1`.
    """

    def __init__(self, scale_init=20.0, epsilon=1e-12, axis=-1, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale_init", scale_init), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"axis must be an int. Received: axis={axis!r}")
        self.scale_init = float(scale_init)
        self.epsilon = float(epsilon)
        self.axis = axis

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"L2Normalization needs a known channel axis. Received: input_shape={input_shape}")
        self.scale = self.add_weight(name="scale", shape=(channels,),
                                     initializer=keras.initializers.Constant(self.scale_init))

    def call(self, inputs):
        norm = ops.sqrt(ops.sum(ops.square(inputs), axis=self.axis, keepdims=True))
        shape = [1] * len(inputs.shape)
        shape[self.axis] = -1
        scale = ops.reshape(ops.cast(self.scale, inputs.dtype), shape)
        return scale * (inputs / ops.maximum(norm, self.epsilon))

    def get_config(self):
        return {**super().get_config(), "scale_init": self.scale_init, "epsilon": self.epsilon, "axis": self.axis}


POSTPROCESS_SETTINGS = ("score_threshold", "iou_threshold", "topk_candidates", "detections_per_image")


def check_postprocess_setting(name, value):
    """Checks one post-processing setting: a threshold in [0, 1], a count a positive int; the error names it."""
    if name not in POSTPROCESS_SETTINGS:
        raise TypeError(f"unknown post-processing setting {name!r}; the settings are {list(POSTPROCESS_SETTINGS)}")
    if name.endswith("threshold"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1]. Received: {name}={value!r}")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return value


@keras.saving.register_keras_serializable(package="cnnzoo")
class DetectionOutputs(keras.layers.Layer):
    """An SSD head's per-level outputs as ``(batch, anchors, 4 + classes)``: box codes, then class logits.

    Called on ``[boxes_1, ..., boxes_L, classes_1, ..., classes_L]``, each a convolution's output
    ``(batch, H, W, boxes per location * 4)`` / ``(... * classes)``; anchors are ordered level by
    level, row-major, as `DefaultBoxes` lays them out (torchvision's head permutes its outputs the same).

    Args:
        classes: the classes, background (index 0) included.
        image_size: ``(height, width)`` of the network's input.
        default_boxes: a `DefaultBoxes` or its ``to_config()`` dict.
        box_weights: the box coder's (x, y, w, h) weights. Defaults to SSD's `(10, 10, 5, 5)`.
        score_threshold, iou_threshold, topk_candidates, detections_per_image: post-processing
            defaults (`cnnzoo.detection.postprocess`): torchvision's SSD's 0.01, 0.45, 400 and 200.

    Attributes:
        anchors: ``(anchors, 4)`` float32 NumPy, set when the layer is built.
    """

    def __init__(self, classes, image_size, default_boxes, box_weights=SSD_BOX_WEIGHTS, score_threshold=0.01,
                 iou_threshold=0.45, topk_candidates=400, detections_per_image=200, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = rank_lib.check_data_format(data_format)  # of the maps it reads
        rank_lib.positive_int(classes, "classes")
        if classes < 2:
            raise ValueError(f"classes counts the background too, so it must be at least 2. "
                             f"Received: classes={classes}")
        rank_lib.check_positive_ints(image_size, "image_size")
        if len(image_size) != 2:
            raise ValueError(f"image_size must be (height, width). Received: image_size={image_size!r}")
        if isinstance(default_boxes, dict):
            default_boxes = DefaultBoxes(**default_boxes)
        if not isinstance(default_boxes, DefaultBoxes):
            raise TypeError(f"default_boxes must be a DefaultBoxes. Received: default_boxes={default_boxes!r}")
        if len(box_weights) != 4 or any(not w > 0 for w in box_weights):
            raise ValueError(f"box_weights must be 4 positive numbers. Received: box_weights={box_weights!r}")
        for name, value in (("score_threshold", score_threshold), ("iou_threshold", iou_threshold),
                            ("topk_candidates", topk_candidates), ("detections_per_image", detections_per_image)):
            check_postprocess_setting(name, value)
        self.classes = classes
        self.image_size = tuple(int(s) for s in image_size)
        self.default_boxes = default_boxes
        self.box_weights = tuple(float(w) for w in box_weights)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.topk_candidates = topk_candidates
        self.detections_per_image = detections_per_image
        self.anchors = None

    def _split(self, shapes):
        levels = self.default_boxes.levels
        if len(shapes) != 2 * levels:
            raise ValueError(f"DetectionOutputs takes {levels} box maps then {levels} class maps (one per level "
                             f"of its default boxes). Received: {len(shapes)} inputs")
        return shapes[:levels], shapes[levels:]

    def _channels_last(self, shape):
        shape = tuple(shape)
        return shape if self.data_format == "channels_last" else (shape[0],) + shape[2:] + (shape[1],)

    def build(self, input_shape):
        box_shapes, class_shapes = self._split([self._channels_last(s) for s in input_shape])
        grids = []
        for level, (b, c, per) in enumerate(zip(box_shapes, class_shapes, self.default_boxes.per_location()), 1):
            if len(b) != 4 or any(d is None for d in b[1:3]):
                raise ValueError(f"a detector needs a fixed input size: level {level}'s feature map is {tuple(b)}")
            if b[-1] != 4 * per or c[-1] != self.classes * per or tuple(b[1:3]) != tuple(c[1:3]):
                raise ValueError(f"level {level} expects {4 * per} box and {self.classes * per} class channels "
                                 f"on one grid ({per} boxes a location). Received: {tuple(b)} and {tuple(c)}")
            grids.append((int(b[1]), int(b[2])))
        self.grid_sizes = grids
        self.anchors = self.default_boxes.boxes(grids, self.image_size)

    def call(self, inputs):
        inputs = list(inputs)
        if self.data_format == "channels_first":  # each location's boxes are read along the channel axis
            inputs = [ops.transpose(x, (0, 2, 3, 1)) for x in inputs]
        box_maps, class_maps = self._split(inputs)
        boxes = [ops.reshape(b, (-1, int(b.shape[1]) * int(b.shape[2]) * (int(b.shape[3]) // 4), 4))
                 for b in box_maps]
        logits = [ops.reshape(c, (-1, int(c.shape[1]) * int(c.shape[2]) * (int(c.shape[3]) // self.classes),
                                  self.classes)) for c in class_maps]
        return ops.concatenate([ops.concatenate(boxes, axis=1), ops.concatenate(logits, axis=1)], axis=-1)

    def compute_output_shape(self, input_shape):
        box_shapes, _ = self._split([self._channels_last(s) for s in input_shape])
        anchors = sum(int(s[1]) * int(s[2]) * (int(s[3]) // 4) for s in box_shapes)
        return (box_shapes[0][0], anchors, 4 + self.classes)

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "image_size": list(self.image_size),
                "default_boxes": self.default_boxes.to_config(), "box_weights": list(self.box_weights),
                "score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold,
                "topk_candidates": self.topk_candidates, "detections_per_image": self.detections_per_image,
                "data_format": self.data_format}
