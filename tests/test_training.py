"""The training engine: divergence, schedules, weight decay, the epoch-keyed pipeline."""

import dataclasses
import json
import os
import re

import keras
import numpy as np
import pytest
from helpers import write_mnist

import cnnzoo
from cnnzoo import data, training


def test_epoch_counter_gives_each_epoch_its_own_reproducible_order(tmp_path):
    write_mnist(tmp_path, n=64)
    ds = data.load_arrays("mnist", "train", data_dir=str(tmp_path))
    pipe = data.make_pipeline(ds, 64, training=True, seed=1, augment=("crop", "flip"))
    epoch0 = next(iter(pipe))[0].numpy()
    pipe.epoch_counter.set(1)
    epoch1 = next(iter(pipe))[0].numpy()
    pipe.epoch_counter.set(0)
    np.testing.assert_array_equal(next(iter(pipe))[0].numpy(), epoch0)
    assert not np.array_equal(epoch0, epoch1)


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("n", [48, 88])  # 6 steps an epoch: executions of 3; 11 steps: none divide it near 4
def test_each_epoch_trains_on_its_own_order_with_one_iterator(background, n, tmp_path, monkeypatch):
    """Executions ending with the epochs, one iterator of the repeated pipeline serves the whole run: the
    repeat restarts the pipeline when the next epoch's first batch is asked for, after on_epoch_begin has set
    the epoch, and background threads prefetch only within their epoch (the repeat is outside them). Every
    epoch trains on its own order. Not ending with them (below), fit makes one iterator an epoch
    (steps_per_epoch given to Keras), right after the previous epoch's last step, before on_epoch_begin sets
    the next order: tf.data starts drawing, background threads too, only when the first batch is asked for."""
    import tensorflow as tf

    write_mnist(tmp_path, n=n)
    ds = data.load_arrays("mnist", "train", data_dir=str(tmp_path))
    pipe = data.make_pipeline(ds, 8, training=True, seed=4, background=background)
    expected = []
    for epoch in range(3):
        pipe.epoch_counter.set(epoch)
        expected.append(np.concatenate([np.argmax(y, 1) for _, y in pipe]))
    pipe.epoch_counter.set(0)
    seen = []

    class Record(keras.layers.Layer):  # the label each training example carries in its last column, in order
        def call(self, x, training=False):
            if training:
                tf.py_function(lambda v: seen.append(v.numpy()), [x[:, -1]], [])
            return x[:, :-1]

    def label_column(x, y):
        return tf.concat([tf.reshape(x, [-1, 28 * 28]), tf.cast(tf.argmax(y, 1), tf.float32)[:, None]], 1), y

    labelled = pipe.map(label_column)
    labelled.epoch_counter = pipe.epoch_counter
    made, iterate = [], tf.data.Dataset.__iter__
    monkeypatch.setattr(tf.data.Dataset, "__iter__", lambda self: made.append(self) or iterate(self))
    model = keras.Sequential([keras.Input((28 * 28 + 1,)), Record(), keras.layers.Dense(10, activation="softmax")])
    config = training.TrainConfig(epochs=3, batch_size=8, lr=0.05, steps_per_execution=4)
    test = data.make_pipeline(ds, n, training=False).map(label_column)
    record = training.fit(model, labelled, test, config, str(tmp_path / "run"), verbose=0)
    np.testing.assert_array_equal(np.concatenate(seen), np.concatenate(expected))
    repeated = [d for d in made if d.cardinality() == tf.data.INFINITE_CARDINALITY]
    per_epoch = [d for d in made if d is labelled]
    if n == 48:
        assert record["steps_per_execution_used"] == 3 and len(repeated) == 1 and not per_epoch
    else:  # one an epoch (and one after the last), not two
        assert record["steps_per_execution_used"] == 4 and not repeated and 3 <= len(per_epoch) <= 3 + 1


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    # NaN images are now refused before training (make_pipeline names them; tests/test_run_state.py), so the
    # NaN loss comes from a learning rate far too large, the other way a run diverges.
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
    ds = data.Dataset("mnist", "train", images, np.arange(64) % 10, 10, "test")
    pipe = data.make_pipeline(ds, 16, training=True)
    model = cnnzoo.lenet5(input_shape=(28, 28, 1))
    with pytest.raises(training.TrainingDivergedError, match="NaN or infinite"):
        training.fit(model, pipe, pipe, training.TrainConfig(epochs=2, lr=1e10), str(tmp_path), verbose=0)


def test_schedules_and_weight_decay_exclusions():
    cosine = training.make_schedule("cosine", 0.1, epochs=10, steps_per_epoch=10, warmup_epochs=1)
    assert float(cosine(0)) == pytest.approx(0.01) and float(cosine(9)) == pytest.approx(0.1)
    assert float(cosine(99)) < 0.01
    step = training.make_schedule("step", 0.1, epochs=10, steps_per_epoch=10, milestones=(5, 8))
    # epoch 5's first step (step 50) already at 0.01, as PyTorch's MultiStepLR stepped every epoch
    assert [round(float(step(s)), 6) for s in (0, 49, 50, 79, 80)] == [0.1, 0.1, 0.01, 0.01, 0.001]
    warm = training.make_schedule("step", 0.1, epochs=10, steps_per_epoch=10, warmup_epochs=2, milestones=(5,))
    assert [round(float(warm(s)), 6) for s in (0, 19, 49, 50)] == [0.005, 0.1, 0.1, 0.01]
    with pytest.raises(ValueError, match="schedule.*Received: schedule='poly'"):
        training.make_schedule("poly", 0.1, 1, 1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    opt = training.make_optimizer("sgd", 0.1, weight_decay=0.5, nesterov=True)
    opt.build(model.trainable_variables)
    decayed = {v.name: opt._use_weight_decay(v) for v in model.trainable_variables}
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}
    with pytest.raises(ValueError, match="epochs.*Received: epochs=0"):
        training.TrainConfig(epochs=0)


