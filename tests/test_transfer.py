"""Fine-tuning, transfer helpers, weight import from keras.applications, export."""

import json
import os

import keras
import numpy as np
import pytest
from helpers import digits_folder, write_png

import cnnzoo
from cnnzoo import cli, data
from cnnzoo.data.folder import ImageFolderError, load_image_folder
from cnnzoo.export import ONNX_PACKAGES, ExportError, export
from cnnzoo.training import TrainConfig, finetune, fit, transfer
from cnnzoo.weights.keras_applications import from_keras_applications


def randomize_batch_norm(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 1.5, v.shape)])


def test_one_channel_model_from_a_three_channel_kernel():
    rgb = cnnzoo.resnet20(width=0.5)
    randomize_batch_norm(rgb)
    grey = transfer.copy_weights(rgb, cnnzoo.resnet20(width=0.5, input_shape=(32, 32, 1)))
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(grey.predict(x, verbose=0), rgb.predict(np.repeat(x, 3, axis=-1), verbose=0),
                               rtol=1e-4, atol=1e-6)


def test_adapt_input_kernel_for_more_channels_keeps_the_scale():
    k = np.random.default_rng(0).normal(size=(3, 3, 3, 4))
    k5 = transfer.adapt_input_kernel(k, 5)
    assert k5.shape == (3, 3, 5, 4)
    np.testing.assert_allclose(k5[:, :, 3:5], k[:, :, 0:2] * 3 / 5)
    # a constant image of value 1 on every channel: the summed response is kept
    np.testing.assert_allclose(k5.sum(axis=(0, 1, 2)), k.sum(axis=(0, 1, 2)) * 3 / 5
                               + k[:, :, 0:2].sum(axis=(0, 1, 2)) * 3 / 5, rtol=1e-6)
    with pytest.raises(ValueError, match="in_channels.*Received: in_channels=0"):
        transfer.adapt_input_kernel(k, 0)


def test_freeze_keeps_batch_norm_statistics_and_replace_head():
    model = transfer.replace_head(cnnzoo.resnet20(width=0.25), classes=3)
    assert model.output_shape == (None, 3)
    frozen = transfer.freeze(model)
    assert "stage3_block3" in frozen and model.get_layer("predictions").trainable
    bn = model.get_layer("stage1_block1").units[0].norm_layer
    before = np.asarray(bn.moving_mean).copy()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(np.random.rand(8, 32, 32, 3).astype("float32"), np.arange(8) % 3, verbose=0)
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), before)
    assert transfer.unfreeze(model, "stage3")[0] == "stage3_block1"
    assert model.get_layer("stage3_block1").trainable and not model.get_layer("stage2_block3").trainable
    with pytest.raises(ValueError, match="Received: up_to='stage9'"):
        transfer.freeze(model, "stage9")


@pytest.mark.parametrize("name", ["ResNet50", pytest.param("ResNet101", marks=pytest.mark.slow)])
def test_weights_from_keras_applications_resnet(name):
    app = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=7)
    randomize_batch_norm(app)
    ours = from_keras_applications(app)
    assert ours.name == name.lower() and ours.output_shape == (None, 7)
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), app.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("name", ["VGG16", "VGG19"])
def test_weights_from_keras_applications_vgg(name):
    app = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    ours = from_keras_applications(app)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), app.predict(x, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_weights_from_keras_applications_vgg16_with_top():
    app = keras.applications.VGG16(weights=None)
    ours = from_keras_applications(app)
    x = np.random.default_rng(1).normal(size=(1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), app.predict(x, verbose=0), atol=1e-5)


def test_interop_rejects_other_models():
    with pytest.raises(ValueError, match="ResNet50/101/152 or VGG16/19"):
        from_keras_applications(keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3)))


