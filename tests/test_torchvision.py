"""cnnzoo against torchvision itself: every twin converted by name computes torchvision's
function (random weights, every BatchNorm's statistics randomized, eval mode), at 224 and
at odd sizes; the .pth reader equals torch.load; the bundled catalog equals torchvision's
weight enums; the download path converts a real torch.save'd file.

Needs the optional extra (`pip install torch==2.14.1 torchvision==0.29.1`, which .ci/run
installs); without it every test here is skipped with that reason. conftest.py imports
torch before TensorFlow, the order that does not crash the interpreter.
"""

import dataclasses
import hashlib
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torchvision oracle tests need the optional extra: "
                                            "pip install torch==2.14.1 torchvision==0.29.1")
torchvision = pytest.importorskip("torchvision", reason="pip install torch==2.14.1 torchvision==0.29.1")

from helpers import torchvision_model as _torchvision_model  # noqa: E402

import cnnzoo  # noqa: E402
from cnnzoo.weights import catalog, get_weights, read_state_dict, register_weights, unregister_weights  # noqa: E402
from cnnzoo.weights import torchvision as tv_map  # noqa: E402
from cnnzoo.weights.torchvision import load_torchvision_state  # noqa: E402

RTOL = 1e-5  # relative to the largest logit: float32 rounding, nothing more
VIDEO = ("r3d_18", "mc3_18", "r2plus1d_18")
# (name, input shapes): 224 and an odd size for images; short clips at 112 and at an odd size for video.
CLASSIFIERS = [n for n in tv_map.torchvision_twins() if cnnzoo.model_info(n).task == "classification"]
CASES = [(name, [(224, 224, 3), (97, 97, 3)]) for name in CLASSIFIERS if name not in VIDEO] + [
    (name, [(4, 112, 112, 3), (3, 57, 61, 3)]) for name in VIDEO
]


def _torch_logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).numpy()


def _relative(ours, ref):
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.mark.slow
@pytest.mark.parametrize("name, shapes", CASES, ids=[c[0] for c in CASES])
def test_converted_twin_computes_torchvisions_function(name, shapes):
    tmodel = _torchvision_model(name)
    state = tmodel.state_dict()
    for shape in shapes:
        model = cnnzoo.get_model(name, input_shape=shape, classifier_activation=None)
        assert load_torchvision_state(name, model, state) == []
        x = np.random.default_rng(sum(shape)).normal(size=(1,) + shape).astype("float32")
        rel = _relative(np.asarray(model(x, training=False)), _torch_logits(tmodel, x))
        print(f"{name} {shape}: relative difference {rel:.1e}")  # pytest -s shows the figures
        assert rel < RTOL, f"{name} at {shape}: relative difference {rel:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("size", [224, 97, 113, 200, 15, 33])
def test_googlenet_equals_torchvisions_pretrained_configuration(size):
    """torchvision's pretrained GoogLeNet re-normalizes ImageNet-normalized inputs inside the
    model (transform_input=True); cnnzoo's weight set does it in preprocessing (mean 0.5, std 0.5)."""
    tmodel = _torchvision_model("googlenet", transform_input=True)
    model = cnnzoo.googlenet(input_shape=(size, size, 3), classifier_activation=None)
    load_torchvision_state("googlenet", model, tmodel.state_dict())
    pixels = np.random.default_rng(size).uniform(0, 1, size=(1, size, size, 3)).astype("float32")
    imagenet = (pixels - np.array([0.485, 0.456, 0.406], "float32")) / np.array([0.229, 0.224, 0.225], "float32")
    p = get_weights("googlenet", "imagenet").preprocessing
    ours = (pixels - np.array(p.mean, "float32")) / np.array(p.std, "float32")
    rel = _relative(np.asarray(model(ours, training=False)), _torch_logits(tmodel, imagenet))
    assert rel < RTOL, f"googlenet at {size}: {rel:.2e}"


def test_googlenet_auxiliary_heads_convert_too():
    tmodel = _torchvision_model("googlenet", aux_logits=True).train()
    model = cnnzoo.googlenet(aux_logits=True, input_shape=(160, 160, 3), classifier_activation=None)
    load_torchvision_state("googlenet", model, tmodel.state_dict())
    for m in tmodel.modules():  # aux heads run only in training mode; keep dropout and BN deterministic
        if isinstance(m, (torch.nn.Dropout, torch.nn.modules.batchnorm._BatchNorm)):
            m.eval()
    x = np.random.default_rng(0).normal(size=(1, 160, 160, 3)).astype("float32")
    with torch.no_grad():
        ref = tmodel(torch.from_numpy(np.moveaxis(x, -1, 1).copy()))
    ours = model(x, training=False)
    for key, tensor in (("main", ref.logits), ("aux1", ref.aux_logits1), ("aux2", ref.aux_logits2)):
        assert _relative(np.asarray(ours[key]), tensor.numpy()) < RTOL, key