@pytest.mark.slow
def test_googlenet_auxiliary_losses_are_weighted_and_ema_trains(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    ds = data.Dataset("cifar10", "train", images, rng.integers(0, 10, 32), 10, "test")
    pipe = data.make_pipeline(ds, 16, training=True)
    test = data.make_pipeline(ds, 16, training=False)
    import cnnzoo

    model = cnnzoo.googlenet(aux_logits=True, width=0.125, input_shape=(32, 32, 3), classes=10)
    config = training.TrainConfig(epochs=1, lr=1e-3, ema=True, aux_loss_weight=0.3)
    record = training.fit(model, pipe, test, config, str(tmp_path), verbose=0)
    h = record["history"]
    # the total loss is the main loss plus 0.3 x each auxiliary loss
    assert h["val_loss"][-1] == pytest.approx(h["val_main_loss"][-1] + 0.3 * (h["val_aux1_loss"][-1] + h["val_aux2_loss"][-1]), rel=1e-3)
    assert model.optimizer.use_ema
    assert record["final_test_accuracy"] is not None and "val_main_accuracy" in record["history"]


@pytest.mark.parametrize("n,used", [(56, 3), (64, 4)])
def test_steps_per_execution_trains_the_same_epochs(n, used, tmp_path):
    """7 steps an epoch have no divisor near 3: executions of 3, 3 and 1, an iterator an epoch; 8 steps: 2
    executions of 4 (the nearest divisor, ties to the larger), one iterator for the run. Every step runs once."""
    write_mnist(tmp_path, n=n)
    ds = data.load_arrays("mnist", "train", data_dir=str(tmp_path))
    pipe = data.make_pipeline(ds, 8, training=True)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    config = training.TrainConfig(epochs=2, batch_size=8, lr=0.05, steps_per_execution=3)
    record = training.fit(model, pipe, data.make_pipeline(ds, 32, training=False), config, str(tmp_path / "run"),
                          verbose=0)
    assert record["epochs_run"] == 2 and model.optimizer.iterations.numpy() == 2 * n // 8  # every step ran
    assert record["config"]["steps_per_execution"] == 3 and record["steps_per_execution_used"] == used


def test_steps_per_execution_moves_to_a_divisor_of_the_epoch():
    from cnnzoo.training.engine import steps_per_execution_for

    assert steps_per_execution_for(468, 32) == 36  # MNIST at batch 128: 13 executions, not 14 and a short one
    assert steps_per_execution_for(390, 32) == 30  # CIFAR
    assert steps_per_execution_for(8, 3) == 4 and steps_per_execution_for(7, 3) == 3  # a tie; no divisor
    assert steps_per_execution_for(5, 32) == 5 and steps_per_execution_for(97, 1) == 1
    assert steps_per_execution_for(1031, 32) == 32  # a prime: none within a factor of two
    assert steps_per_execution_for(5, 3) == 5  # within a factor of two: 5 of 3 (the nearest divisor is the epoch)
    with pytest.raises(ValueError, match="steps_per_execution must be a positive int. Received: steps_per_execution=0"):
        training.TrainConfig(steps_per_execution=0)


def test_saved_models_load_without_custom_objects(tmp_path):
    """best.keras / final.keras carry the warm-up schedule; keras.models.load_model reads them as saved."""
    write_mnist(tmp_path, n=32)
    ds = data.load_arrays("mnist", "train", data_dir=str(tmp_path))
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    config = training.TrainConfig(epochs=1, batch_size=8, optimizer="sgd", lr=0.1, warmup_epochs=0.5)
    training.fit(model, data.make_pipeline(ds, 8, training=True), data.make_pipeline(ds, 32, training=False), config,
                 str(tmp_path / "run"), verbose=0)
    for name in ("best.keras", "final.keras"):
        loaded = keras.models.load_model(str(tmp_path / "run" / name))
        schedule = loaded.optimizer._learning_rate
        assert type(schedule).__name__ == "WarmupSchedule" and schedule.warmup_steps == 2
        assert float(schedule(0)) == pytest.approx(0.05) and loaded.optimizer.iterations.numpy() == 4


def test_a_damaged_newest_state_resumes_from_the_one_before(tmp_path, capsys):
    """A run whose newest state is damaged (a half-written weights file, a truncated JSON) resumes from the
    one before, saying which it skipped, instead of failing (Keras's BackupAndRestore crashed on it)."""
    from cnnzoo.training.run_state import RunState

    x = np.random.default_rng(0).standard_normal((32, 4)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(32) % 2]

    def model():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
        return m

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt("killed")

    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        model().fit(x, y, epochs=3, verbose=0, callbacks=[RunState(str(backup)), Crash()])
    assert sorted(os.listdir(backup)) == ["epoch_0001", "epoch_0002"]
    (backup / "epoch_0002" / "state.weights.h5").write_bytes(b"half-written")
    state = RunState(str(backup))
    history = model().fit(x, y, epochs=3, verbose=0, callbacks=[state])
    assert len(history.history["loss"]) == 2 and len(state.history["loss"]) == 3  # resumed after epoch 1
    err = capsys.readouterr().err
    assert "skipping the damaged run state" in err and "epoch_0002" in err and "resuming after epoch 1" in err


def test_backend_defaults_follow_the_measurements():
    from cnnzoo.training import backend_defaults

    config = training.TrainConfig()
    assert config.jit_compile is None and config.steps_per_execution == 32
    tf_cfg = backend_defaults.resolve(config, "tensorflow")
    jax_cfg = backend_defaults.resolve(config, "jax")
    torch_cfg = backend_defaults.resolve(config, "torch")
    assert (tf_cfg.jit_compile, tf_cfg.steps_per_execution) == (False, 32)  # XLA slower on TF's CPU
    assert (jax_cfg.jit_compile, jax_cfg.steps_per_execution) == (True, 32)  # uncompiled JAX 3.6x slower
    assert (torch_cfg.jit_compile, torch_cfg.steps_per_execution) == (False, 1)  # Keras refuses > 1 on torch
    explicit = training.TrainConfig(jit_compile=False)
    assert backend_defaults.resolve(explicit, "jax").jit_compile is False  # a user's choice stays
    with pytest.raises(ValueError, match="jit_compile must be True, False or None"):
        training.TrainConfig(jit_compile="yes")


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_the_compiled_loss_is_the_label_smoothed_cross_entropy_in_closed_form(smoothing):
    """TrainConfig.label_smoothing reaches the loss: -sum(((1 - e) y + e / K) log p), K classes."""
    from cnnzoo.training.engine import compile_model

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    compile_model(model, training.TrainConfig(epochs=1, batch_size=2, label_smoothing=smoothing), steps_per_epoch=1)
    x = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0]], "float32")
    y = np.eye(3, dtype="float32")[[2, 0]]
    p = np.asarray(model(x))
    target = (1 - smoothing) * y + smoothing / 3
    expected = float(np.mean(-np.sum(target * np.log(p), axis=-1)))
    loss = float(model.compute_loss(x=x, y=y, y_pred=model(x)))
    assert loss == pytest.approx(expected, rel=1e-5)
    if smoothing:  # and it differs from the unsmoothed loss
        assert abs(loss - float(np.mean(-np.sum(y * np.log(p), axis=-1)))) > 1e-3



