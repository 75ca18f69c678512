"""The engine every recipe shares: a thin layer over ``model.fit``.

Keras does most of the work (TerminateOnNaN, optional TensorBoard); the run's
state (resume after a crash, best checkpoint, log.csv) is cnnzoo's `RunState`,
one verified atomic unit per epoch that a divergence never overwrites. This
module wires them up, seeds everything, and writes the results JSON and the
training-curves PNG every run leaves behind.
"""

import dataclasses
import importlib.util
import os
import time

import keras
import numpy as np

from cnnzoo import backends, compat, registry
from cnnzoo.files import atomic_model_save
from cnnzoo.inspect import pictures
from cnnzoo.training import backend_defaults, faults, inputs, results, run_folder
from cnnzoo.training.config import TrainConfig, default_verbosity  # noqa: F401  (TrainConfig: imported from here too)
from cnnzoo.training.objectives import has_named_outputs, objective_for  # noqa: F401  (has_named_outputs: here too)
from cnnzoo.training.optim import make_optimizer
from cnnzoo.training.run_state import RunState
from cnnzoo.training.schedules import make_schedule


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed, deterministic=False):
    """Seeds Python, NumPy, TensorFlow and Keras; optionally TF op determinism."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds since training began, at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.times = []

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(round(time.perf_counter() - self.start, 2))


class _TerminateOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras's TerminateOnNaN, remembering that it stopped the run (other callbacks may stop it too)."""

    stopped = False

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        self.stopped = self.stopped or bool(self.model.stop_training)


class StopAtAccuracy(keras.callbacks.Callback):
    """Stops training at the end of the first epoch whose test accuracy reaches ``target``."""

    def __init__(self, target, monitor="val_accuracy"):
        super().__init__()
        self.target, self.monitor = target, monitor

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get(self.monitor, 0.0) >= self.target:
            self.model.stop_training = True


def time_to_accuracy(record, target):
    """Seconds of training until the test accuracy first reached ``target`` (None if never)."""
    for seconds, accuracy in zip(record["epoch_wall_s"], record["test_accuracy_per_epoch"]):
        if accuracy >= target:
            return seconds
    return None