def test_a_head_that_reads_a_flatten_has_its_rows_reordered_to_keras_order():
    """AlexNet's (and VGG's) first dense layer reads 256 x 6 x 6 values that PyTorch flattens channels first and
    Keras channels last: its rows are permuted on the way (the whole-network oracle above checks it too, slowly)."""
    tmodel = _torchvision_model("alexnet")
    model = cnnzoo.alexnet(input_shape=(97, 97, 3), classifier_activation=None)
    assert load_torchvision_state("alexnet", model, tmodel.state_dict()) == []
    x = np.random.default_rng(0).normal(size=(1, 97, 97, 3)).astype("float32")
    assert _relative(np.asarray(model(x, training=False)), _torch_logits(tmodel, x)) < RTOL
    assert tv_map._flattened_shape(model, "head_fc1") == (6, 6, 256)
    assert tv_map._flattened_shape(model, "head_fc2") is None and tv_map._flattened_shape(model, "no_such_layer") is None


def test_a_wrong_name_map_is_caught_by_the_oracle(monkeypatch):
    """The oracle can fail: swap the bottleneck's last conv and its projection shortcut, which have
    the same shape in stage 1 (what mapping by shape or order would risk): the load still fits,
    and the logits no longer match."""
    import dataclasses

    from cnnzoo import registry

    info = registry.model_info("resnet50")  # the rules the ResNet family declares, with two entries swapped
    swapped = tv_map.compile_rules([(r"layer1\.0\.conv3", lambda m: "stage1_block1/shortcut/conv"),
                                    (r"layer1\.0\.downsample\.0", lambda m: "stage1_block1/conv3/conv")])
    monkeypatch.setitem(registry._INFO, "resnet50",
                        dataclasses.replace(info, torchvision_rules=swapped + info.torchvision_rules))
    tmodel = _torchvision_model("resnet50")
    model = cnnzoo.resnet50(input_shape=(64, 64, 3), classifier_activation=None)
    load_torchvision_state("resnet50", model, tmodel.state_dict())
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    assert _relative(np.asarray(model(x, training=False)), _torch_logits(tmodel, x)) > 1e-2


def test_partial_or_foreign_state_dicts_fail_naming_every_tensor():
    state = _torchvision_model("resnet18").state_dict()
    model = cnnzoo.resnet18(input_shape=(64, 64, 3))
    before = [np.asarray(v).copy() for v in model.weights]
    broken = {k: v for k, v in state.items() if not k.startswith("layer4.1.")}
    broken["extra.weight"] = torch.zeros(3)
    broken["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(ValueError) as e:
        load_torchvision_state("resnet18", model, broken)
    text = str(e.value)
    assert "1 torchvision tensors no cnnzoo layer takes: extra.weight" in text
    assert "layer1.0.conv1.weight (64, 64, 1, 1) -> stage1_block1/conv1/conv/kernel (3, 3, 64, 64)" in text
    assert "cnnzoo variables the state dict does not set: stage1_block1/conv1/conv/kernel" in text
    assert "stage4_block2/conv1/conv/kernel" in text
    assert "nothing was loaded" in text
    for v, b in zip(model.weights, before):  # never a partial load
        np.testing.assert_array_equal(np.asarray(v), b)
    with pytest.raises(ValueError, match="does not fit cnnzoo's resnet34"):
        load_torchvision_state("resnet34", cnnzoo.resnet34(input_shape=(64, 64, 3)), state)


@pytest.mark.parametrize("zip_format", [True, False])
def test_pth_reader_equals_torch_load(tmp_path, zip_format):
    state = _torchvision_model("resnet18").state_dict()  # BatchNorm buffers, int64 counters, 62 tensors
    path = tmp_path / "w.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    ours = read_state_dict(path)
    assert list(ours) == list(state)
    for key, value in state.items():
        np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)