# ---- TrainConfig's checks at full strength (fast: what mutation testing runs against config.py) ----

@pytest.mark.keras_free
@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be a positive int. Received: epochs=0"),
    ("batch_size", -1, "batch_size must be a positive int. Received: batch_size=-1"),
    ("steps_per_execution", True, "steps_per_execution must be an int. Received: steps_per_execution=True"),
    ("epochs", 2.0, "epochs must be an int. Received: epochs=2.0"),
    ("seed", "0", "seed must be an int. Received: seed='0'"),
    ("lr", 0, "lr must be positive. Received: lr=0"),
    ("lr", float("inf"), "lr must be a finite number. Received: lr=inf"),
    ("lr", float("nan"), "lr must be a finite number. Received: lr=nan"),
    ("lr", "0.1", "lr must be a finite number. Received: lr='0.1'"),
    ("gamma", 0.0, "gamma must be positive. Received: gamma=0.0"),
    ("weight_decay", -1e-4, "weight_decay must be a number >= 0. Received: weight_decay=-0.0001"),
    ("weight_decay", True, "weight_decay must be a finite number. Received: weight_decay=True"),
    ("warmup_epochs", -0.5, "warmup_epochs must be a number >= 0. Received: warmup_epochs=-0.5"),
    ("label_smoothing", 1.0, "label_smoothing must be in [0, 1). Received: label_smoothing=1.0"),
    ("label_smoothing", -0.1, "label_smoothing must be in [0, 1). Received: label_smoothing=-0.1"),
    ("label_smoothing", "0.1", "label_smoothing must be a finite number. Received: label_smoothing='0.1'"),
    ("momentum", 1.0, "momentum must be in [0, 1). Received: momentum=1.0"),
    ("ema_momentum", -0.5, "ema_momentum must be in [0, 1). Received: ema_momentum=-0.5"),
    ("aux_loss_weight", -1, "aux_loss_weight must be a number >= 0 or None. Received: aux_loss_weight=-1"),
    ("aux_loss_weight", True, "aux_loss_weight must be a finite number or None. Received: aux_loss_weight=True"),
    ("nesterov", "no", "nesterov must be True or False. Received: nesterov='no'"),
    ("ema", 1, "ema must be True or False. Received: ema=1"),
    ("jit_compile", "yes", "jit_compile must be True, False or None. Received: jit_compile='yes'"),
    ("mixed_precision", 0, "mixed_precision must be True, False or None. Received: mixed_precision=0"),
    ("optimizer", "adam", "optimizer must be one of ('sgd', 'adamw'). Received: optimizer='adam'"),
    ("schedule", "poly", "schedule must be one of ('constant', 'cosine', 'step'). Received: schedule='poly'"),
    ("optimizer", None, "optimizer must be a str. Received: optimizer=None"),
    ("milestones", 30, "milestones must be a tuple. Received: milestones=30"),
    ("milestones", (30, 20), "milestones must be epochs > 0 in order. Received: milestones=(30, 20)"),
    ("milestones", (0, 20), "milestones must be epochs > 0 in order. Received: milestones=(0, 20)"),
    ("milestones", ("10",), "milestones must be epochs > 0 in order. Received: milestones=('10',)"),
])
def test_train_config_refuses_each_field_by_name_and_value(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        training.TrainConfig(**{field: value})


@pytest.mark.keras_free
def test_train_config_takes_the_edges_of_each_range_and_none_where_its_default_is_none():
    config = training.TrainConfig(epochs=1, batch_size=1, steps_per_execution=1, lr=1e-9, weight_decay=0,
                                  warmup_epochs=0, label_smoothing=0.0, momentum=0, ema_momentum=0.0, gamma=1e-9,
                                  aux_loss_weight=0, milestones=[1, 2.5, 2.5], jit_compile=True, mixed_precision=False)
    assert config.milestones == (1, 2.5, 2.5)  # a list from a recipe's CONFIG is kept as a tuple; a smoke run's
    # shortened schedule may put two milestones on one epoch
    assert training.TrainConfig(jit_compile=None, mixed_precision=None, aux_loss_weight=None).aux_loss_weight is None
    recipe = {"epochs": 3, "lr": 0.1, "name": "not a field", "classes": 10}
    assert training.TrainConfig.from_dict(recipe, lr=0.2) == training.TrainConfig(epochs=3, lr=0.2)


@pytest.mark.keras_free
def test_seed_everything_makes_every_random_source_repeat_and_asks_tensorflow_for_determinism_only_when_told(
        monkeypatch):
    import random

    import tensorflow as tf

    asked = []
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: asked.append(True))

    def draws():
        return (random.random(), float(np.random.random()),
                float(keras.ops.convert_to_numpy(keras.random.uniform((), seed=keras.random.SeedGenerator()))))

    training.seed_everything(3)
    first = draws()
    training.seed_everything(3)
    assert draws() == first
    training.seed_everything(4)
    assert all(a != b for a, b in zip(draws(), first))
    assert asked == []
    training.seed_everything(3, deterministic=True)
    assert asked == [True] and draws() == first


