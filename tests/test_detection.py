"""Detection: boxes, default boxes, matching, NMS, the SSD layers and detectors, post-processing, `detect`.

Closed forms and a plain greedy NMS loop are the references here (every backend runs this file's
pieces through tests/test_backends.py); tests/test_torchvision.py checks the same pieces and
``ssd300_vgg16`` against torchvision itself.
"""

import json
import math

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo import registry
from cnnzoo.detection import (
    SSD300,
    DefaultBoxes,
    batched_nms,
    box_iou,
    check_boxes,
    decode_boxes,
    encode_boxes,
    match_anchors,
    nms,
    nms_mask,
    postprocess,
)
from cnnzoo.detection.layers import DetectionOutputs, L2Normalization
from cnnzoo.weights import catalog


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 3, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype("float32")


def _greedy(boxes, scores, threshold):
    """The textbook loop: take the best remaining box, drop every box overlapping it above the threshold."""
    order = list(np.argsort(-scores, kind="stable"))
    iou = _np(box_iou(boxes, boxes))
    kept = []
    while order:
        best = order.pop(0)
        kept.append(best)
        order = [i for i in order if not iou[best, i] > threshold]
    return kept


# ---- boxes ----

def test_iou_and_box_coding_follow_their_closed_forms():
    iou = _np(box_iou([[0, 0, 2, 2], [5, 5, 6, 6]], [[1, 1, 3, 3], [0, 0, 2, 2], [0, 0, 0, 0]]))
    np.testing.assert_allclose(iou[0, :2], [1 / 7, 1.0], rtol=1e-6)
    assert iou[1, 0] == 0 and iou[0, 2] == 0
    assert np.isnan(_np(box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])))[0, 0]  # 0 / 0, as torchvision: no threshold passes
    anchor, box = np.float32([[0, 0, 10, 10]]), np.float32([[5, 5, 15, 25]])
    # centres (5, 5) -> (10, 15), sizes 10x10 -> 10x20: (10 * 5/10, 10 * 10/10, 5 log 1, 5 log 2)
    np.testing.assert_allclose(_np(encode_boxes(box, anchor))[0], [5, 10, 0, 5 * math.log(2)], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(encode_boxes(box, anchor, (1, 2, 3, 4)))[0], [0.5, 2, 0, 4 * math.log(2)],
                               rtol=1e-6, atol=1e-6)
    rng = np.random.default_rng(0)
    anchors, boxes = _random_boxes(rng, 50), _random_boxes(rng, 50)
    np.testing.assert_allclose(_np(decode_boxes(encode_boxes(boxes, anchors), anchors)), boxes, atol=1e-3)
    # a huge log-scale is clipped at log(1000 / 16) before the exponential
    wide = _np(decode_boxes(np.float32([[0, 0, 1000, 0]]), anchor))[0]
    np.testing.assert_allclose(wide[2] - wide[0], 10 * 1000 / 16, rtol=1e-5)


def test_nms_is_greedy_not_one_pass():
    # B overlaps A (IoU 0.6) and C (IoU 0.6); C does not overlap A: greedy drops B, so C stays
    boxes = np.float32([[0, 0, 10, 10], [2.5, 0, 12.5, 10], [5, 0, 15, 10]])
    scores = np.float32([0.9, 0.8, 0.7])
    assert _np(nms(boxes, scores, 0.5)).tolist() == [0, 2]
    assert _np(nms(boxes, scores, 0.6)).tolist() == [0, 1, 2]  # an IoU equal to the threshold does not suppress
    assert _np(nms(boxes, scores[::-1].copy(), 0.5)).tolist() == [2, 0]  # descending score order
    assert _np(batched_nms(boxes, scores, np.int32([0, 1, 0]), 0.5)).tolist() == [0, 1, 2]
    assert _np(batched_nms(boxes, scores, np.int32([0, 0, 1]), 0.5)).tolist() == [0, 2]
    assert _np(nms(np.zeros((0, 4), "float32"), np.zeros((0,), "float32"), 0.5)).shape == (0,)