def test_bundled_catalog_equals_torchvisions_weight_enums():
    here = os.path.dirname(__file__)
    for dataset, enum in (("imagenet", torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
                          ("kinetics400", torchvision.models.video.R3D_18_Weights.KINETICS400_V1),
                          ("coco", torchvision.models.detection.SSD300_VGG16_Weights.COCO_V1)):
        assert list(catalog.categories(dataset)) == list(enum.meta["categories"])
    for ws in catalog.list_weights():
        enum = getattr(torchvision.models.get_model_weights(ws.model), ws.tag.upper())
        assert ws.url == enum.url and ws.metrics == json.loads(json.dumps(enum.meta["_metrics"]))
        if ws.preprocessing.kind == "detection":  # the detector's transform is inside its model
            t = torchvision.models.get_model(ws.model, weights=None, weights_backbone=None).transform
            assert list(ws.preprocessing.resize) == list(t.fixed_size) and not ws.preprocessing.crop
            assert list(ws.preprocessing.mean) == list(t.image_mean) and list(ws.preprocessing.std) == t.image_std
            assert enum == torchvision.models.get_model_weights(ws.model).DEFAULT and ws.default
            continue
        t = enum.transforms()
        assert list(ws.preprocessing.crop) == list(t.crop_size) and list(ws.preprocessing.resize) == list(t.resize_size)
        if ws.model != "googlenet":  # its transform_input is folded into mean/std (see the googlenet test)
            assert list(ws.preprocessing.mean) == list(t.mean) and list(ws.preprocessing.std) == list(t.std)
        assert (enum == torchvision.models.get_model_weights(ws.model).DEFAULT) == ws.default
    assert os.path.exists(os.path.join(here, "..", "scripts", "make_torchvision_catalog.py"))


def test_preprocessing_is_close_to_torchvisions_transforms():
    image = np.random.default_rng(0).integers(0, 256, size=(300, 451, 3), dtype=np.uint8)
    smooth = np.asarray(torch.nn.functional.avg_pool2d(torch.from_numpy(image).permute(2, 0, 1)[None].float(), 5, 1, 2)
                        [0].permute(1, 2, 0).round().to(torch.uint8))
    for model in ("resnet18", "resnet50"):
        enum = torchvision.models.get_model_weights(model).DEFAULT
        ref = enum.transforms()(torch.from_numpy(smooth).permute(2, 0, 1)).permute(1, 2, 0).numpy()
        ours = cnnzoo.preprocess_input(smooth, model=model)
        assert ours.shape == ref.shape
        # Resize kernels differ in detail (Keras's antialiased bilinear vs torchvision's); on a
        # natural-looking (smooth) image the mean difference is a small fraction of one std.
        assert np.abs(ours - ref).mean() < 0.02, model


@pytest.mark.slow
def test_weights_imagenet_downloads_converts_and_caches_a_torchvision_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    tmodel = _torchvision_model("resnet18")
    base = get_weights("resnet18", "imagenet")
    path = mirror / "resnet18-local.pth"
    torch.save(tmodel.state_dict(), path)
    ws = dataclasses.replace(base, tag="local_test", url="https://example.invalid/resnet18-local.pth",
                             sha256=hashlib.sha256(path.read_bytes()).hexdigest()[:8], default=False)
    register_weights(ws)
    try:
        monkeypatch.setenv("CNNZOO_WEIGHTS_URL", mirror.as_uri())
        model = cnnzoo.resnet18(weights="local_test", input_shape=(97, 97, 3), classifier_activation=None)
        assert "downloading" in capsys.readouterr().out
        cached = tmp_path / "keras_home" / "models" / "cnnzoo"
        assert sorted(os.listdir(cached)) == ["resnet18-local.cnnzoo.weights.h5", "resnet18-local.pth"]
        x = np.random.default_rng(0).normal(size=(1, 97, 97, 3)).astype("float32")
        assert _relative(np.asarray(model(x)), _torch_logits(tmodel, x)) < RTOL
        # From the converted cache, the published file and the mirror both gone.
        os.remove(cached / "resnet18-local.pth")
        monkeypatch.setenv("CNNZOO_WEIGHTS_URL", "http://127.0.0.1:9/")
        again = cnnzoo.resnet18(weights="local_test", input_shape=(97, 97, 3), classifier_activation=None)
        np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=0, atol=0)
        # A .pth path works as weights= directly.
        direct = cnnzoo.resnet18(weights=str(path), input_shape=(97, 97, 3), classifier_activation=None)
        np.testing.assert_allclose(np.asarray(direct(x)), np.asarray(model(x)), rtol=0, atol=0)
    finally:
        unregister_weights("resnet18", "local_test")