def test_the_default_verbosity_is_a_bar_on_a_terminal_and_a_line_per_epoch_in_a_file(monkeypatch):
    from cnnzoo.training.config import default_verbosity

    assert default_verbosity(0) == 0 and default_verbosity(1) == 1
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert default_verbosity() == 1 and default_verbosity(None) == 1
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert default_verbosity() == 2


# ---- the engine's record and files, by what each field means (what mutation testing runs against engine.py) ----

def _blobs(n=48, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = (rng.standard_normal((n, 4)) + 2.0 * np.eye(3, 4)[labels]).astype("float32")
    return x, labels


def _dense_model(name="blobs_net"):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")], name=name)


def test_the_results_record_says_what_the_run_did(tmp_path, monkeypatch):
    import json

    from cnnzoo.inspect import pictures
    from cnnzoo.training.engine import resolve

    drawn = []
    monkeypatch.setattr(pictures, "plot_curves", lambda *args, **kwargs: drawn.append((args, kwargs)))
    train, test = _blobs(48), _blobs(30, seed=1)
    model, out = _dense_model(), tmp_path / "run"
    config = training.TrainConfig(epochs=3, batch_size=8, lr=0.05, optimizer="sgd", schedule="constant")
    record = training.fit(model, train, test, config, str(out), dataset_info={"name": "blobs", "source": "/d"},
                          verbose=0, command="python train.py", identity={"recipe": {"name": "blobs"}})
    assert json.loads(json.dumps(record)) == json.loads((out / "results.json").read_text())
    # the folder records what decides the run, before its first step (cnnzoo.training.run_folder)
    from cnnzoo.training.engine import run_identity
    assert training.run_folder.read(str(out)) == json.loads(json.dumps(run_identity(
        model, resolve(config, model), train, test, {"name": "blobs"}, {"recipe": {"name": "blobs"}}), default=str))
    assert (record["model"], record["command"], record["dataset"]) == ("blobs_net", "python train.py",
                                                                         {"name": "blobs", "source": "/d"})
    resolved = resolve(config, model)
    assert record["config"] == dataclasses.asdict(resolved)
    assert record["precision_policy"] == "float32" and record["steps_per_execution_used"] == 6
    assert (record["epochs_run"], record["resumed_after_epoch"]) == (3, 0)
    accuracies = record["history"]["val_accuracy"]
    assert len(accuracies) == 3 and record["test_accuracy_per_epoch"] == accuracies
    assert record["final_test_accuracy"] == accuracies[-1] and record["best_test_accuracy"] == max(accuracies)
    assert record["monitor"] == "val_accuracy" and record["best_monitor_value"] == max(accuracies)
    assert record["best_epoch"] == accuracies.index(max(accuracies)) + 1
    assert len(record["history"]["loss"]) == 3 and set(record["history"]) >= {"loss", "accuracy", "val_loss"}
    times = record["epoch_wall_s"]
    assert len(times) == 3 and times == sorted(times) and 0 < times[-1] <= record["wall_time_s"] + 0.01
    assert record["train_examples_per_s"] == pytest.approx(3 * 6 * 8 / record["wall_time_s"], rel=0.05)
    assert record["environment"]["keras"] == keras.__version__
    assert model.optimizer.iterations.numpy() == 18
    # the curves: the whole history, the test accuracy under its own name, titled by the model
    assert drawn == [((record["history"] | {"val_accuracy": accuracies}, str(out / "curves.png")),
                      {"title": "blobs_net"})]
    assert sorted(os.listdir(out)) == ["best.keras", "final.keras", "log.csv", "results.json",
                                       "run.json"]  # the run's state removed once the run finished
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 4 and log[0].startswith("epoch,") and log[-1].startswith("2,")
    best = cnnzoo.load_model(out / "best.keras")
    x, y = test
    assert training.evaluate_accuracy(best, [(x, y)]) == pytest.approx(max(accuracies))


def test_fit_prints_nothing_at_verbose_zero_and_refuses_data_of_unknown_length_by_name(tmp_path, capsys):
    import tensorflow as tf

    train, test = _blobs(48), _blobs(30, seed=1)
    config = training.TrainConfig(epochs=1, batch_size=8, steps_per_execution=1)
    training.fit(_dense_model(), train, test, config, str(tmp_path / "quiet"), verbose=0)
    assert capsys.readouterr().out == ""  # no progress bar, no epoch line
    # the folder is this run's: another run is refused there unless told to overwrite, which keeps the old one aside
    other = dataclasses.replace(config, lr=0.5)
    with pytest.raises(training.run_folder.RunFolderError, match=r"\(train\.lr: 0\.001 there, 0\.5 now\)"):
        training.fit(_dense_model(), train, test, other, str(tmp_path / "quiet"), verbose=0)
    assert training.fit(_dense_model(), train, test, other, str(tmp_path / "quiet"), verbose=0,
                        overwrite=True)["config"]["lr"] == 0.5
    assert len([p for p in os.listdir(tmp_path) if p.startswith("quiet.old-")]) == 1
    unknown = tf.data.Dataset.from_tensor_slices(train).batch(8).filter(lambda x, y: True)
    with pytest.raises(ValueError, match=r"^train_ds must have a known, positive number of batches, or pass "
                                         r"steps_per_epoch\. Received: train_ds of unknown or infinite length "
                                         r"\(_FilterDataset\)$"):
        training.fit(_dense_model(), unknown, test, config, str(tmp_path / "unknown"), verbose=0)


def test_weights_that_become_non_finite_after_finite_step_losses_stop_the_run_as_a_divergence(tmp_path):
    class Poison(keras.callbacks.Callback):  # after the second epoch's last step: its loss was finite
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 12:
                self.model.layers[-1].kernel.assign(np.full((4, 3), np.nan, "float32"))

    config = training.TrainConfig(epochs=3, batch_size=8, lr=0.05, steps_per_execution=1)
    with pytest.raises(training.TrainingDivergedError) as e:
        training.fit(_dense_model(), _blobs(48), _blobs(30, seed=1), config, str(tmp_path), verbose=0,
                     callbacks=[Poison()])
    losses = re.search(r"losses of the finished epochs: \[([^\]]*)\]", str(e.value))[1].split(", ")
    # the poisoned weights give a NaN validation loss at the epoch's end: no training step's loss was
    assert str(e.value).startswith("Training stopped: the loss became NaN or infinite in epoch 2 (")
    assert len(losses) == 1 and np.isfinite(float(losses[0])) and "Received: lr=0.05" in str(e.value)
    assert f"the last good state is {tmp_path / 'backup' / 'epoch_0001'}, the best model" in str(e.value)


def test_a_users_pydataset_is_read_in_its_own_order_every_epoch(tmp_path):
    x, labels = _blobs(48)
    asked = []

    class Batches(keras.utils.PyDataset):  # the batch order is the user's (a PyDataset shuffles itself, or not)
        num_batches = 6

        def __len__(self):
            return 6

        def __getitem__(self, index):
            asked[-1].append(index)
            return x[8 * index:8 * index + 8], labels[8 * index:8 * index + 8]

        def on_epoch_begin(self):
            asked.append([])

    config = training.TrainConfig(epochs=2, batch_size=8, steps_per_execution=1)
    asked.append([])  # Keras reads a first batch or two for their structure before the first epoch
    record = training.fit(_dense_model(), Batches(), _blobs(30, seed=1), config, str(tmp_path), verbose=0)
    assert record["epochs_run"] == 2 and asked[-2:] == [list(range(6))] * 2, asked
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:  # asked for without the package: said before training
        assert "tensorboard" not in os.listdir(tmp_path) and record["config"]["tensorboard"] is False
        with pytest.raises(ValueError, match=r"^tensorboard=True needs the tensorboard package, which is not "
                                             r"installed \(pip install tensorboard\)\. Received: tensorboard=True$"):
            training.fit(_dense_model(), Batches(), _blobs(30, seed=1), dataclasses.replace(config, tensorboard=True),
                         str(tmp_path / "tb"), verbose=0)
    else:  # asked for, TensorBoard logs in the run's folder
        training.fit(_dense_model(), Batches(), _blobs(30, seed=1), dataclasses.replace(config, tensorboard=True),
                     str(tmp_path / "tb"), verbose=0)
        assert os.listdir(tmp_path / "tb" / "tensorboard")


def test_a_models_precision_and_auxiliary_weight_decide_the_resolved_config_of_its_run(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        model = keras.Model(inputs, {"main": keras.layers.Dense(3, activation="softmax", dtype="float32")(hidden),
                                     "aux1": keras.layers.Dense(3, activation="softmax", dtype="float32")(hidden)},
                            name="two_heads")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.aux_loss_weight = 0.5
    train, test = _blobs(48), _blobs(30, seed=1)
    record = training.fit(model, train, test, training.TrainConfig(epochs=1, batch_size=8), str(tmp_path), verbose=0)
    assert record["precision_policy"] == "mixed_bfloat16" and record["config"]["mixed_precision"] is True
    assert record["config"]["aux_loss_weight"] == 0.5 and record["epochs_run"] == 1
    assert len(record["test_accuracy_per_epoch"]) == 1 and 0.0 <= record["final_test_accuracy"] <= 1.0


def test_a_mirrored_strategy_runs_one_step_per_execution_and_synchronizes_batch_norm_when_asked(tmp_path):
    import tensorflow as tf

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.BatchNormalization()(inputs)))
    config = training.TrainConfig(epochs=1, batch_size=8, steps_per_execution=3, sync_batch_norm=True)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = keras.models.clone_model(model)
    record = training.fit(model, _blobs(48), _blobs(30, seed=1), config, str(tmp_path), verbose=0, strategy=strategy)
    assert record["steps_per_execution_used"] == 1  # Keras 3.15's multi-step loop fails under Mirrored strategies
    assert [layer.synchronized for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)] == [True]


