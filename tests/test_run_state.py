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


# ---- the callback alone, epoch by epoch (fast: what mutation testing runs against run_state.py) ----

def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _epochs(state, model, logs_per_epoch, start=0):
    """Ends epochs ``start, start+1, ...`` with these logs, the bias set to the epoch's number first."""
    for epoch, logs in enumerate(logs_per_epoch, start):
        model.get_layer("out").bias.assign([float(epoch)])
        state.on_epoch_begin(epoch)
        state.on_epoch_end(epoch, logs)


def _bias(model):
    return float(np.asarray(model.get_layer("out").bias)[0])


def test_each_epoch_is_one_verified_folder_the_two_newest_kept_with_the_log_and_the_best(tmp_path):
    from cnnzoo.files import sha256
    from cnnzoo.training.run_state import RunState

    model, backup = _model(), tmp_path / "backup"
    state = RunState(str(backup), best_path=str(tmp_path / "best.keras"), log_path=str(tmp_path / "log.csv"))
    state.set_model(model)
    (backup / "epoch_0001.tmp-killed").mkdir(parents=True)  # a killed write of an earlier run
    _epochs(state, model, [{"loss": 0.9, "val_accuracy": 0.5}, {"loss": 0.7, "val_accuracy": 0.75},
                           {"loss": 0.5, "val_accuracy": 0.75}])
    assert sorted(os.listdir(backup)) == ["epoch_0002", "epoch_0003"]
    assert state.last_good == str(backup / "epoch_0003")
    saved = json.loads((backup / "epoch_0003" / "state.json").read_text())
    assert saved == {"epoch": 3, "history": {"loss": [0.9, 0.7, 0.5], "val_accuracy": [0.5, 0.75, 0.75]},
                     "best": 0.75, "best_epoch": 2, "weights_sha256": sha256(backup / "epoch_0003" / "state.weights.h5")}
    # the best is the first epoch to reach 0.75 (a tie does not replace it), with that epoch's weights
    assert (state.best, state.best_epoch) == (0.75, 2)
    assert float(np.asarray(cnnzoo.load_model(tmp_path / "best.keras").get_layer("out").bias)[0]) == 1.0
    assert (tmp_path / "log.csv").read_text() == "epoch,loss,val_accuracy\n0,0.9,0.5\n1,0.7,0.75\n2,0.5,0.75\n"


def test_a_loss_monitored_is_best_when_lowest(tmp_path):
    from cnnzoo.training.run_state import RunState

    model = _model()
    state = RunState(str(tmp_path / "backup"), best_path=str(tmp_path / "best.keras"), monitor="val_loss",
                     higher_is_better=False)
    state.set_model(model)
    _epochs(state, model, [{"val_loss": 0.5}, {"val_loss": 0.3}, {"val_loss": 0.3}])
    assert (state.best, state.best_epoch) == (0.3, 2)  # a tie does not replace the best
    assert float(np.asarray(cnnzoo.load_model(tmp_path / "best.keras").get_layer("out").bias)[0]) == 1.0


def test_without_the_monitored_metric_or_a_best_path_no_best_is_written(tmp_path):
    from cnnzoo.training.run_state import RunState

    model = _model()
    for kwargs in (dict(best_path=str(tmp_path / "best.keras")), dict(best_path=None, monitor="loss")):
        state = RunState(str(tmp_path / "backup"), **kwargs)
        state.set_model(model)
        _epochs(state, model, [{"loss": 0.5}])
        assert state.best is None and state.best_epoch is None and state.last_good
    assert not (tmp_path / "best.keras").exists()


def test_a_worker_that_is_not_the_chief_keeps_the_history_and_writes_nothing(tmp_path):
    from cnnzoo.training.run_state import RunState

    model = _model()
    state = RunState(str(tmp_path / "backup"), best_path=str(tmp_path / "best.keras"), chief=False)
    state.set_model(model)
    _epochs(state, model, [{"loss": 0.5, "val_accuracy": 0.9}])
    assert state.history == {"loss": [0.5], "val_accuracy": [0.9]} and state.best is None
    assert os.listdir(tmp_path) == []
    state.finish()
    (tmp_path / "backup").mkdir()
    state.finish()
    assert (tmp_path / "backup").is_dir()  # only the chief removes the state