def test_nms_equals_the_textbook_loop_on_random_boxes():
    rng = np.random.default_rng(1)
    for trial in range(6):
        boxes, scores = _random_boxes(rng, 80, 60), rng.uniform(0, 1, 80).astype("float32")
        threshold = [0.1, 0.3, 0.5][trial % 3]
        assert _np(nms(boxes, scores, threshold)).tolist() == _greedy(boxes, scores, threshold)
    # batched over a leading axis, with padding rows marked invalid
    boxes = np.stack([_random_boxes(rng, 30, 40) for _ in range(3)])
    valid = rng.uniform(size=(3, 30)) > 0.2
    keep = _np(nms_mask(boxes, 0.3, valid))
    for b in range(3):
        index = np.flatnonzero(valid[b])
        expected = index[_greedy(boxes[b][index], -index.astype("float32"), 0.3)]
        assert sorted(np.flatnonzero(keep[b]).tolist()) == sorted(expected.tolist())


def test_matching_gives_every_box_an_anchor_and_anchors_their_best_box():
    anchors = np.float32([[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20], [30, 30, 40, 40]])
    boxes = np.float32([[0, 0, 10, 9], [12, 0, 20, 10], [31, 31, 33, 33]])
    # anchor 0: box 0 (IoU 0.9); anchor 1: box 1 (0.8); anchor 2: none; anchor 3: box 2 only as its best (0.04)
    assert _np(match_anchors(boxes, anchors)).tolist() == [0, 1, -1, 2]
    assert _np(match_anchors(boxes, anchors, valid=[True, True, False])).tolist() == [0, 1, -1, -1]
    assert _np(match_anchors(boxes, anchors, iou_threshold=0.85)).tolist() == [0, 1, -1, 2]  # 1: its box's best
    batched = _np(match_anchors(np.stack([boxes, boxes[::-1]]), anchors))
    assert batched.tolist() == [[0, 1, -1, 2], [2, 1, -1, 0]]