def test_a_worker_that_is_not_the_chief_writes_only_in_a_folder_of_its_own(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    out = tmp_path / "run"
    config = training.TrainConfig(epochs=1, batch_size=8, lr=0.05)
    training.fit(_dense_model(), _blobs(16), _blobs(8), config, str(out), verbose=0)
    scratch = out / f"worker_{os.getpid()}"
    assert os.listdir(out) == [scratch.name]  # no run.json, no state, no best of the chief's
    assert {"final.keras", "results.json"} <= set(os.listdir(scratch)) and "best.keras" not in os.listdir(scratch)


def test_evaluate_accuracy_reads_one_hot_or_index_labels_and_the_main_output():
    model = _dense_model()
    x, labels = _blobs(30)
    predicted = np.argmax(model.predict(x, verbose=0), 1)
    expected = float(np.mean(predicted == labels))
    assert training.evaluate_accuracy(model, [(x[:20], labels[:20]), (x[20:], labels[20:])]) == pytest.approx(expected)
    assert training.evaluate_accuracy(model, [(x, np.eye(3)[labels])]) == pytest.approx(expected)
    inputs = keras.Input((4,))
    named = keras.Model(inputs, {"main": model(inputs), "aux1": keras.layers.Dense(3)(inputs)})
    assert training.evaluate_accuracy(named, [(x, labels)]) == pytest.approx(expected)
    assert training.evaluate_accuracy(model, []) == 0.0


def test_evaluate_accuracy_runs_the_model_in_inference_mode_and_counts_a_single_example():
    inputs = keras.Input((4,))
    norm = keras.layers.BatchNormalization()
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(norm(inputs)))
    x, labels = _blobs(30)
    # moving statistics far from the batch's: inference mode (them) and training mode (the batch's) differ
    norm.moving_mean.assign(np.full(4, 5.0, "float32"))
    norm.moving_variance.assign(np.full(4, 0.01, "float32"))
    inference = np.argmax(keras.ops.convert_to_numpy(model(x, training=False)), 1)
    assert not np.array_equal(inference, np.argmax(keras.ops.convert_to_numpy(model(x, training=True)), 1))
    assert training.evaluate_accuracy(model, [(x, labels)]) == pytest.approx(float(np.mean(inference == labels)))
    hit = int(inference[0] == labels[0])
    assert training.evaluate_accuracy(model, [(x[:1], labels[:1])]) == hit
    assert training.evaluate_accuracy(model, [(x[:1], np.array([(labels[0] + 1) % 3]))]) == 1 - hit