def test_folder_reports_corrupt_files_and_converts_mixed_images(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        write_png(tmp_path / cls / "grey.png", rng.integers(0, 255, (20, 30), dtype=np.uint8))
        write_png(tmp_path / cls / "rgba.png", rng.integers(0, 255, (40, 40, 4), dtype=np.uint8))
        write_png(tmp_path / cls / "rgb.jpg", rng.integers(0, 255, (9, 17, 3), dtype=np.uint8))
    (tmp_path / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (tmp_path / "b" / "rgb.jpg").read_bytes()
    (tmp_path / "b" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    ds, report = load_image_folder(str(tmp_path), (16, 16), channels=3)
    assert ds.images.shape == (6, 16, 16, 3) and ds.images.dtype == np.uint8
    assert report.class_names == ["a", "b"] and list(ds.labels) == [0, 0, 0, 1, 1, 1]
    assert sorted(os.path.basename(p) for p, _ in report.skipped) == ["corrupt.png", "truncated.jpg"]
    assert "skipped 2 unreadable file(s)" in str(report) and str(tmp_path / "a" / "corrupt.png") in str(report)
    grey, _ = load_image_folder(str(tmp_path), (8, 8), channels=1)
    assert grey.images.shape == (6, 8, 8, 1)


def test_folder_layout_errors(tmp_path):
    (tmp_path / "only").mkdir()
    write_png(tmp_path / "only" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageFolderError, match="at least two; found 1"):
        load_image_folder(str(tmp_path), (4, 4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFolderError, match="empty has no readable images"):
        load_image_folder(str(tmp_path), (4, 4))


def test_frame_folders_for_3d_models(tmp_path):
    for cls in ("left", "right"):
        for clip in range(2):
            folder = tmp_path / cls / f"clip{clip}"
            folder.mkdir(parents=True)
            for t in range(5):
                write_png(folder / f"{t:03d}.png", np.full((10, 10, 3), t * 40, np.uint8))
    ds, _ = load_image_folder(str(tmp_path), (8, 8), channels=3, frames=4)
    assert ds.images.shape == (4, 4, 8, 8, 3)
    assert list(ds.images[0, :, 0, 0, 0]) == [0, 40, 120, 160]  # 5 frames resampled to 4


@pytest.mark.slow
def test_finetuning_digits_5_to_9_beats_training_from_scratch(tmp_path, capsys):
    # 1. a LeNet-5 trained on the real MNIST digits 0-4 only (~30,000 images). The 1,000 of the
    # bundled sample do not make features worth transferring, so this needs the full set.
    try:
        train = data.load_arrays("mnist", "train")
    except data.DatasetNotFoundError:
        pytest.skip("needs the full MNIST training set (CNNZOO_DATA_DIR); CI sets it from ../shared/data")
    keep = train.labels < 5
    low = data.Dataset("mnist", "train", train.images[keep], train.labels[keep], 5, train.source)
    pre = cnnzoo.lenet5(input_shape=(28, 28, 1), classes=5)
    fit(pre, data.make_pipeline(low, 64, training=True), data.make_pipeline(low, 256, training=False),
        TrainConfig(epochs=2, lr=2e-3), str(tmp_path / "pre"), verbose=0)
    pre.save(tmp_path / "digits04.keras")
    # 2. real digits 5-9 written into class folders: a few for training, more for validation
    digits_folder(tmp_path / "train59", "train", range(5, 10), per_class=10)
    digits_folder(tmp_path / "val59", "test", range(5, 10), per_class=60)
    config = finetune.FinetuneConfig(weights=str(tmp_path / "digits04.keras"), input_shape=(28, 28, 1), epochs_head=10,
                                     epochs_finetune=10, lr_head=3e-3, lr_finetune=1e-3, batch_size=16, verbose=0)
    record = finetune.finetune("lenet5", str(tmp_path / "train59"), val=str(tmp_path / "val59"), config=config,
                               out_dir=str(tmp_path / "ft")).record
    # 3. the same network from scratch on the same folder, same epochs and batch size
    model = cnnzoo.lenet5(input_shape=(28, 28, 1), classes=5)
    tr, _ = load_image_folder(str(tmp_path / "train59"), (28, 28), channels=1)
    va, _ = load_image_folder(str(tmp_path / "val59"), (28, 28), channels=1)
    fit(model, data.make_pipeline(tr, 16, training=True), data.make_pipeline(va, 64, training=False),
        TrainConfig(epochs=20, lr=3e-3, batch_size=16), str(tmp_path / "scratch"), verbose=0)
    scratch = finetune.per_class_accuracy(model, va)[0]
    print(f"fine-tuned {record['validation_accuracy']:.3f} vs scratch {scratch:.3f}")
    assert record["validation_accuracy"] > scratch + 0.05
    assert set(record["per_class_accuracy"]) == {"5", "6", "7", "8", "9"}
    loaded = keras.saving.load_model(tmp_path / "ft" / "model.keras")
    assert loaded.output_shape == (None, 5)
    assert json.loads((tmp_path / "ft" / "classes.json").read_text()) == ["5", "6", "7", "8", "9"]
    # predict with the saved model: top-k with probabilities, names from classes.json
    image = next((tmp_path / "val59" / "7").iterdir())
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "ft" / "model.keras"), str(image), "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert str(image) in out and out.count("%") == 2


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_export_round_trips(fmt, tmp_path):
    model = cnnzoo.lenet5(input_shape=(28, 28, 1))
    model.save(tmp_path / "m.keras")
    out = str(tmp_path / ("m_saved" if fmt == "savedmodel" else "m.tflite"))
    assert cli.main(["export", str(tmp_path / "m.keras"), "--format", fmt, "--out", out]) == 0
    assert export(str(tmp_path / "m.keras"), fmt, out) < 1e-4


@pytest.mark.slow
@pytest.mark.xdist_group("memory")  # R(2+1)D-18's ONNX conversion alone peaks at 7.6 GB: see the Makefile's test-slow
@pytest.mark.parametrize("name, shape", [("resnet18", (224, 224, 3)), ("googlenet", (224, 224, 3)),
                                         ("r2plus1d_18", (16, 112, 112, 3))])
def test_onnx_exports_of_the_deployed_families_equal_keras(name, shape, tmp_path):
    """Deployment checked where users deploy: ONNX Runtime's outputs equal Keras's (the onnx extra; CI installs it)."""
    import importlib.util

    if not all(importlib.util.find_spec(p) for p in ONNX_PACKAGES):
        pytest.skip("pip install .[onnx] (CI installs it: make venv-onnx)")
    model = cnnzoo.get_model(name, input_shape=shape, classifier_activation=None)  # logits: a stricter comparison
    assert export(model, "onnx", str(tmp_path / f"{name}.onnx")) < 1e-4


def test_onnx_export_names_what_to_install(tmp_path):
    import importlib.util

    model = cnnzoo.lenet5(input_shape=(28, 28, 1))
    if all(importlib.util.find_spec(p) for p in ONNX_PACKAGES):
        assert export(model, "onnx", str(tmp_path / "m.onnx")) < 1e-4
    else:
        with pytest.raises(ExportError, match="pip install onnx tf2onnx onnxruntime"):
            export(model, "onnx", str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="format must be one of.*Received: format='coreml'"):
        export(model, "coreml", str(tmp_path / "m"))