def test_check_boxes_names_the_bad_box():
    check_boxes([[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"boxes\[1\] = \[5.0, 0.0, 2.0, 3.0\]"):
        check_boxes([[0, 0, 1, 1], [5, 0, 2, 3]])
    with pytest.raises(ValueError, match=r"gt must have shape \(\.\.\., 4\).*\(2, 3\)"):
        check_boxes(np.zeros((2, 3)), "gt")
    with pytest.raises(ValueError, match="finite"):
        check_boxes([[0, 0, np.nan, 1]])


# ---- default boxes ----

def test_ssd300_default_boxes_follow_the_paper():
    assert SSD300.per_location() == [4, 6, 6, 6, 4, 4]
    grids = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    boxes = SSD300.boxes(grids, (300, 300))
    assert boxes.shape == (8732, 4) and boxes.dtype == np.float32
    # the first cell's centre is 0.5 * 8 = 4 px; its first box is 0.07 * 300 = 21 px square
    np.testing.assert_allclose(boxes[0], [4 - 10.5, 4 - 10.5, 4 + 10.5, 4 + 10.5], rtol=1e-6)
    side = 300 * math.sqrt(0.07 * 0.15)  # the second: sqrt(s_k s_k+1)
    np.testing.assert_allclose(boxes[1], [4 - side / 2, 4 - side / 2, 4 + side / 2, 4 + side / 2], rtol=1e-5)
    w, h = 21 * math.sqrt(2), 21 / math.sqrt(2)  # aspect ratio 2, then its transpose
    np.testing.assert_allclose(boxes[2], [4 - w / 2, 4 - h / 2, 4 + w / 2, 4 + h / 2], rtol=1e-5)
    np.testing.assert_allclose(boxes[3], [4 - h / 2, 4 - w / 2, 4 + h / 2, 4 + w / 2], rtol=1e-5)
    np.testing.assert_allclose(boxes[4, :2] - boxes[0, :2], [8 - 0, 0], atol=1e-5)  # the next cell, one step right
    # the last level: one location at the centre; the wide box of ratio 2 (0.87 sqrt 2 > 1) is clipped to the image
    np.testing.assert_allclose(boxes[-4], [150 - 0.87 * 150, 150 - 0.87 * 150, 150 + 0.87 * 150, 150 + 0.87 * 150],
                               rtol=1e-5)
    h = 300 * 0.87 / math.sqrt(2)
    np.testing.assert_allclose(boxes[-2], [0, 150 - h / 2, 300, 150 + h / 2], rtol=1e-5)
    unclipped = DefaultBoxes(SSD300.aspect_ratios, SSD300.scales, SSD300.steps, clip=False).boxes(grids, (300, 300))
    assert unclipped[-2, 2] > 300 and unclipped[-2, 0] < 0


def test_default_boxes_without_scales_or_steps_spread_over_the_grid():
    boxes = DefaultBoxes(((2,), (2,)), min_ratio=0.2, max_ratio=0.8)
    assert boxes.scales == (0.2, 0.8, 1.0)
    out = boxes.boxes([(2, 2), (1, 1)], (40, 80))
    assert out.shape == (4 * 4 + 4, 4)
    np.testing.assert_allclose(out[0], [20 - 8, 10 - 4, 20 + 8, 10 + 4], rtol=1e-6)  # cell centre (20, 10), 0.2 of 80x40


@pytest.mark.parametrize("kwargs, match", [
    (dict(aspect_ratios=()), "aspect_ratios must be a non-empty list"),
    (dict(aspect_ratios=((2,), (0,))), "positive numbers"),
    (dict(aspect_ratios=((2,),), scales=(0.1,)), "scales must be 2 positive numbers"),
    (dict(aspect_ratios=((2,),), steps=(8, 16)), "steps must be one positive number per level"),
    (dict(aspect_ratios=((2,),), min_ratio=0.9, max_ratio=0.2), "min_ratio and max_ratio"),
])
def test_default_boxes_refuse_bad_layouts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DefaultBoxes(**kwargs)


# ---- the layers ----

def test_l2_normalization_gives_each_position_the_scale_as_its_norm():
    layer = L2Normalization(3.0)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 5)).astype("float32")
    y = _np(layer(x))
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 3.0, rtol=1e-5)
    np.testing.assert_allclose(y / np.linalg.norm(y, axis=-1, keepdims=True), x / np.linalg.norm(x, axis=-1,
                               keepdims=True), rtol=1e-5)
    assert _np(layer(np.zeros((1, 1, 1, 5), "float32"))).tolist() == [[[[0.0] * 5]]]  # epsilon: no NaN at zero
    assert L2Normalization.from_config(layer.get_config()).scale_init == 3.0
    with pytest.raises(ValueError, match="scale_init must be a positive number. Received: scale_init=0"):
        L2Normalization(0)


def test_detection_outputs_check_their_inputs():
    with pytest.raises(ValueError, match="classes counts the background too.*classes=1"):
        DetectionOutputs(1, (64, 64), SSD300)
    with pytest.raises(ValueError, match="score_threshold must be in \\[0, 1\\]. Received: score_threshold=2"):
        DetectionOutputs(3, (64, 64), SSD300, score_threshold=2)
    layer = DetectionOutputs(3, (16, 16), DefaultBoxes(((2,),)))
    with pytest.raises(ValueError, match="level 1 expects 16 box and 12 class channels"):
        layer([keras.Input((4, 4, 16)), keras.Input((4, 4, 8))])


# ---- the detectors ----

@pytest.fixture(scope="module")
def small_ssd():
    return cnnzoo.ssd("resnet18", classes=4, input_shape=(128, 128, 3), width=0.25)


def test_ssd_on_a_backbone_outputs_codes_and_logits_per_anchor(small_ssd, tmp_path):
    layer = cnnzoo.detection.detection_layer(small_ssd)
    # resnet18 at 128: stages 2-4 are 16x16, 8x8, 4x4; two extra levels 2x2, 1x1; boxes 4, 6, 6, 4, 4 a location
    assert layer.grid_sizes == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    anchors = 256 * 4 + 64 * 6 + 16 * 6 + 4 * 4 + 4
    assert small_ssd.output_shape == (None, anchors, 4 + 4) and layer.anchors.shape == (anchors, 4)
    x = np.random.default_rng(0).uniform(0, 1, (2, 128, 128, 3)).astype("float32")
    path = tmp_path / "ssd.keras"
    small_ssd.save(path)
    loaded = cnnzoo.load_model(path)
    np.testing.assert_allclose(_np(loaded(x)), _np(small_ssd(x)), rtol=1e-5, atol=1e-5)
    again = cnnzoo.detection.detection_layer(loaded)
    np.testing.assert_array_equal(again.anchors, layer.anchors)
    assert again.get_config() == layer.get_config()