def test_the_nan_stop_remembers_that_it_stopped_the_run_and_the_divergence_says_what_was_kept(tmp_path):
    from types import SimpleNamespace

    from cnnzoo.training.engine import _diverged, _TerminateOnNaN

    model = _dense_model()
    model.stop_training = False
    stop = _TerminateOnNaN()
    stop.set_model(model)
    stop.on_batch_end(0, {"loss": 1.0})
    assert stop.stopped is False and not model.stop_training
    stop.on_batch_end(1, {"loss": float("nan")})
    assert stop.stopped is True and model.stop_training
    model.stop_training = False  # a later batch that is finite: it still stopped the run
    stop.on_batch_end(2, {"loss": 1.0})
    assert stop.stopped is True
    nothing = SimpleNamespace(diverged=None, last_good=None)
    assert str(_diverged(nothing, [], 0.1, str(tmp_path))) == (
        "Training stopped: the loss became NaN or infinite (losses of the finished epochs: []). Lower lr (Received: "
        "lr=0.1) or check the data. Nothing was overwritten: no epoch finished, so there is no saved state yet.")
    good = tmp_path / "backup" / "epoch_1"
    good.mkdir(parents=True)
    state = SimpleNamespace(diverged="the loss was nan at epoch 2", last_good=str(good))
    assert str(_diverged(state, [0.5], 0.1, str(tmp_path))).endswith(
        f"Nothing was overwritten: the last good state is {good}.")
    assert str(_diverged(state, [0.5], 0.1, str(tmp_path))).startswith(
        "Training stopped: the loss was nan at epoch 2 (losses of the finished epochs: [0.5]).")
    (tmp_path / "best.keras").write_bytes(b"")
    assert str(_diverged(state, [0.5], 0.1, str(tmp_path))).endswith(
        f"the last good state is {good}, the best model {tmp_path / 'best.keras'}.")


def test_time_to_accuracy_and_stop_at_accuracy_use_the_first_epoch_that_reaches_the_target():
    from cnnzoo.training.engine import StopAtAccuracy, time_to_accuracy

    record = {"epoch_wall_s": [1.0, 2.0, 3.0], "test_accuracy_per_epoch": [0.5, 0.9, 0.95]}
    assert time_to_accuracy(record, 0.9) == 2.0 and time_to_accuracy(record, 0.5) == 1.0
    assert time_to_accuracy(record, 0.96) is None
    model = _dense_model()
    model.stop_training = False
    stop = StopAtAccuracy(0.9)
    stop.set_model(model)
    stop.on_epoch_end(0, {"val_accuracy": 0.89})
    assert not model.stop_training
    stop.on_epoch_end(1, {"val_accuracy": 0.9})
    assert model.stop_training
    other = StopAtAccuracy(0.5, monitor="val_main_accuracy")
    other.set_model(_dense_model())
    other.model.stop_training = False
    other.on_epoch_end(0, {"val_accuracy": 0.99})
    assert not other.model.stop_training
    other.on_epoch_end(0, {})
    assert not other.model.stop_training


def test_the_auxiliary_loss_weight_is_the_familys_and_one_for_a_model_no_family_declares():
    from cnnzoo.training.engine import auxiliary_loss_weight, precision_policy, resolve

    assert auxiliary_loss_weight(_dense_model("googlenet")) == 0.3  # a .keras file of a registered model
    assert auxiliary_loss_weight(_dense_model("my_net")) == 1.0
    model = _dense_model("my_net")
    model.aux_loss_weight = 0.5
    assert auxiliary_loss_weight(model) == 0.5
    assert precision_policy(model) == "float32"
    assert resolve(training.TrainConfig(), model).mixed_precision is False
    assert resolve(training.TrainConfig(mixed_precision=True), model).mixed_precision is True
    assert resolve(training.TrainConfig(), model).aux_loss_weight is None  # one output: nothing to weigh


def test_a_run_monitored_by_a_loss_keeps_its_lowest_epoch_and_reports_no_accuracy(tmp_path, monkeypatch):
    """The engine follows its objective's direction (a detector's: the lowest validation loss), whatever the task."""
    from cnnzoo.inspect import pictures
    from cnnzoo.training import engine
    from cnnzoo.training.objectives import Objective

    drawn = []
    monkeypatch.setattr(pictures, "plot_curves", lambda history, *args, **kwargs: drawn.append(history))
    monkeypatch.setattr(engine, "objective_for",
                        lambda model, config: Objective(keras.losses.MeanSquaredError(), [], "val_loss", False, None))
    (x, labels), (tx, tlabels) = _blobs(48), _blobs(30, seed=1)
    train, test = (x, np.eye(3, dtype="float32")[labels]), (tx, np.eye(3, dtype="float32")[tlabels])
    config = training.TrainConfig(epochs=3, batch_size=8, lr=0.5, optimizer="sgd", schedule="constant")
    out = tmp_path / "run"
    record = training.fit(_dense_model(), train, test, config, str(out), verbose=0)
    losses = record["history"]["val_loss"]
    assert record["monitor"] == "val_loss" and record["best_monitor_value"] == min(losses)
    assert record["best_epoch"] == losses.index(min(losses)) + 1 and losses[-1] != max(losses)
    assert record["final_test_accuracy"] is None and record["best_test_accuracy"] is None
    assert record["test_accuracy_per_epoch"] == [] and drawn == [record["history"]]  # no accuracy curve drawn
    best = cnnzoo.load_model(out / "best.keras")
    assert float(keras.ops.mean(keras.losses.mean_squared_error(test[1], best.predict(tx, verbose=0)))) == \
        pytest.approx(min(losses), rel=1e-4)