def test_from_torchvision_takes_a_name_a_model_or_a_file(tmp_path):
    from cnnzoo.weights.torchvision import from_torchvision

    tmodel = _torchvision_model("mc3_18")
    path = tmp_path / "mc3.pth"
    torch.save(tmodel.state_dict(), path)
    x = np.random.default_rng(0).normal(size=(1, 4, 64, 64, 3)).astype("float32")
    by_name = from_torchvision("mc3_18", path, input_shape=(4, 64, 64, 3), classifier_activation=None)
    assert _relative(np.asarray(by_name(x)), _torch_logits(tmodel, x)) < RTOL
    built = cnnzoo.mc3_18(input_shape=(4, 64, 64, 3), include_top=False, pooling="avg")
    from_torchvision(built, tmodel.state_dict())
    import keras

    pooled = keras.Model(by_name.input, by_name.get_layer("head_pool").output)
    np.testing.assert_allclose(np.asarray(built(x)), np.asarray(pooled(x)), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="has no torchvision twin"):
        from_torchvision("resnet20", path)


# ---- detection: the pieces against torchvision.ops, ssd300_vgg16 against torchvision's ----

def _boxes_with_ties_and_degenerates(rng, n):
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(0, 40, (n, 2))
    wh[:4] = 0  # empty boxes: IoU 0 / 0
    boxes = np.concatenate([xy, xy + wh], axis=1).astype("float32")
    boxes[10:13] = boxes[9]  # identical boxes
    scores = rng.uniform(0, 1, n).astype("float32")
    scores[20:30] = scores[5]  # equal scores
    return boxes, scores


def test_detection_pieces_equal_torchvision_ops():
    from torchvision.models.detection import _utils as det_utils
    from torchvision.ops import boxes as box_ops

    from cnnzoo import detection

    rng = np.random.default_rng(0)
    for trial in range(8):
        boxes, scores = _boxes_with_ties_and_degenerates(rng, 300)
        labels = rng.integers(0, 6, 300)
        threshold = (0.3, 0.45, 0.7)[trial % 3]
        tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
        ours = np.asarray(detection.box_iou(boxes, boxes[:50]))
        theirs = box_ops.box_iou(tb, tb[:50]).numpy()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(np.nan_to_num(ours), np.nan_to_num(theirs), rtol=1e-6, atol=1e-7)
        assert np.asarray(detection.nms(boxes, scores, threshold)).tolist() == \
            torchvision.ops.nms(tb, ts, threshold).tolist()
        assert np.asarray(detection.batched_nms(boxes, scores, labels, threshold)).tolist() == \
            torchvision.ops.batched_nms(tb, ts, torch.from_numpy(labels), threshold).tolist()
    coder = det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))
    anchors, gt = _boxes_with_ties_and_degenerates(rng, 120)[0][4:], _boxes_with_ties_and_degenerates(rng, 120)[0][4:]
    np.testing.assert_allclose(np.asarray(detection.encode_boxes(gt, anchors)),
                               coder.encode_single(torch.from_numpy(gt), torch.from_numpy(anchors)).numpy(),
                               rtol=1e-5, atol=1e-5)
    codes = rng.normal(0, 3, (116, 4)).astype("float32")
    codes[0, 2:] = 80  # past the log-scale clip
    np.testing.assert_allclose(np.asarray(detection.decode_boxes(codes, anchors)),
                               coder.decode_single(torch.from_numpy(codes), torch.from_numpy(anchors)).numpy(),
                               rtol=1e-5, atol=1e-4)
    grids = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    default = detection.SSD300.boxes(grids, (300, 300))
    ground = gt[:9] * 2.5
    expected = det_utils.SSDMatcher(0.5)(box_ops.box_iou(torch.from_numpy(ground), torch.from_numpy(default)))
    assert np.asarray(detection.match_anchors(ground, default)).tolist() == expected.tolist()


def test_ssd300_default_boxes_are_torchvisions():
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.image_list import ImageList

    from cnnzoo import detection

    generator = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).anchor_generator
    assert isinstance(generator, DefaultBoxGenerator)
    grids = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    theirs = generator(ImageList(torch.zeros(1, 3, 300, 300), [(300, 300)]),
                       [torch.zeros(1, 1, *g) for g in grids])[0].numpy()
    np.testing.assert_array_equal(detection.SSD300.boxes(grids, (300, 300)), theirs)


def _torchvision_ssd(seed=0):
    """torchvision's ssd300_vgg16 with every parameter perturbed, its heads scaled so scores are not saturated."""
    torch.manual_seed(seed)
    model = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1 * (p.std() if p.numel() > 1 else 1))
        images, _ = model.transform([torch.rand(3, 300, 300)])
        features = list(model.backbone(images.tensors).values())
        for convs, spread in ((model.head.classification_head.module_list, 3.0),
                              (model.head.regression_head.module_list, 1.0)):
            for f, conv in zip(features, convs):
                factor = spread / conv(f).std()
                conv.weight.mul_(factor)
                conv.bias.mul_(factor)
    return model