def test_detect_scales_boxes_to_each_image_and_keeps_the_best(small_ssd):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48, 80, 3)).astype("uint8"), rng.integers(0, 255, (64, 64, 3)).astype("uint8")]
    found = cnnzoo.detect(small_ssd, images, score_threshold=0.0, detections_per_image=7, labels=["bg", "a", "b", "c"])
    assert [len(d) for d in found] == [7, 7]
    for d, image in zip(found, images):
        h, w = image.shape[:2]
        assert (d.boxes[:, [0, 2]] >= 0).all() and (d.boxes[:, [0, 2]] <= w).all()
        assert (d.boxes[:, [1, 3]] >= 0).all() and (d.boxes[:, [1, 3]] <= h).all()
        assert set(d.labels.tolist()) <= {1, 2, 3} and set(d.names) <= {"a", "b", "c"}
        assert (np.diff(d.scores) <= 0).all()
    # the same image, its outputs post-processed directly: detect only resizes and scales back
    outputs = small_ssd.predict(keras.ops.image.resize(images[0][None].astype("float32") / 255, (128, 128)), verbose=0)
    direct = postprocess(outputs, small_ssd, [(48, 80)], score_threshold=0.0, detections_per_image=7)[0]
    np.testing.assert_allclose(direct.boxes, found[0].boxes, rtol=1e-4, atol=1e-3)
    assert len(found[0].above(float(found[0].scores[2]))) >= 3
    with pytest.raises(ValueError, match="detections_per_image must be a positive int. Received: detections_per_image=0"):
        cnnzoo.detect(small_ssd, images, detections_per_image=0)
    with pytest.raises(ValueError, match="is a detector: cnnzoo.detect"):
        cnnzoo.predict(small_ssd, images)
    with pytest.raises(ValueError, match="must be a cnnzoo detector"):
        cnnzoo.detect(cnnzoo.lenet5(), images)


def test_ssd300_vgg16_is_torchvisions_network_in_shape():
    model = cnnzoo.ssd300_vgg16(width=0.125)
    layer = cnnzoo.detection.detection_layer(model)
    assert layer.grid_sizes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert model.output_shape == (None, 8732, 4 + 91)
    np.testing.assert_array_equal(layer.anchors, SSD300.boxes(layer.grid_sizes, (300, 300)))
    assert [f.name for f in model.feature_info] == ["stage4", *(f"stage{s}" for s in range(6, 11))]
    assert [f.reduction for f in model.feature_info] == [8, 16, 32, 64, 64, 64]  # the last two: valid 3x3s
    assert model.get_layer("stage3_pool").ceil_mode and model.get_layer("stage6_conv1").dilation_rate == 6


