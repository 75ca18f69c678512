"""The run's state under kills and divergence: killed at every write and between writes (SIGKILL through
cnnzoo.training.faults), a rerun ends with the uninterrupted run's weights bit for bit; a NaN never
overwrites the last good state or the best model; NaN inputs are refused by name."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo import data
from cnnzoo.training import TrainConfig, fit
from cnnzoo.training.engine import TrainingDivergedError

HERE = os.path.dirname(os.path.abspath(__file__))
# Every write of an epoch and the points between them; epochs are 0-based, 3 epochs of 6 steps.
KILL_POINTS = [
    "batch_end:1:3",  # mid-epoch
    "state_weights_written:0",  # the first state: weights written, state.json not yet
    "state_json_written:1",  # both written, not yet renamed into place
    "state_renamed:1",  # in place, log.csv not yet rewritten
    "best_written:1",  # best.keras replaced, the epoch's state not yet written
    "epoch_end:1",  # everything of epoch 1 written
    "state_weights_written:2",  # the last epoch
]


def _train(out, kill_at=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("CNNZOO_TEST_KILL_AT", None)
    if kill_at:
        env["CNNZOO_TEST_KILL_AT"] = f"{os.path.basename(out)}:{kill_at}"
    return subprocess.run([sys.executable, os.path.join(HERE, "run_state_worker.py"), str(out)],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    done = _train(out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_every_kill_point_resumes_to_the_uninterrupted_weights(point, uninterrupted, tmp_path):
    out = tmp_path / "run"
    killed = _train(out, kill_at=point)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (out / "final.keras").exists()
    resumed = _train(out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = cnnzoo.load_model(uninterrupted / "final.keras")
    again = cnnzoo.load_model(out / "final.keras")
    for a, b in zip(whole.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    record = json.loads((out / "results.json").read_text())
    reference = json.loads((uninterrupted / "results.json").read_text())
    assert record["epochs_run"] == 3 and record["history"] == reference["history"]
    assert [int(line.split(",")[0]) for line in (out / "log.csv").read_text().splitlines()[1:]] == [0, 1, 2]
    assert not (out / "backup").exists()  # removed once the run finished
    np.testing.assert_array_equal(
        cnnzoo.load_model(out / "best.keras").get_weights()[0],
        cnnzoo.load_model(uninterrupted / "best.keras").get_weights()[0])


def _small_run(tmp_path, epochs=3, callbacks=(), lr=2e-3, images=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 16, 16, 1), dtype=np.uint8) if images is None else images
    labels = (np.arange(len(images)) % 2).astype(np.int64)
    train = data.Dataset("synthetic", "train", images, labels, 2, "test")
    model = cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2)
    config = TrainConfig(epochs=epochs, batch_size=16, lr=lr, optimizer="sgd", steps_per_execution=1)
    return fit(model, data.make_pipeline(train, 16, training=True), data.make_pipeline(train, 32, training=False),
               config, str(tmp_path / "run"), verbose=0, callbacks=callbacks)


class _PoisonAtEpoch(keras.callbacks.Callback):
    """Makes a weight NaN at the start of an epoch (a divergence, on demand)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.get_layer("predictions").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_a_nan_after_good_epochs_keeps_the_last_good_state_and_the_best_model(tmp_path):
    with pytest.raises(TrainingDivergedError) as e:
        _small_run(tmp_path, callbacks=[_PoisonAtEpoch(2)])
    message = str(e.value)
    state, best = tmp_path / "run" / "backup" / "epoch_0002", tmp_path / "run" / "best.keras"
    assert str(state) in message and str(best) in message and "Nothing was overwritten" in message
    assert state.is_dir() and json.loads((state / "state.json").read_text())["epoch"] == 2
    assert all(np.all(np.isfinite(w)) for w in cnnzoo.load_model(best).get_weights())
    assert not (tmp_path / "run" / "final.keras").exists()


def test_divergence_in_the_first_epoch_says_nothing_was_saved_yet(tmp_path):
    with pytest.raises(TrainingDivergedError, match="no epoch finished, so there is no saved state yet"):
        _small_run(tmp_path, callbacks=[_PoisonAtEpoch(0)])
    assert not (tmp_path / "run" / "best.keras").exists() and not (tmp_path / "run" / "final.keras").exists()


def test_non_finite_weights_with_a_finite_loss_are_a_divergence(tmp_path):
    from cnnzoo.training.run_state import RunState

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    state = RunState(str(tmp_path / "backup"), best_path=str(tmp_path / "best.keras"), monitor="loss")
    state.set_model(model)
    model.get_layer("out").bias.assign([np.inf])
    state.on_epoch_end(0, {"loss": 0.5})
    assert state.diverged == "the weights became NaN or infinite in epoch 1" and model.stop_training
    assert not (tmp_path / "backup").exists() and not (tmp_path / "best.keras").exists()


def test_nan_images_are_refused_by_name(tmp_path):
    images = np.random.default_rng(0).uniform(size=(64, 16, 16, 1)).astype("float32") * 255
    images[5, 3, 3, 0] = np.nan
    images[9, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 NaN or infinite values in 2 example\(s\), the first at index 5"):
        _small_run(tmp_path, images=images)
