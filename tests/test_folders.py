"""Your own folders, streamed: the one scanner, image conversion (grey, RGBA, palette, 16-bit),
the streamed pipeline against the in-memory result, corrupt files, the seeded split,
clip folders through the same scanner, and fine-tuning that resumes after kill -9."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import cnnzoo
from cnnzoo.data import folder
from cnnzoo.data.folder import (
    FileList,
    ImageFolderError,
    crop_box,
    image_folder_pipeline,
    load_image,
    load_image_folder,
    scan_folder,
)


def _png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)


def _folder(root, per_class=5, classes=("cat", "dog"), ext="png"):
    rng = np.random.default_rng(0)
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = 20 + 3 * i, 30 - 2 * i  # mixed sizes and aspect ratios
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / cls / f"{i}.{ext}")
    return root


def _batches(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


# ---- conversion ----

def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 16 * 16).astype(np.uint16).reshape(16, 16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")  # PIL writes a 16-bit grey PNG (mode I;16)
    with Image.open(tmp_path / "deep.png") as img:
        assert img.mode in ("I;16", "I")
    out = load_image(tmp_path / "deep.png", (16, 16), channels=1, resize="stretch")[..., 0]
    np.testing.assert_allclose(out.astype(float), np.round(ramp / 257.0), atol=1)
    assert out.max() == 255 and out.min() == 0 and len(np.unique(out)) > 200  # clipping gave two values
    rgb = folder.read_image(tmp_path / "deep.png", None, 3)
    assert rgb.shape == (16, 16, 3) and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_palette_rgba_and_grey_images_convert_to_rgb(tmp_path):
    palette = Image.new("P", (4, 4))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putdata([0, 1] * 8)
    palette.save(tmp_path / "palette.png")
    transparent = palette.copy()
    transparent.info["transparency"] = 1
    transparent.save(tmp_path / "palette_t.png", transparency=1)
    _png(tmp_path / "rgba.png", np.dstack([np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4), np.uint8)]), "RGBA")
    _png(tmp_path / "grey.png", np.full((4, 4), 77, np.uint8))
    p = load_image(tmp_path / "palette.png", (4, 4), 3, "stretch")
    assert p[0, 0].tolist() == [255, 0, 0] and p[0, 1].tolist() == [0, 0, 255]
    assert load_image(tmp_path / "palette_t.png", (4, 4), 3, "stretch")[0, 0].tolist() == [255, 0, 0]
    assert load_image(tmp_path / "rgba.png", (4, 4), 3, "stretch")[0, 0].tolist() == [200, 200, 200]  # alpha dropped
    assert load_image(tmp_path / "grey.png", (4, 4), 3, "stretch")[0, 0].tolist() == [77, 77, 77]
    assert load_image(tmp_path / "rgba.png", (4, 4), 1, "stretch").shape == (4, 4, 1)


# ---- geometry ----

def test_evaluation_crop_keeps_the_aspect_ratio_as_resize_then_centre_crop():
    # 400x300 image, torchvision's Resize(256) + CenterCrop(224): scale 256/300, crop 224 of 341x256
    left, top, right, bottom = crop_box(400, 300, (224, 224), "crop", 256 / 224)
    side = 224 * 300 / 256
    assert (right - left, bottom - top) == pytest.approx((side, side))
    assert ((left + right) / 2, (top + bottom) / 2) == (200, 150)
    assert crop_box(400, 300, (224, 224), "stretch") == (0, 0, 400, 300)


def test_random_resized_crop_draws_torchvisions_areas_and_ratios():
    rng = np.random.default_rng(0)
    for _ in range(300):
        left, top, right, bottom = crop_box(500, 375, (224, 224), rng=rng)
        w, h = right - left, bottom - top
        assert 0 <= left and 0 <= top and right <= 500 and bottom <= 375
        assert 0.08 * 500 * 375 * 0.9 <= w * h <= 500 * 375
        assert 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05


# ---- the scanner and the streamed pipeline ----

def test_scan_reports_non_images_truncated_and_corrupt_files(tmp_path):
    root = _folder(tmp_path / "data", ext="jpg")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (root / "dog" / "0.jpg").read_bytes()
    (root / "dog" / "cut.jpg").write_bytes(good[: len(good) // 2])
    png = tmp_path / "full.png"
    _png(png, np.zeros((8, 8, 3), np.uint8))
    (root / "dog" / "cut.png").write_bytes(png.read_bytes()[:-20])
    (root / "dog" / "subfolder").mkdir()
    files = scan_folder(str(root))
    assert len(files) == 10 and files.class_names == ["cat", "dog"] and files.labels.tolist() == [0] * 5 + [1] * 5
    reasons = {os.path.basename(p): r for p, r in files.skipped}
    assert set(reasons) == {"notes.txt", "broken.png", "cut.jpg", "cut.png", "subfolder"}
    assert "runcated" in reasons["cut.jpg"] and "truncated PNG" in reasons["cut.png"]
    assert "skipped 5 unreadable file(s)" in str(files.report())


def test_streaming_equals_the_in_memory_result(tmp_path):
    root = _folder(tmp_path / "data")
    files = scan_folder(str(root))
    x, y = _batches(image_folder_pipeline(files, (16, 16), training=False, batch_size=3, resize="stretch"))
    memory, _ = load_image_folder(str(root), (16, 16))
    np.testing.assert_allclose(x, memory.images / 255.0, atol=1e-6)  # same images, same order
    assert np.argmax(y, -1).tolist() == memory.labels.tolist()
    # the aspect-keeping evaluation transform, image by image, in the scan's order
    x, _ = _batches(image_folder_pipeline(files, (12, 12), training=False, batch_size=4, mean=0.5, std=0.25))
    expected = np.stack([load_image(p, (12, 12), 3, "crop") for p in files.paths]) / 255.0
    np.testing.assert_allclose(x, (expected - 0.5) / 0.25, atol=1e-5)


def test_training_order_and_crops_are_seeded_per_epoch(tmp_path):
    files = scan_folder(str(_folder(tmp_path / "data", per_class=6)))

    def epoch(seed, number):
        ds = image_folder_pipeline(files, (10, 10), training=True, batch_size=4, seed=seed,
                                   augment="random_resized_crop")
        ds.epoch_counter.set(number)
        return _batches(ds)

    (x0, y0), (x0b, y0b), (x1, _), (xs, _) = epoch(0, 0), epoch(0, 0), epoch(0, 1), epoch(1, 0)
    np.testing.assert_array_equal(x0, x0b)  # same seed and epoch: the same batches
    np.testing.assert_array_equal(y0, y0b)
    assert len(x0) == 12 and not np.array_equal(x0, x1) and not np.array_equal(x0, xs)
    assert sorted(np.argmax(y0, -1).tolist()) == [0] * 6 + [1] * 6  # every example once (12 of 12)


def test_a_file_unreadable_mid_run_is_reported_and_replaced(tmp_path, capfd):
    root = _folder(tmp_path / "data")
    files = scan_folder(str(root))
    os.remove(files.paths[3])
    (root / "dog" / "1.png").write_bytes(b"garbage now")
    ds = image_folder_pipeline(files, (8, 8), training=False, batch_size=5)
    x, y = _batches(ds)
    assert len(x) == 10 and int(ds.cardinality()) == 2  # the epoch keeps its length
    err = capfd.readouterr().err
    assert "3.png" in err and "1.png" in err and "the next one takes its place" in err


def test_validation_split_is_disjoint_seeded_and_per_class(tmp_path):
    files = scan_folder(str(_folder(tmp_path / "data", per_class=10)))
    train, val = files.split(0.3, seed=4)
    again, val_again = files.split(0.3, seed=4)
    _, other = files.split(0.3, seed=5)
    assert train.paths == again.paths and val.paths == val_again.paths and val.paths != other.paths
    assert not set(train.paths) & set(val.paths) and len(train) + len(val) == 20
    assert np.bincount(val.labels).tolist() == [3, 3]
    with pytest.raises(ValueError, match="fraction must be in"):
        files.split(1.0)


def test_scanner_errors_name_the_folder(tmp_path):
    with pytest.raises(ImageFolderError, match="not a folder"):
        scan_folder(str(tmp_path / "missing"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    with pytest.raises(ImageFolderError, match="a has no readable images"):
        scan_folder(str(tmp_path))
    with pytest.raises(ValueError, match="kind must be one of"):
        scan_folder(str(tmp_path), kind="audio")
    with pytest.raises(ValueError, match="augment must be None or"):
        image_folder_pipeline(FileList(["x"], np.zeros(1, np.int64), ["a"], []), (4, 4), True, 1, augment="mixup")


# ---- fine-tuning ----

def _finetune(args, env=None):
    return subprocess.run([sys.executable, "-m", "cnnzoo.cli", "finetune", *args], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}, timeout=600)


def _epochs_logged(path):
    with open(path) as f:
        return [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]


@pytest.mark.slow
def test_finetuning_resumes_after_kill_9_with_the_uninterrupted_result(tmp_path):
    root = _folder(tmp_path / "data", per_class=8)
    start = cnnzoo.resnet20(width=0.5, classes=4, input_shape=(24, 24, 3))
    start.save(tmp_path / "start.keras")
    common = ["--model", str(tmp_path / "start.keras"), "--data-dir", str(root), "--epochs-head", "2",
              "--epochs-finetune", "3", "--batch-size", "4", "--verbose", "0"]
    clean = _finetune(common + ["--out", str(tmp_path / "clean")])
    assert clean.returncode == 0, clean.stderr[-2000:]
    for point in ("head:epoch_end:1", "finetune:epoch_end:0"):
        out = tmp_path / point.replace(":", "_")
        killed = _finetune(common + ["--out", str(out)], env={"CNNZOO_TEST_KILL_AT": point})
        assert killed.returncode == -9, killed.stderr[-2000:]
        resumed = _finetune(common + ["--out", str(out)])
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert _epochs_logged(out / "head" / "log.csv") == [0, 1]  # no epoch trained twice
        assert _epochs_logged(out / "finetune" / "log.csv") == [0, 1, 2]
        a = keras.saving.load_model(tmp_path / "clean" / "model.keras")
        b = keras.saving.load_model(out / "model.keras")
        for va, vb in zip(a.weights, b.weights):  # bit for bit: the order and crops are pure functions of (seed, epoch)
            np.testing.assert_array_equal(np.asarray(va), np.asarray(vb), err_msg=va.path)
        record = json.loads((out / "results.json").read_text())
        assert record["train_examples"] + record["validation_examples"] == 16


@pytest.mark.slow
def test_a_3d_model_fine_tunes_on_clip_folders_through_the_same_scanner(tmp_path):
    root = tmp_path / "clips"
    for c, cls in enumerate(("up", "down")):
        for k in range(3):
            clip = root / cls / f"clip{k}"
            clip.mkdir(parents=True)
            for t in range(6):
                frame = np.zeros((20, 20, 3), np.uint8)
                row = (3 * t if c == 0 else 19 - 3 * t) % 20
                frame[row] = 255
                _png(clip / f"{t:02d}.png", frame)
    (root / "up" / "readme.txt").write_text("not a clip")
    start = cnnzoo.r3d_18(width=0.125, classes=2, input_shape=(4, 16, 16, 3))
    start.save(tmp_path / "r3d.keras")
    run = _finetune(["--model", str(tmp_path / "r3d.keras"), "--data-dir", str(root), "--val-split", "0.34",
                     "--epochs-head", "1", "--epochs-finetune", "1", "--batch-size", "2", "--frame-stride", "1",
                     "--verbose", "0", "--out", str(tmp_path / "out")])
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["train_examples"] == 4 and record["validation_examples"] == 2
    assert [os.path.basename(p) for p, _ in record["skipped"]] == ["readme.txt"]
    assert record["preprocessing"]["kind"] == "clips"
    assert keras.saving.load_model(tmp_path / "out" / "model.keras").output_shape == (None, 2)


def test_a_model_trained_by_a_recipe_is_fine_tuned_with_the_recipes_normalization(tmp_path):
    from cnnzoo.training import finetune

    run = tmp_path / "run"
    run.mkdir()
    cnnzoo.resnet20(width=0.25, input_shape=(20, 20, 3)).save(run / "final.keras")
    (run / "results.json").write_text(json.dumps({"dataset": {"normalization": {"mean": [0.4, 0.5, 0.6],
                                                                                 "std": [0.2, 0.2, 0.3]}}}))
    config = finetune.FinetuneConfig(epochs_head=1, epochs_finetune=0, batch_size=4, verbose=0)
    record = finetune.finetune(str(run / "final.keras"), str(_folder(tmp_path / "data")), config=config,
                               out_dir=str(tmp_path / "out")).record
    assert record["preprocessing"]["mean"] == [0.4, 0.5, 0.6] and record["preprocessing"]["augment"] is None
    saved = json.loads((tmp_path / "out" / "preprocessing.json").read_text())
    assert saved["std"] == [0.2, 0.2, 0.3] and saved["resize"] == "crop"