@pytest.mark.parametrize("kwargs, match", [
    (dict(features_only=True), "is a detector: features_only=True has no meaning"),
    (dict(include_top=False), "is a detector: include_top=False"),
    (dict(classes=1), "classes counts the background .* Received: classes=1"),
    (dict(classifier_activation="softmax"), "post-processing applies the softmax"),
    (dict(input_shape=(3, 300, 300)), "looks channels-first"),
    (dict(input_shape=(200, 200, 3)), "needs every spatial dimension >= 268"),
])
def test_ssd300_vgg16_refuses_what_a_detector_cannot_be(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cnnzoo.ssd300_vgg16(**kwargs)


def test_ssd_refuses_bad_backbones_and_levels():
    with pytest.raises(ValueError, match="backbone must be a registered model name.*backbone='resnet19'"):
        cnnzoo.ssd("resnet19")
    with pytest.raises(ValueError, match="levels must be an int in \\[1, 5\\].*levels=9"):
        cnnzoo.ssd("resnet18", input_shape=(64, 64, 3), levels=9, width=0.25)
    with pytest.raises(ValueError, match="sets the backbone's features_only itself"):
        cnnzoo.ssd("resnet18", features_only=True)
    with pytest.raises(ValueError, match="too small for 3 extra levels"):
        cnnzoo.ssd("resnet18", input_shape=(32, 32, 3), extra_levels=3, width=0.25)


def test_the_registry_and_the_catalog_know_the_detector():
    assert registry.list_models(task="detection") == ["ssd300_vgg16"]
    assert "ssd300_vgg16" not in registry.list_models(task="classification")
    with pytest.raises(ValueError, match="task must be one of"):
        registry.list_models(task="segmentation")
    ws = catalog.get_weights("ssd300_vgg16", "coco")
    assert ws.num_classes == len(ws.categories) == 91 and ws.categories[:2] == ("__background__", "person")
    assert ws.preprocessing.kind == "detection" and ws.preprocessing.resize == (300, 300)
    assert ws.metrics["COCO-val2017"]["box_map"] == 25.1
    # torchvision's transform: x * 255 - mean * 255, then a resize to 300x300
    image = np.full((150, 200, 3), 255, "uint8")
    x = cnnzoo.preprocess_input(image, weights=ws)
    assert x.shape == (300, 300, 3)
    np.testing.assert_allclose(x[0, 0], 255 * (1 - np.float32([0.48235, 0.45882, 0.40784])), rtol=1e-5)


# ---- training ----

def _shapes_dataset(count, seed, size=48):
    """Digit scenes of two synthetic "digits" (a filled square, a ring), so no MNIST is needed."""
    from cnnzoo.data import digit_scenes

    square = np.zeros((28, 28), "uint8")
    square[6:22, 6:22] = 255
    ring = square.copy()
    ring[10:18, 10:18] = 0
    return digit_scenes.generate(np.stack([square, ring]), np.array([0, 1]), count, seed=seed, size=size,
                                 max_digits=2, digit_size=(12, 24))


def test_targets_encode_the_matched_box_and_its_class():
    from cnnzoo.detection import encode_targets

    anchors = np.float32([[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20], [30, 30, 40, 40]])
    boxes = np.float32([[[0, 0, 10, 9], [12, 0, 20, 10], [0, 0, 0, 0]]])  # the last row: padding
    targets = _np(encode_targets(boxes, np.int64([[3, 1, 0]]), anchors))
    assert targets.shape == (1, 4, 5) and targets[0, :, 4].tolist() == [3, 1, 0, 0]
    np.testing.assert_allclose(targets[0, 0, :4], _np(encode_boxes(boxes[0, :1], anchors[:1]))[0], rtol=1e-6)
    np.testing.assert_allclose(targets[0, 1, :4], _np(encode_boxes(boxes[0, 1:2], anchors[1:2]))[0], rtol=1e-6)
    assert (targets[0, 2:, :4] == 0).all()


def test_ssd_loss_is_smooth_l1_plus_mined_cross_entropy():
    from cnnzoo.detection import SSDLoss

    # one image, four anchors, classes (background, a): anchor 0 matched to class 1, the others background
    y_true = np.float32([[[0.5, -2, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]])
    logits = np.float32([[0, 1], [0, 3], [0, -1], [0, 2]])
    y_pred = np.concatenate([np.zeros((1, 4, 4), "float32"), logits[None]], axis=-1)
    ce = np.log(np.exp(logits).sum(-1)) - logits[np.arange(4), [1, 0, 0, 0]]
    box = 0.5 * 0.5**2 + (2 - 0.5)  # smooth L1: quadratic below 1, linear above
    np.testing.assert_allclose(float(SSDLoss()(y_true, y_pred)), box + ce[0] + ce[1] + ce[3] + ce[2], rtol=1e-5)
    # one negative per positive: only the hardest background anchor (1, logit 3 for "a") counts
    np.testing.assert_allclose(float(SSDLoss(negatives_per_positive=1)(y_true, y_pred)), box + ce[0] + ce[1],
                               rtol=1e-5)
    # two images: the sum is divided by the batch's matched anchors (here 2), not averaged per image
    both = SSDLoss(negatives_per_positive=1)(np.concatenate([y_true, y_true]), np.concatenate([y_pred, y_pred]))
    np.testing.assert_allclose(float(both), box + ce[0] + ce[1], rtol=1e-5)
    with pytest.raises(ValueError, match="negatives_per_positive must be a number >= 0"):
        SSDLoss(negatives_per_positive=-1)


@pytest.mark.slow  # on TensorFlow; make test-backends runs it on JAX and PyTorch
def test_a_detector_trains_through_the_engine_and_finds_the_shapes(tmp_path):
    from cnnzoo import training
    from cnnzoo.detection import encode_targets

    training.seed_everything(0)
    model = cnnzoo.ssd("resnet18", classes=3, input_shape=(48, 48, 1), width=0.125, levels=2, extra_levels=1)
    anchors = cnnzoo.detection.detection_layer(model).anchors
    images, boxes, labels = _shapes_dataset(64, seed=0)
    x, y = images.astype("float32") / 255, _np(encode_targets(boxes, labels, anchors))
    config = training.TrainConfig(epochs=3, batch_size=16, lr=3e-3, seed=0)
    record = training.fit(model, (x, y), (x[:16], y[:16]), config, str(tmp_path / "run"), verbose=0)
    losses = record["history"]["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    assert record["monitor"] == "val_loss" and record["final_test_accuracy"] is None
    assert record["best_monitor_value"] == min(record["history"]["val_loss"])
    found = cnnzoo.detect(cnnzoo.load_model(tmp_path / "run" / "best.keras"), images[:4])
    assert all(len(d) > 0 and set(d.labels.tolist()) <= {1, 2} for d in found)


# ---- your own boxes: COCO annotation files ----

def _write_coco(folder, rng):
    from PIL import Image

    images, annotations = [], []
    for i in range(4):
        name = f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 60, 3)).astype("uint8")).save(folder / name)
        images.append({"id": 10 + i, "file_name": name, "height": 40 + 8 * i, "width": 60})
        annotations.append({"id": len(annotations) + 1, "image_id": 10 + i, "category_id": 7 if i % 2 else 3,
                            "bbox": [5, 6, 20, 10], "iscrowd": 0})
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    images += [{"id": 99, "file_name": "broken.jpg"}, {"id": 98, "file_name": "gone.png"}, {"file_name": "x.png"}]
    annotations.append({"id": 49, "image_id": 99, "category_id": 3, "bbox": [1, 1, 5, 5]})  # on the broken image
    annotations += [
        {"id": 50, "image_id": 10, "category_id": 3, "bbox": [50, 30, 20, 20]},  # clipped to the image
        {"id": 51, "image_id": 11, "category_id": 3, "bbox": [5, 5, -2, 4]},  # negative width
        {"id": 52, "image_id": 11, "category_id": 5, "bbox": [5, 5, 2, 4]},  # unknown category
        {"id": 53, "image_id": 12, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 1},  # a crowd region
        {"id": 54, "image_id": 77, "category_id": 3, "bbox": [1, 1, 5, 5]},  # no such image
        {"id": 55, "image_id": 12, "category_id": 7, "bbox": "1 1 5 5"},  # not a list
    ]
    categories = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]
    (folder / "instances.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                       "categories": categories}))
    return folder / "instances.json"


def test_coco_annotations_are_read_checked_and_reported_by_place(tmp_path):
    from cnnzoo.data.coco import read_coco

    data = read_coco(_write_coco(tmp_path, np.random.default_rng(0)))
    assert len(data) == 4 and data.class_names == ("background", "cat", "dog") and data.category_ids == (None, 3, 7)
    np.testing.assert_array_equal(data.boxes[0], [[5, 6, 25, 16], [50, 30, 60, 40]])  # xywh -> xyxy, clipped
    assert data.labels[0].tolist() == [1, 1] and data.labels[1].tolist() == [2] and data.sizes[2] == (56, 60)
    reasons = dict(data.skipped)
    assert any(k.endswith("broken.jpg") for k in reasons) and any(k.endswith("gone.png") for k in reasons)
    assert "needs an id and a file_name" in reasons[f"{tmp_path / 'instances.json'}: images[6]"]
    assert "width, height > 0" in reasons[f"{tmp_path / 'instances.json'}: annotations[6]"]
    assert "unknown category_id 5" in reasons[f"{tmp_path / 'instances.json'}: annotations[7]"]
    assert "image_id 77" in reasons[f"{tmp_path / 'instances.json'}: annotations[9]"]
    assert "bbox must be [x, y, width, height]" in reasons[f"{tmp_path / 'instances.json'}: annotations[10]"]
    assert not any(k.endswith("annotations[4]") for k in reasons)  # the broken image's box: reported with the image
    assert len(data.skipped) == 7 and "left out 7" in str(data)
    kept = read_coco(tmp_path / "instances.json", keep_category_ids=True)
    assert kept.class_names[3] == "cat" and kept.class_names[4] == "N/A" and kept.labels[1].tolist() == [7]
    (tmp_path / "bad.json").write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="lacks the lists \\['annotations', 'categories'\\]"):
        read_coco(tmp_path / "bad.json")