@pytest.mark.slow
def test_ssd300_vgg16_detects_what_torchvision_detects(tmp_path):
    tmodel = _torchvision_ssd()
    path = tmp_path / "ssd300.pth"
    torch.save(tmodel.state_dict(), path)
    model = cnnzoo.ssd300_vgg16(weights=str(path))
    assert model.count_params() == sum(p.numel() for p in tmodel.parameters()) == 35_641_826
    # the raw head outputs on a normalized batch
    x = np.random.default_rng(0).normal(0, 60, (2, 300, 300, 3)).astype("float32")
    with torch.no_grad():
        head = tmodel.head(list(tmodel.backbone(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).values()))
    theirs = torch.cat([head["bbox_regression"], head["cls_logits"]], dim=-1).numpy()
    assert _relative(np.asarray(model(x)), theirs) < RTOL
    # the detections on images of three shapes, resized to 300x300 and scaled back as torchvision does
    rng = np.random.default_rng(1)
    images = [rng.uniform(0, 1, shape).astype("float32") for shape in ((300, 300, 3), (240, 320, 3), (410, 250, 3))]
    with torch.no_grad():
        expected = tmodel([torch.from_numpy(np.moveaxis(i, -1, 0).copy()) for i in images])
    found = cnnzoo.detect(model, [i * 255 for i in images], weights="coco")
    for ours, ref in zip(found, expected):
        assert len(ours) == len(ref["scores"]) == 200
        np.testing.assert_array_equal(ours.labels, ref["labels"].numpy())
        np.testing.assert_allclose(ours.scores, ref["scores"].numpy(), rtol=1e-4)
        np.testing.assert_allclose(ours.boxes, ref["boxes"].numpy(), rtol=1e-4, atol=1e-3)
        assert ours.names[0] == catalog.categories("coco")[int(ref["labels"][0])]


@pytest.mark.slow
def test_a_coco_detector_fine_tunes_on_your_own_coco_boxes(tmp_path, monkeypatch):
    """weights="coco" with other classes: the box regressors and the network come from the file, the class
    heads start afresh; a COCO annotation folder streams into cnnzoo's engine."""
    from PIL import Image

    from cnnzoo import training
    from cnnzoo.data.coco import detection_pipeline, read_coco

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    path = mirror / "ssd300-local.pth"
    torch.save(_torchvision_ssd().state_dict(), path)
    base = get_weights("ssd300_vgg16", "coco")
    register_weights(dataclasses.replace(base, tag="local_coco", url="https://example.invalid/ssd300-local.pth",
                                         sha256=hashlib.sha256(path.read_bytes()).hexdigest()[:8], default=False))
    try:
        monkeypatch.setenv("CNNZOO_WEIGHTS_URL", mirror.as_uri())
        model = cnnzoo.ssd300_vgg16(weights="local_coco", classes=3)
        reference = cnnzoo.ssd300_vgg16(weights=str(path))
        for name in ("stage4_conv3", "head_level1_boxes"):
            for ours, theirs in zip(model.get_layer(name).weights, reference.get_layer(name).weights):
                np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
        assert model.get_layer("head_level1_predictions").weights[0].shape[-1] == 3 * 4
        rng = np.random.default_rng(0)
        images = []
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (120, 160, 3)).astype("uint8")).save(tmp_path / f"{i}.png")
            images.append({"id": i, "file_name": f"{i}.png", "height": 120, "width": 160})
        annotations = [{"id": i + 1, "image_id": i, "category_id": 1 + i % 2, "bbox": [10, 20, 60, 50]}
                       for i in range(4)]
        (tmp_path / "train.json").write_text(json.dumps({
            "images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))
        data = read_coco(tmp_path / "train.json")
        train = detection_pipeline(data, model, batch_size=2, training=True)
        x, _ = train[0]  # prepared as the coco weights expect: x * 255 - mean * 255
        assert x.min() < -50 and x.max() > 100
        record = training.fit(model, train, detection_pipeline(data, model, batch_size=2),
                              training.TrainConfig(epochs=1, batch_size=2, lr=1e-4), str(tmp_path / "run"), verbose=0)
        assert np.isfinite(record["history"]["loss"][0]) and record["monitor"] == "val_loss"
        found = cnnzoo.detect(model, str(tmp_path / "0.png"), labels=list(data.class_names))[0]
        assert set(found.names) <= {"cat", "dog"}
    finally:
        unregister_weights("ssd300_vgg16", "local_coco")