def test_a_rerun_resumes_from_the_newest_state_that_verifies_and_skips_damaged_ones_by_name(tmp_path, capsys):
    from cnnzoo.training.run_state import RunState

    model, backup = _model(), tmp_path / "backup"
    first = RunState(str(backup), best_path=str(tmp_path / "best.keras"))
    first.set_model(model)
    _epochs(first, model, [{"val_accuracy": 0.5}, {"val_accuracy": 0.8}, {"val_accuracy": 0.6}])

    def resume():
        again, fresh = RunState(str(backup), best_path=str(tmp_path / "best.keras")), _model()
        again.set_model(fresh)
        again.on_train_begin()
        return again, fresh

    again, fresh = resume()
    assert (again.restored_epoch, _bias(fresh), fresh._initial_epoch) == (3, 2.0, 3)
    assert again.history == {"val_accuracy": [0.5, 0.8, 0.6]} and (again.best, again.best_epoch) == (0.8, 2)
    assert again.last_good == str(backup / "epoch_0003")
    assert f"resuming after epoch 3 from {backup / 'epoch_0003'}" in capsys.readouterr().err
    with open(backup / "epoch_0003" / "state.weights.h5", "ab") as f:
        f.write(b"\0")
    again, fresh = resume()
    assert (again.restored_epoch, _bias(fresh), again.last_good) == (2, 1.0, str(backup / "epoch_0002"))
    err = capsys.readouterr().err
    assert (f"skipping the damaged run state {backup / 'epoch_0003'} (ValueError: its weights file does not match "
            "the hash recorded beside it); trying the one before") in err
    (backup / "epoch_0002" / "state.json").write_text("{")
    again, fresh = resume()
    assert again.restored_epoch == 0 and again.history == {} and again.last_good is None and _bias(fresh) == 0.0
    assert f"no usable run state in {backup}: starting from the beginning" in capsys.readouterr().err
    # a rerun of an epoch whose folder a kill left in place replaces it
    _epochs(again, fresh, [{"val_accuracy": 0.9}], start=2)
    assert json.loads((backup / "epoch_0003" / "state.json").read_text())["history"] == {"val_accuracy": [0.9]}
    again.finish()
    assert not backup.exists()


def test_a_non_finite_loss_is_a_divergence_and_saves_nothing_of_that_epoch(tmp_path):
    from cnnzoo.training.run_state import RunState, weights_finite

    model = _model()
    state = RunState(str(tmp_path / "backup"), best_path=str(tmp_path / "best.keras"))
    state.set_model(model)
    _epochs(state, model, [{"loss": 0.5, "val_accuracy": 0.5}])
    assert state.diverged is None and not model.stop_training
    _epochs(state, model, [{"loss": float("inf"), "val_accuracy": 0.9}], start=1)
    assert state.diverged == "the loss became NaN or infinite in epoch 2" and model.stop_training
    assert state.history == {"loss": [0.5], "val_accuracy": [0.5]} and state.best == 0.5
    assert os.listdir(tmp_path / "backup") == ["epoch_0001"]
    # integer variables (a seed generator's state) are not weights that diverge
    assert weights_finite(keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5, seed=1)]))
    model.get_layer("out").kernel.assign(np.full((2, 1), np.nan, "float32"))
    assert not weights_finite(model)


def test_the_kill_points_name_the_run_the_epoch_and_each_write_in_order(tmp_path, monkeypatch):
    from cnnzoo.training import faults
    from cnnzoo.training.run_state import RunState

    points = []
    monkeypatch.setattr(faults, "maybe_kill", points.append)
    model = _model()
    state = RunState(str(tmp_path / "backup"), best_path=str(tmp_path / "best.keras"), monitor="loss",
                     higher_is_better=False)
    state.set_model(model)
    state.on_train_batch_end(0)
    _epochs(state, model, [{"loss": 0.5}, {"loss": 0.7}])
    state.on_train_batch_end(3)
    assert points == ["run:batch_end:0:0",
                      "run:best_written:0", "run:state_weights_written:0", "run:state_json_written:0",
                      "run:state_renamed:0",
                      "run:state_weights_written:1", "run:state_json_written:1", "run:state_renamed:1",
                      "run:batch_end:1:3"]


def test_a_key_missing_from_an_epochs_logs_leaves_its_cell_empty(tmp_path):
    from cnnzoo.training.run_state import RunState

    model = _model()
    state = RunState(str(tmp_path / "backup"), log_path=str(tmp_path / "log.csv"), monitor="loss")
    state.set_model(model)
    _epochs(state, model, [{"loss": 0.9}, {"loss": 0.5, "val_loss": 0.7}, {"loss": 0.25}])
    assert state.history == {"loss": [0.9, 0.5, 0.25], "val_loss": [None, 0.7, None]}
    assert (tmp_path / "log.csv").read_text() == "epoch,loss,val_loss\n0,0.9,\n1,0.5,0.7\n2,0.25,\n"