def test_coco_data_streams_to_a_detector_as_targets(tmp_path):
    from cnnzoo.data.coco import detection_pipeline, read_coco

    data = read_coco(_write_coco(tmp_path, np.random.default_rng(0)))
    model = cnnzoo.ssd("resnet18", classes=3, input_shape=(48, 48, 3), width=0.125, levels=2, extra_levels=1)
    batches = detection_pipeline(data, model, batch_size=3, training=True, seed=1)
    assert len(batches) == 2
    x, y = batches[0]
    anchors = cnnzoo.detection.detection_layer(model).anchors
    assert x.shape == (3, 48, 48, 3) and 0 <= x.min() and x.max() <= 1 and y.shape == (3, len(anchors), 5)
    assert set(np.unique(y[..., 4]).tolist()) <= {0, 1, 2} and (y[..., 4] > 0).sum(axis=1).min() >= 1
    np.testing.assert_array_equal(batches[0][0], x)  # the same epoch: the same batch, flips included
    with pytest.raises(ValueError, match="the data has 3 labels .* but the detector 2"):
        detection_pipeline(data, cnnzoo.ssd("resnet18", classes=2, input_shape=(48, 48, 3), width=0.125, levels=2,
                                            extra_levels=1), batch_size=2)
    from cnnzoo.detection import encode_targets

    with pytest.raises(ValueError, match="labels must be in \\[1, 3\\) .* Received: label 5"):
        encode_targets(np.float32([[[0, 0, 5, 5]]]), np.int64([[5]]), anchors, classes=3)
    with pytest.raises(ValueError, match="x2 >= x1"):
        encode_targets(np.float32([[[6, 0, 5, 5]]]), np.int64([[1]]), anchors, classes=3)