def test_fit_prints_a_line_an_epoch_at_verbose_two(tmp_path, capsys):
    config = training.TrainConfig(epochs=2, batch_size=8, steps_per_execution=1)
    training.fit(_dense_model(), _blobs(16), _blobs(8, seed=1), config, str(tmp_path / "run"), verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "val_accuracy" in out


def test_tensorboard_logs_into_the_run_folder(tmp_path, monkeypatch):
    """With the package installed (pretended here: CI has none), TensorBoard writes under the run's folder."""
    import importlib.util

    made = []

    class Recorder(keras.callbacks.Callback):
        def __init__(self, log_dir):
            super().__init__()
            made.append(log_dir)

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "tensorboard"
                        else find_spec(name, *a))
    monkeypatch.setattr(keras.callbacks, "TensorBoard", Recorder)
    config = training.TrainConfig(epochs=1, batch_size=8, tensorboard=True)
    training.fit(_dense_model(), _blobs(16), _blobs(8, seed=1), config, str(tmp_path / "run"), verbose=0)
    assert made == [str(tmp_path / "run" / "tensorboard")]


def test_the_examples_per_second_are_the_runs_examples_over_its_wall_time(tmp_path, monkeypatch):
    import time as real_time

    from cnnzoo.training import engine

    class Clock:  # the engine's clock: 7 s a reading, so that the quotient is far from the product
        now = 0.0

        def perf_counter(self):
            Clock.now += 7.0
            return Clock.now

        def __getattr__(self, name):
            return getattr(real_time, name)

    monkeypatch.setattr(engine, "time", Clock())
    config = training.TrainConfig(epochs=2, batch_size=8, steps_per_execution=1)
    record = training.fit(_dense_model(), _blobs(48), _blobs(8, seed=1), config, str(tmp_path / "run"), verbose=0)
    assert record["wall_time_s"] >= 7.0
    assert record["train_examples_per_s"] == pytest.approx(2 * 6 * 8 / record["wall_time_s"], abs=0.05)


def test_a_pipeline_read_before_the_run_trains_epoch_k_on_epoch_ks_order(tmp_path):
    """A user may look at a pipeline before training (a pass moves its counter on by itself); the engine drives
    the counter, so the run's epochs read epochs 0, 1, ... all the same."""
    write_mnist(tmp_path, n=16)
    ds = data.load_arrays("mnist", "train", data_dir=str(tmp_path))
    pipe = data.make_pipeline(ds, 8, training=True, seed=4)
    for _ in pipe:  # a preview: epoch 0 read
        pass
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    config = training.TrainConfig(epochs=2, batch_size=8, steps_per_execution=1)
    training.fit(model, pipe, data.make_pipeline(ds, 8, training=False), config, str(tmp_path / "run"), verbose=0)
    assert int(pipe.epoch_counter.variable.numpy()) == 1  # the run's last epoch; by itself it would be at 2


def _two_headed_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, {"main": keras.layers.Dense(3, activation="softmax", name="main")(inputs),
                                "aux1": keras.layers.Dense(3, activation="softmax", name="aux1")(inputs)})


@pytest.mark.parametrize("ema", [True, False])
def test_compile_model_makes_the_configured_optimizer_schedule_weighted_losses_and_step(ema):
    from cnnzoo.training.engine import compile_model

    model = _two_headed_model()
    config = training.TrainConfig(epochs=4, lr=0.1, schedule="step", milestones=(2,), gamma=0.5, optimizer="sgd",
                                  momentum=0.8, nesterov=True, ema=ema, ema_momentum=0.95, aux_loss_weight=0.3,
                                  jit_compile=False, steps_per_execution=3)
    compile_model(model, config, steps_per_epoch=10)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov and optimizer.momentum == 0.8
    assert optimizer.use_ema is ema and (not ema or optimizer.ema_momentum == 0.95)
    rates = []
    for step in (0, 19, 20, 39):
        optimizer.iterations.assign(step)
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05])  # halved from epoch 2's first step (step 20)
    assert model.steps_per_execution == 3 and model.jit_compile is False
    x, labels = _blobs(12)
    y = np.eye(3, dtype="float32")[labels]
    logs = model.evaluate(x, {"main": y, "aux1": y}, return_dict=True, verbose=0)
    predicted = model.predict(x, verbose=0)
    main, aux = (float(np.mean(keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(y, predicted[k]))))
                 for k in ("main", "aux1"))
    assert logs["loss"] == pytest.approx(main + 0.3 * aux, rel=1e-5)  # the main head weighs 1, the other 0.3
    assert "main_accuracy" in logs and "aux1_accuracy" not in logs
    compile_model(model, dataclasses.replace(config, jit_compile=True), steps_per_epoch=10)
    assert model.jit_compile is True
    for jit in (True, False):  # a model of one output alike
        single = _dense_model()
        compile_model(single, dataclasses.replace(config, jit_compile=jit), steps_per_epoch=10)
        assert single.jit_compile is jit and single.steps_per_execution == 3
        assert isinstance(single.optimizer, keras.optimizers.SGD) and single.optimizer.use_ema is ema


def test_the_training_arrays_are_shuffled_from_the_configs_seed_and_the_test_arrays_are_not(tmp_path):
    """Two runs of one seed train alike, another seed otherwise; the test arrays are read in their order."""
    start = _dense_model()
    weights = start.get_weights()

    def run(seed, name):
        model = _dense_model()
        model.set_weights(weights)
        config = training.TrainConfig(epochs=1, batch_size=8, lr=0.5, optimizer="sgd", schedule="constant",
                                      seed=seed, steps_per_execution=1)
        training.fit(model, _blobs(48), _blobs(16, seed=1), config, str(tmp_path / name), verbose=0)
        return model.get_weights()

    first, again, other = run(1, "a"), run(1, "b"), run(2, "c")
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.allclose(a, b) for a, b in zip(first, other))
    unshuffled = _dense_model()
    unshuffled.set_weights(weights)
    x, labels = _blobs(48)
    unshuffled.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    unshuffled.fit(x, np.eye(3)[labels], batch_size=8, shuffle=False, epochs=1, verbose=0)
    assert not all(np.allclose(a, b) for a, b in zip(first, unshuffled.get_weights()))
    from cnnzoo.training import engine

    train_feed, test_feed = engine._feeds(_dense_model(), _blobs(48), _blobs(16, seed=1), resolve_config(),
                                          num_classes=3)
    order = np.concatenate([np.argmax(y, 1) for _, y in test_feed.data])
    np.testing.assert_array_equal(order, _blobs(16, seed=1)[1])


