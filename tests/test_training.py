"""The training engine and the MNIST recipe's smoke mode."""

import json
import os
import sys

import keras
import numpy as np
import pytest

from cnnzoo import data, training
from test_data import write_mnist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "recipes"))
import mnist_lenet5  # noqa: E402


def test_mnist_recipe_smoke_writes_results_and_curves(tmp_path, capsys):
    write_mnist(tmp_path / "data", n=300)
    out = tmp_path / "run"
    assert mnist_lenet5.main(["--smoke", "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["epochs_run"] == 1 and record["dataset"]["smoke"] is True
    assert 0.0 <= record["final_test_accuracy"] <= 1.0
    assert record["config"]["optimizer"] == "adamw" and "tensorflow" in record["environment"]
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert keras.saving.load_model(out / "final.keras").output_shape == (None, 10)
    assert "test accuracy" in capsys.readouterr().out


def test_recipe_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        mnist_lenet5.parse_args(["--epochs", "0"])
    with pytest.raises(SystemExit):
        mnist_lenet5.parse_args(["--epochs", "many"])


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    images = np.full((64, 28, 28, 1), np.nan, "float32")
    ds = data.Dataset("mnist", "train", images, np.zeros(64, np.int64), 10, "test")
    pipe = data.make_pipeline(ds, 16, training=True)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(training.TrainingDivergedError, match="NaN or infinite"):
        training.fit(model, pipe, pipe, training.TrainConfig(epochs=2), str(tmp_path), verbose=0)


def test_schedules_and_weight_decay_exclusions():
    cosine = training.make_schedule("cosine", 0.1, epochs=10, steps_per_epoch=10, warmup_epochs=1)
    assert float(cosine(0)) == pytest.approx(0.01) and float(cosine(9)) == pytest.approx(0.1)
    assert float(cosine(99)) < 0.01
    step = training.make_schedule("step", 0.1, epochs=10, steps_per_epoch=10, milestones=(5, 8))
    assert [round(float(step(s)), 6) for s in (0, 49, 51, 81)] == [0.1, 0.1, 0.01, 0.001]
    with pytest.raises(ValueError, match="schedule.*Received: schedule='poly'"):
        training.make_schedule("poly", 0.1, 1, 1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    opt = training.make_optimizer("sgd", 0.1, weight_decay=0.5, nesterov=True)
    opt.build(model.trainable_variables)
    decayed = {v.name: opt._use_weight_decay(v) for v in model.trainable_variables}
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}
    with pytest.raises(ValueError, match="epochs.*Received: epochs=0"):
        training.TrainConfig(epochs=0)