def steps_per_execution_for(steps_per_epoch, wanted):
    """``wanted`` steps per execution, moved to the nearest divisor of ``steps_per_epoch`` within a factor of
    two (ties: the larger), or ``wanted`` when none is.

    Whole executions then end every epoch, and one iterator of the repeated
    dataset can serve the whole run: given a finite dataset Keras makes a new
    iterator every epoch (~25 ms for a recipe's pipeline, 1% of an MNIST
    epoch), and given an endless one it runs an epoch's last execution past its
    end. The arithmetic is the same either way; only how often Python calls the
    compiled step changes (MNIST's 468 steps: 36 instead of 32).
    """
    if steps_per_epoch <= wanted:
        return steps_per_epoch
    near = [d for d in range(-(-wanted // 2), 2 * wanted + 1) if steps_per_epoch % d == 0]
    return min(near, key=lambda d: (abs(d - wanted), -d)) if near else wanted


def resolve(config, model=None):
    """``config`` with every default that depends on where it runs filled in, once: the backend's
    (`backend_defaults.resolve`: compiled step, steps per execution) and the model's (the auxiliary
    loss weight its family declares, for a model with auxiliary outputs). `fit` and `compile_model`
    take what this returns as it is.
    """
    if config.mixed_precision is None and model is not None:  # a built model's precision is what it is
        config = dataclasses.replace(config, mixed_precision=precision_policy(model) != "float32")
    config = backend_defaults.resolve(config)
    if config.aux_loss_weight is None and model is not None and has_named_outputs(model):
        config = dataclasses.replace(config, aux_loss_weight=auxiliary_loss_weight(model))
    return config


def precision_policy(model):
    """The name of the dtype policy ``model`` computes in (``"float32"``, ``"mixed_bfloat16"``...)."""
    policy = getattr(model, "dtype_policy", None)
    return getattr(policy, "name", None) or keras.mixed_precision.global_policy().name


def auxiliary_loss_weight(model):
    """The loss weight of a model's auxiliary outputs, as its family declares it (GoogLeNet: the paper's 0.3).

    Read from the built model, else from the registry by the model's name (a ``.keras`` file of a
    registered model); a model no family declares weighs every output alike (1, Keras's default).
    """
    weight = getattr(model, "aux_loss_weight", None)
    if weight is None:
        info = registry.find_info(model.name)
        weight = info.aux_loss_weight if info is not None else None
    return 1.0 if weight is None else weight


def compile_model(model, config, steps_per_epoch):
    """Compiles ``model`` for its task (`objectives.objective_for`: classification or detection) with
    ``config``, as `resolve` returns it.

    ``config.steps_per_execution`` is used as it is (`fit` has already moved it to fit the epoch).
    """
    config = resolve(config, model)  # a no-op for a resolved config
    spe = config.steps_per_execution
    schedule = make_schedule(
        config.schedule, config.lr, config.epochs, steps_per_epoch, config.warmup_epochs,
        config.milestones, config.gamma,
    )
    optimizer = make_optimizer(config.optimizer, schedule, config.weight_decay, config.momentum, config.nesterov,
                               ema_momentum=config.ema_momentum if config.ema else None)
    objective = objective_for(model, config)
    loss = objective.loss
    if has_named_outputs(model):  # GoogLeNet with auxiliary heads
        losses = {k: loss for k in model.output}
        weights = {k: 1.0 if k == "main" else config.aux_loss_weight for k in model.output}
        metrics = {"main": ["accuracy"]}
        model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics,
                      jit_compile=config.jit_compile, steps_per_execution=spe)
    else:
        model.compile(optimizer=optimizer, loss=loss, metrics=objective.metrics, jit_compile=config.jit_compile,
                      steps_per_execution=spe)
    return model


def fit(model, train_ds, test_ds, config, out_dir, dataset_info=None, steps_per_epoch=None, verbose=None,
        command=None, strategy=None, callbacks=(), identity=None, overwrite=False):
    """Trains ``model`` and writes everything a run leaves in ``out_dir``.

    ``out_dir`` receives ``backup/`` (`RunState`: one verified, atomically
    written state per finished epoch; re-running the same command after a
    crash resumes from the last finished epoch, and the folder is removed when
    the run has finished), ``best.keras``, ``final.keras``, ``log.csv``,
    ``results.json`` (the whole run's history, resumed epochs included) and
    ``curves.png``. A loss or weights that become NaN or infinite stop the run
    with `TrainingDivergedError`; nothing saved before is overwritten.

    ``config.steps_per_execution`` moves to a divisor of the epoch's steps near
    it (`steps_per_execution_for`; ``steps_per_execution_used`` in the results),
    so that one iterator of the repeated ``train_ds`` serves the whole run.

    ``train_ds`` and ``test_ds``: each a ``tf.data.Dataset`` of ``(x, y)`` batches,
    an ``(x, y)`` tuple of arrays (batched with ``config.batch_size``, the
    training arrays shuffled every epoch) or a ``keras.utils.PyDataset``; labels
    one-hot or integer class indices (`cnnzoo.training.inputs`).

    ``callbacks`` are Keras callbacks of the caller's, run after the engine's own. ``verbose``: as
    ``model.fit``'s; None (the default) is a progress bar in a terminal, one line per epoch otherwise.

    ``out_dir`` knows what made it (`cnnzoo.training.run_folder`): the run's identity (the resolved
    config, the model's name and architecture, the data's fingerprints, ``dataset_info`` and the
    caller's ``identity`` dict) is recorded in ``run.json`` before the first step; a folder holding a run
    of other settings is refused (`RunFolderError`, naming the keys that differ) unless ``overwrite``,
    which moves the old run aside.

    Returns:
        The results record (also in ``results.json``).

    Raises:
        TrainingDivergedError: the loss became NaN or infinite.
        RunFolderError: ``out_dir`` holds a run made with other settings.
    """
    from cnnzoo.training import distribute

    config = resolve(config, model)  # compiled step and steps per execution for this backend, the model's defaults
    backend_defaults.use_compilation_cache()  # JAX: a resumed or repeated run loads its compiled step
    strategy = strategy or distribute.default_strategy()
    chief = distribute.is_chief()
    # Only the chief writes: the others log into a scratch folder of their own.
    write_dir = out_dir if chief else os.path.join(out_dir, f"worker_{os.getpid()}")
    if chief:
        run_folder.claim(out_dir, run_identity(model, config, train_ds, test_ds, dataset_info, identity),
                         overwrite=overwrite)
    os.makedirs(write_dir, exist_ok=True)
    objective = objective_for(model, config)
    feeds = _feeds(model, train_ds, test_ds, config, objective.num_classes)
    steps_per_epoch = steps_per_epoch or feeds[0].steps
    if not steps_per_epoch:
        raise ValueError("train_ds must have a known, positive number of batches, or pass steps_per_epoch. "
                         f"Received: train_ds of unknown or infinite length ({type(train_ds).__name__})")
    # Keras 3.15's multi-step loop fails under Mirrored/MultiWorkerMirrored strategies ("You must
    # feed a value for placeholder tensor ... while/cond"): one step per execution there.
    distributed = distribute.is_tf_mirrored(strategy)
    spe = 1 if distributed else steps_per_execution_for(steps_per_epoch, config.steps_per_execution)
    with strategy.scope():
        if config.sync_batch_norm:
            distribute.synchronize_batch_norm(model)
        compile_model(model, dataclasses.replace(config, steps_per_execution=spe), steps_per_epoch)
    accuracy_key = objective.monitor if objective.higher_is_better else None
    # When executions end with the epochs, one iterator of the repeated dataset serves the run. The repeat
    # restarts the pipeline at an epoch's first batch, after on_epoch_begin has set the epoch; a pipeline
    # with background threads prefetches within its epoch only (the repeat is outside it).
    one_iterator = feeds[0].repeatable and steps_per_epoch % spe == 0
    timer, nan_stop = EpochTimer(), _TerminateOnNaN()
    run_name = os.path.basename(os.path.normpath(out_dir))
    state = RunState(os.path.join(out_dir, "backup"), best_path=os.path.join(write_dir, "best.keras"),
                     monitor=objective.monitor, higher_is_better=objective.higher_is_better, chief=chief,
                     name=run_name, log_path=os.path.join(write_dir, "log.csv"))
    callbacks = _callbacks([timer, nan_stop, state], train_ds, config, write_dir, run_name, callbacks,
                           feed=feeds[0].data)
    # Keras 3.15's BackupAndRestore resumes by setting the private model._initial_epoch, which outlives
    # that fit: a later fit of the same model (fine-tuning's second phase after a resumed first) would
    # start at the restored epoch. Cleared here; this fit's own BackupAndRestore sets it again if needed.
    compat.set_initial_epoch(model, None)
    start = time.perf_counter()
    # steps_per_epoch given, Keras makes one iterator an epoch (~25 ms for a recipe's pipeline), not two; or one
    # for the whole run, of the repeated dataset
    with backends.constants_on_host():  # JAX: the optimizer's zero slots without a compiled program per shape
        history = model.fit(feeds[0].data.repeat() if one_iterator else feeds[0].data, validation_data=feeds[1].data,
                            epochs=config.epochs, callbacks=callbacks, steps_per_epoch=steps_per_epoch,
                            verbose=default_verbosity(verbose),
                            shuffle=False)  # the feeds are shuffled already (Keras warns on shuffle=True with tf.data)
    wall = time.perf_counter() - start
    # The whole run's history, resumed epochs included (Keras's covers only this process's epochs).
    hist = {k: list(v) for k, v in state.history.items()}
    losses = hist.get("loss", [])
    if state.diverged or nan_stop.stopped:  # a caller's callback may stop early without a divergence
        raise _diverged(state, losses, config.lr, write_dir)
    atomic_model_save(model, os.path.join(write_dir, "final.keras"))
    accuracies = hist.get(accuracy_key, []) if accuracy_key else []
    examples = steps_per_epoch * config.batch_size * len(history.history.get("loss", []))  # this process's epochs
    record = {
        "model": model.name, "command": command, "config": dataclasses.asdict(config), "dataset": dataset_info or {},
        "precision_policy": precision_policy(model),
        "epochs_run": len(losses), "resumed_after_epoch": state.restored_epoch, "wall_time_s": round(wall, 2),
        "train_examples_per_s": round(examples / wall, 1), "steps_per_execution_used": spe,
        "final_test_accuracy": accuracies[-1] if accuracies else None,
        "best_test_accuracy": max(accuracies) if accuracies else None, "history": hist, "epoch_wall_s": timer.times,
        "test_accuracy_per_epoch": accuracies, "monitor": objective.monitor, "best_monitor_value": state.best,
        "best_epoch": state.best_epoch, "environment": results.environment(),
    }
    results.write_json(os.path.join(write_dir, "results.json"), record)
    pictures.plot_curves(hist | ({"val_accuracy": accuracies} if accuracies else {}),
                         os.path.join(write_dir, "curves.png"), title=model.name)
    state.finish()  # final.keras and results.json are in place: the run's state has served
    return record


def run_identity(model, config, train_ds, test_ds, dataset_info=None, extra=None):
    """What decides a run of `fit` (`cnnzoo.training.run_folder`): the model's name and architecture, the
    resolved config's deciding fields, the data (fingerprints, and ``dataset_info`` but where it was read
    from) and the caller's ``extra`` keys.
    """
    data = {"train": run_folder.data_identity(train_ds), "test": run_folder.data_identity(test_ds)}
    if dataset_info:
        data["info"] = run_folder.deciding(dataset_info, leave_out=("source", "strategy", "replicas"))
    return {"model": model.name, "architecture": run_folder.architecture_fingerprint(model),
            "train": run_folder.deciding(dataclasses.asdict(config)), "data": data, **(extra or {})}


def _feeds(model, train_ds, test_ds, config, num_classes):
    """The training and test data as `inputs.Feed`s labelled for ``model`` (one-hot, named outputs)."""
    keys = list(model.output) if has_named_outputs(model) else None
    return [inputs.adapt(d, name, batch_size=config.batch_size, num_classes=num_classes, output_keys=keys,
                         training=name == "train_ds", seed=config.seed)
            for d, name in ((train_ds, "train_ds"), (test_ds, "test_ds"))]


def _callbacks(engine_callbacks, train_ds, config, write_dir, run_name, callers, feed=None):
    """The engine's callbacks (epoch counter, timer, NaN stop, run state, TensorBoard), then the caller's,
    then the crash tests' kill points (after everything an epoch writes).
    """
    counter = getattr(train_ds, "epoch_counter", None)
    callbacks = ([counter.callback()] if counter is not None else []) + list(engine_callbacks)
    if hasattr(feed, "epoch_callback"):  # arrays on JAX / PyTorch: each epoch's order from (seed, epoch)
        callbacks.insert(0, feed.epoch_callback())
    if config.tensorboard:
        if importlib.util.find_spec("tensorboard") is None:  # Keras's callback would fail at the first epoch's end
            raise ValueError("tensorboard=True needs the tensorboard package, which is not installed (pip install "
                             "tensorboard). Received: tensorboard=True")
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(write_dir, "tensorboard")))
    callbacks += list(callers)
    if os.environ.get(faults.ENV):
        callbacks.append(faults.KillAtEpochEnd(run_name))
    return callbacks


def _diverged(state, losses, lr, write_dir):
    """The `TrainingDivergedError` of a run stopped by a NaN: what happened and what was kept."""
    kept = [p for p in (state.last_good, os.path.join(write_dir, "best.keras")) if p and os.path.exists(p)]
    return TrainingDivergedError(
        f"Training stopped: {state.diverged or 'the loss became NaN or infinite'} (losses of the finished "
        f"epochs: {losses}). Lower lr (Received: lr={lr}) or check the data. Nothing was overwritten: "
        + (f"the last good state is {kept[0]}" + (f", the best model {kept[1]}" if len(kept) > 1 else "")
           if kept else "no epoch finished, so there is no saved state yet") + "."
    )


def evaluate_accuracy(model, ds):
    """Top-1 accuracy of ``model`` on a batched dataset of one-hot or integer labels."""
    correct = total = 0
    for x, y in ds:
        pred = model(x, training=False)
        if isinstance(pred, dict):
            pred = pred["main"]
        labels = np.argmax(y, axis=-1) if len(y.shape) > 1 else np.asarray(y)
        correct += int(np.sum(np.argmax(pred, axis=-1) == labels))
        total += len(labels)
    return correct / max(total, 1)
