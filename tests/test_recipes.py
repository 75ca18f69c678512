"""Every recipe's --smoke runs (on data written in the dataset's native format),
and a run killed with SIGKILL resumes to the same result as an uninterrupted one."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import ROOT, SAMPLE_MNIST, digits_folder, run_recipe, write_cifar, write_mnist

ALL_RECIPES = sorted(
    os.path.splitext(os.path.basename(p))[0]
    for p in glob.glob(os.path.join(ROOT, "recipes", "*.py"))
    if not os.path.basename(p).startswith(("_", "make_"))
)
# Recipes on the shared runner (a CONFIG with a dataset); the others have their own tests below.
OWN_TESTS = {"finetune", "mlp_vs_cnn", "mnist_fast", "video_moving_digits", "video_ucf101", "detect_digits"}  # mlp_vs_cnn: test_learn.py
RECIPES = [r for r in ALL_RECIPES if r not in OWN_TESTS]


def recipe_data(name, folder):
    dataset = __import__("importlib").import_module(name).CONFIG["dataset"]
    if dataset in ("mnist", "fashion_mnist"):
        write_mnist(os.path.join(folder, dataset), n=300)
    else:
        write_cifar(folder, dataset, "pickle", n_per_file=64)
    return dataset


@pytest.fixture(autouse=True)
def _recipes_on_path(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "recipes"))


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_smoke(name, tmp_path):
    recipe_data(name, str(tmp_path / "data"))
    out = tmp_path / "run"
    result = run_recipe(name, "--smoke", "--data-dir", str(tmp_path / "data"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["dataset"]["smoke"] and record["epochs_run"] == 1
    assert record["command"].startswith(f"python recipes/{name}.py --smoke")
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "test accuracy" in result.stdout


def test_every_recipe_is_tested():
    assert OWN_TESTS <= set(ALL_RECIPES) and len(RECIPES) >= 7


@pytest.mark.slow
def test_detect_digits_recipe_smoke_and_its_detector_in_predict(tmp_path, cnnzoo_command):
    from PIL import Image

    from cnnzoo.data import digit_scenes

    out = tmp_path / "run"
    result = run_recipe("detect_digits", "--smoke", "--data-dir", SAMPLE_MNIST, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mAP@.5" in result.stdout and "held-out scenes" in result.stdout
    record = json.loads((out / "results.json").read_text())
    assert record["recipe"]["name"] == "detect_digits" and record["monitor"] == "val_loss"
    assert 0 <= record["test_map50"] <= 1 and record["detection"]["objects"] >= 16
    assert record["dataset"]["smoke"] and record["epochs_run"] == 1
    assert (out / "detections.png").read_bytes()[:4] == b"\x89PNG"
    # the trained detector through `cnnzoo predict`: its class names from inside the file, boxes, a picture
    test = digit_scenes.load("test", 2, data_dir=SAMPLE_MNIST, size=80)
    Image.fromarray(test.images[0, ..., 0]).save(tmp_path / "scene.png")
    shown = cnnzoo_command("predict", str(out / "final.keras"), str(tmp_path / "scene.png"), "--min-score", "0",
                           "--annotate", str(tmp_path / "boxes"))
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.startswith("  ") and "(" in line]
    assert lines and all(line.split()[1] in digit_scenes.CLASS_NAMES[1:] for line in lines[:-1])
    assert (tmp_path / "boxes" / "scene.boxes.png").exists()
    assert Image.open(tmp_path / "boxes" / "scene.boxes.png").size == (400, 400)  # 80x80 enlarged 5x to be read


@pytest.mark.slow
@pytest.mark.parametrize("name,args", [
    ("video_moving_digits", ["--smoke", "--data-dir", SAMPLE_MNIST]),
    ("video_ucf101", ["--smoke"]),
])
def test_video_recipe_smoke(name, args, tmp_path):
    result = run_recipe(name, *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    records = [json.loads(p.read_text()) for p in tmp_path.glob("run/**/results.json")]
    assert records
    if name == "video_moving_digits":  # every model's accuracy split into motion pair and direction
        assert len(records) == 3 and "direction within the pair" in result.stdout
        for r in records:
            rev = r["time_reversal"]
            assert rev["accuracy"] == pytest.approx(r["final_test_accuracy"], abs=1e-6)
            assert sum(map(sum, rev["confusion"])) == 32 and rev["pair_accuracy"] >= rev["accuracy"]


@pytest.mark.slow
def test_fast_recipe_times_both_networks_on_every_seed(tmp_path):
    result = run_recipe("mnist_fast", "--smoke", "--seeds", "3,4", "--data-dir", SAMPLE_MNIST,
                        "--out", str(tmp_path / "fast"))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "fast" / "summary.json").read_text())
    assert [row["seed"] for row in summary["seeds"]] == [3, 4] and summary["final_test_accuracy"]["n"] == 2
    for seed in (3, 4):
        record = json.loads((tmp_path / "fast" / f"seed_{seed}" / "results.json").read_text())
        assert record["config"]["seed"] == seed and "keras_io_convnet_time_to_target_s" in record["comparison"]
        assert record["recipe"]["config"]["model_kwargs"] == {"width": 2}
        assert (tmp_path / "fast" / f"seed_{seed}" / "keras_io_convnet" / "results.json").exists()
    assert "time to 99.2%" in result.stdout


@pytest.mark.slow
def test_finetune_recipe_smoke(tmp_path):

    digits_folder(tmp_path / "digits", "train", range(3), per_class=8)
    result = run_recipe("finetune", "--model", "lenet5", "--data-dir", str(tmp_path / "digits"), "--input-shape",
                        "28,28,1", "--epochs-head", "1", "--epochs-finetune", "1", "--out", str(tmp_path / "ft"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "validation accuracy" in result.stdout and (tmp_path / "ft" / "model.keras").exists()
    bad = run_recipe("finetune", "--model", "lenet5", "--data-dir", str(tmp_path / "digits" / "0"))
    assert bad.returncode == 2 and "at least two" in bad.stderr


def test_recipe_rejects_invalid_values_with_the_choices(tmp_path, capsys):
    from cnnzoo import recipes

    for argv, message in ((["--strategy", "ring"], "choose from 'auto', 'mirrored', 'multi_worker'"),
                          (["--model", "resnet19"], "--model must be a registered model"),
                          (["--epochs", "0"], "--epochs must be a positive int. Received: epochs=0")):
        with pytest.raises(SystemExit) as e:  # in process: the recipe's parser, as the command runs it
            recipes.main("mnist_lenet5", argv + ["--out", str(tmp_path / "run")])
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes_to_the_same_result(tmp_path):
    args = ["--data-dir", SAMPLE_MNIST, "--epochs", "3", "--batch-size", "16", "--deterministic", "--verbose", "0"]
    reference = run_recipe("mnist_lenet5", *args, "--out", str(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr[-3000:]

    out = tmp_path / "killed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "recipes", "mnist_lenet5.py"), *args,
                             "--out", str(out)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "log.csv"
    deadline = time.time() + 300
    while time.time() < deadline:
        if log.exists() and len(log.read_text().strip().splitlines()) >= 2:  # epoch 1 of 3 finished
            break
        time.sleep(0.02)
    time.sleep(0.05)  # into epoch 2 (its end-of-epoch backup may be half-written: see test_training)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "final.keras").exists(), "the run finished before it could be killed"
    assert (out / "backup").exists()

    resumed = run_recipe("mnist_lenet5", *args, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    again = json.loads((out / "results.json").read_text())
    # It resumed instead of starting over, and its record covers the whole run (it said epochs_run=2 and
    # kept only the resumed epochs' history before the run's state carried the history).
    assert again["resumed_after_epoch"] >= 1 and again["epochs_run"] == 3
    assert again["history"]["loss"] == pytest.approx(whole["history"]["loss"], rel=1e-5)
    assert again["final_test_accuracy"] == whole["final_test_accuracy"]
    import keras

    a = keras.saving.load_model(tmp_path / "whole" / "final.keras").get_weights()
    b = keras.saving.load_model(out / "final.keras").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