def test_coco_map_is_one_for_exact_boxes_and_falls_with_misses():
    from cnnzoo.detection import Detections
    from cnnzoo.detection.coco_eval import coco_map

    truth = [(np.float32([[10, 10, 30, 40], [50, 50, 70, 60]]), np.int64([1, 2])), (np.float32([[0, 0, 8, 8]]),
                                                                                    np.int64([1]))]
    exact = [Detections(b, lab, np.float32([0.9] * len(lab))) for b, lab in truth]
    assert coco_map(truth, exact) == {"map": 1.0, "map50": 1.0, "map75": 1.0, "images": 2, "objects": 3,
                                      "detections": 3}
    shifted = [Detections(b + np.float32([4, 0, 4, 0]), lab, np.float32([0.9] * len(lab))) for b, lab in truth]
    scores = coco_map(truth, shifted)  # IoU 16/24 and 12/20 and 4/12: some pass 0.5, fewer 0.75
    assert scores["map75"] < scores["map50"] < 1.0 and scores["map"] < scores["map50"]
    wrong_class = [Detections(b, 3 - lab, np.float32([0.9] * len(lab))) for b, lab in truth]
    assert coco_map(truth, wrong_class)["map50"] < 0.5
    with pytest.raises(ValueError, match="the same images"):
        coco_map(truth, exact[:1])