def test_the_state_is_written_inside_its_folder_and_resumes_the_optimizer_too(tmp_path, monkeypatch):
    import tempfile

    from cnnzoo.training.run_state import RunState

    elsewhere = tmp_path / "system_tmp"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))  # a rename from here would not be atomic
    model, backup = _model(), tmp_path / "backup"
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)  # a step: momentum that a resume must restore too
    model.optimizer.iterations.assign(7)
    state = RunState(str(backup), monitor="loss")
    state.set_model(model)
    (backup / "notes").mkdir(parents=True)  # not the state's: never read, never removed
    written, save_weights = [], model.save_weights
    model.save_weights = lambda path: (written.append(path), save_weights(path))
    _epochs(state, model, [{"loss": 0.5}, {"loss": 0.4}, {"loss": 0.3}])
    del model.save_weights
    # each epoch's weights go to a temporary folder beside the states, named so that a killed write is recognized
    assert [os.path.dirname(os.path.dirname(p)) for p in written] == [str(backup)] * 3
    assert [os.path.basename(os.path.dirname(p))[:15] for p in written] == [
        "epoch_0001.tmp-", "epoch_0002.tmp-", "epoch_0003.tmp-"]
    assert os.listdir(elsewhere) == [] and sorted(os.listdir(backup)) == ["epoch_0002", "epoch_0003", "notes"]
    fresh = _model()
    fresh.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    assert not fresh.optimizer.built
    again = RunState(str(backup), monitor="loss")
    again.set_model(fresh)
    again.on_train_begin()
    assert again.restored_epoch == 3 and int(fresh.optimizer.iterations.numpy()) == 7
    momentum = [np.asarray(v) for v in model.optimizer.variables if "momentum" in v.path]
    assert momentum and np.any(momentum[0] != 0)
    for saved, restored in zip(momentum, [np.asarray(v) for v in fresh.optimizer.variables if "momentum" in v.path]):
        np.testing.assert_array_equal(restored, saved)
    # the model that wrote it resumes in place too, its optimizer built already (fit called again in a notebook
    # after an interrupt): its slots are loaded as they are, not made a second time
    model.optimizer.iterations.assign(0)
    for slot in model.optimizer.momentums:
        slot.assign(np.zeros(slot.shape, "float32"))
    in_place = RunState(str(backup), monitor="loss")
    in_place.set_model(model)
    in_place.on_train_begin()
    assert in_place.restored_epoch == 3 and int(model.optimizer.iterations.numpy()) == 7
    for saved, restored in zip(momentum, model.optimizer.momentums, strict=True):  # the slots the next step reads
        np.testing.assert_array_equal(np.asarray(restored), saved)


def test_a_write_a_kill_left_half_done_is_neither_resumed_from_nor_reported(tmp_path, capsys):
    from cnnzoo.training.run_state import RunState

    model, backup = _model(), tmp_path / "backup"
    state = RunState(str(backup), monitor="loss")
    state.set_model(model)
    _epochs(state, model, [{"loss": 0.5}, {"loss": 0.4}])
    killed = backup / "epoch_0003.tmp-abc123"
    killed.mkdir()
    (killed / "state.weights.h5").write_bytes(b"half")
    capsys.readouterr()
    again, fresh = RunState(str(backup), monitor="loss"), _model()
    again.set_model(fresh)
    again.on_train_begin()
    assert again.restored_epoch == 2 and _bias(fresh) == 1.0
    assert "skipping" not in capsys.readouterr().err
    _epochs(again, fresh, [{"loss": 0.3}], start=2)  # the next save clears the leftover, and only it
    assert sorted(os.listdir(backup)) == ["epoch_0002", "epoch_0003"]


def test_a_failed_write_leaves_no_temporary_folder_and_stray_files_never_fail_a_save(tmp_path):
    from cnnzoo.training.run_state import RunState

    model, backup = _model(), tmp_path / "backup"
    state = RunState(str(backup), monitor="loss")
    state.set_model(model)
    _epochs(state, model, [{"loss": 0.5}])
    model.save_weights = lambda path: (open(path, "w").close(), (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        _epochs(state, model, [{"loss": 0.4}], start=1)
    assert os.listdir(backup) == ["epoch_0001"] and state.last_good == str(backup / "epoch_0001")
    del model.save_weights
    (backup / "epoch_0000.tmp-stray").write_text("a file, not a folder")
    (backup / "epoch_0000").write_text("a file named like a state")
    _epochs(state, model, [{"loss": 0.4}, {"loss": 0.3}], start=1)
    assert {"epoch_0002", "epoch_0003"} <= set(os.listdir(backup))