def resolve_config():
    return training.TrainConfig(batch_size=8)


@pytest.mark.parametrize("train_ds, test_ds, name", [("images", ([0.0], [0]), "train_ds"),
                                                     (([[0.0] * 4], [0]), 7, "test_ds")])
def test_fit_refuses_data_it_cannot_read_naming_the_argument(train_ds, test_ds, name, tmp_path):
    config = training.TrainConfig(epochs=1, batch_size=8)
    with pytest.raises(TypeError, match=rf"^{name} must be "):
        training.fit(_dense_model(), train_ds, test_ds, config, str(tmp_path / "run"), verbose=0)


def test_a_two_headed_run_reports_and_draws_its_main_heads_accuracy(tmp_path, monkeypatch):
    from cnnzoo.inspect import pictures

    drawn = []
    monkeypatch.setattr(pictures, "plot_curves", lambda history, *args, **kwargs: drawn.append(history))
    config = training.TrainConfig(epochs=2, batch_size=8, lr=0.05, aux_loss_weight=0.3, steps_per_execution=1)
    record = training.fit(_two_headed_model(), _blobs(16), _blobs(8, seed=1), config, str(tmp_path / "run"),
                          verbose=0)
    accuracies = record["history"]["val_main_accuracy"]
    assert record["monitor"] == "val_main_accuracy" and record["test_accuracy_per_epoch"] == accuracies
    assert drawn == [record["history"] | {"val_accuracy": accuracies}]  # drawn as the accuracy of the run
    assert record["config"]["aux_loss_weight"] == 0.3


_CACHED_FIT = """
import json, os, sys
import jax, numpy as np, keras
from cnnzoo import training
hits = []
jax.monitoring.register_event_listener(lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
y = np.eye(3, dtype="float32")[np.arange(16) % 3]
training.fit(model, (x, y), (x, y), training.TrainConfig(epochs=1, batch_size=8, lr=0.1), sys.argv[1], verbose=0)
print(json.dumps({"dir": jax.config.jax_compilation_cache_dir, "hits": len(hits)}))
"""


def test_a_second_jax_process_loads_the_compiled_steps_of_the_first(tmp_path):
    """`backend_defaults.use_compilation_cache`, as `fit` calls it: the first run's compiled steps land in
    ``$KERAS_HOME/cnnzoo/jax_compilation_cache`` and a second process running the same steps loads them (cache
    hits) instead of compiling them again."""
    import subprocess
    import sys

    pytest.importorskip("jax", reason="JAX is optional (make venv-jax installs it; CI does before make test)")

    env = dict(os.environ, KERAS_BACKEND="jax", KERAS_HOME=str(tmp_path / "keras_home"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")  # JAX keeps only compiles over 1 s by default
    env.pop("CNNZOO_COMPILATION_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    folder = str(tmp_path / "keras_home" / "cnnzoo" / "jax_compilation_cache")
    runs = []
    for k in range(2):
        out = subprocess.run([sys.executable, "-c", _CACHED_FIT, str(tmp_path / f"run{k}")], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert [r["dir"] for r in runs] == [folder, folder] and os.listdir(folder)
    assert runs[0]["hits"] == 0 and runs[1]["hits"] >= 3  # the training, evaluation and prediction steps at least


def test_the_compilation_cache_keeps_the_users_own_and_can_be_turned_off(monkeypatch, tmp_path):
    jax = pytest.importorskip("jax", reason="JAX is optional (make venv-jax installs it; CI does before make test)")
    from jax._src import compilation_cache

    from cnnzoo.training import backend_defaults

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("CNNZOO_COMPILATION_CACHE", raising=False)
    default = str(tmp_path / "cnnzoo" / "jax_compilation_cache")
    assert backend_defaults.compilation_cache_dir() == default
    for off in ("off", "0", "False", " no ", "", "none"):
        monkeypatch.setenv("CNNZOO_COMPILATION_CACHE", off)
        assert backend_defaults.compilation_cache_dir() is None, off
    monkeypatch.setenv("CNNZOO_COMPILATION_CACHE", "~/xla")
    assert backend_defaults.compilation_cache_dir() == os.path.expanduser("~/xla")
    assert backend_defaults.use_compilation_cache("tensorflow") is None
    assert backend_defaults.use_compilation_cache("torch") is None
    before = jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv("CNNZOO_COMPILATION_CACHE", "off")
        assert backend_defaults.use_compilation_cache("jax") is None and jax.config.jax_compilation_cache_dir is None
        monkeypatch.delenv("CNNZOO_COMPILATION_CACHE")
        jax.config.update("jax_enable_compilation_cache", False)  # JAX's own switch, turned off by the user
        assert backend_defaults.use_compilation_cache("jax") is None and jax.config.jax_compilation_cache_dir is None
        jax.config.update("jax_enable_compilation_cache", True)
        assert backend_defaults.use_compilation_cache("jax") == default == jax.config.jax_compilation_cache_dir
        assert os.path.isdir(default)
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))  # the user's own is kept
        assert backend_defaults.use_compilation_cache("jax") == str(tmp_path / "mine")
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
        (tmp_path / "home_file").write_text("")
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv("CNNZOO_COMPILATION_CACHE", str(tmp_path / "home_file" / "cache"))  # cannot be made
        with pytest.warns(UserWarning, match="CNNZOO_COMPILATION_CACHE.*writable folder"):
            assert backend_defaults.use_compilation_cache("jax") is None
        assert jax.config.jax_compilation_cache_dir is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_enable_compilation_cache", before[1])
        compilation_cache.reset_cache()
