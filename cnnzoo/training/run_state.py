"""A run's state as one atomic unit per finished epoch, and a best checkpoint that never holds a diverged model.

`RunState` replaces Keras's BackupAndRestore and ModelCheckpoint in the engine.
After every finished epoch it writes ``backup/epoch_NNNN/``: ``state.weights.h5``
(the model's variables and the optimizer's, with Keras's own ``save_weights``)
and ``state.json`` (the epochs finished, the whole history so far, the best
metric and the weights file's SHA-256). The folder is written under a
temporary name and renamed into place, so it is either complete or absent;
the two newest are kept. On a rerun the newest folder that verifies (its JSON
reads, its hash matches) is restored; a damaged one is skipped with a message
naming it, and the one before is used. So a kill at any point resumes the run
from a finished epoch, and with the stateless pipelines the resumed run ends
with the same weights as an uninterrupted one (tests/test_run_state.py kills
it at every write).

Divergence: an epoch whose loss or weights are not finite is never saved,
neither as state nor as best; training stops and the engine raises, naming the
last good state. ``best.keras`` is written (temporary name, rename) before the
epoch's state, only for finite weights whose metric beats the best recorded
in the state, so a resumed run keeps the best of the whole run.
"""

import json
import math
import os
import shutil
import sys
import tempfile

import keras
import numpy as np

from cnnzoo import compat
from cnnzoo.files import atomic_model_save, atomic_write_text, sha256
from cnnzoo.training import faults

KEEP = 2


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def weights_finite(model):
    """True when every variable of the model is finite (integer ones, a seed generator's state, always are)."""
    return all(np.all(np.isfinite(np.asarray(v))) for v in model.weights)


def _remove(path):
    """Removes a folder of the run's state; one that cannot be removed is left, never failing the run."""
    shutil.rmtree(path, ignore_errors=True)


class RunState(keras.callbacks.Callback):
    """Saves and restores a run's state every epoch (see the module docstring).

    Args:
        folder: the state folder (``<out>/backup``).
        best_path: where the best model goes (``<out>/best.keras``), or None.
        monitor: the metric that decides the best.
        higher_is_better: whether a larger ``monitor`` is better (accuracy; a loss is not). Defaults to `True`.
        chief: whether this process writes (on a cluster, only the chief does).
        name: the run's name in fault-injection points (the out folder's name).
    """

    def __init__(self, folder, best_path=None, monitor="val_accuracy", chief=True, name="run", log_path=None,
                 higher_is_better=True):
        super().__init__()
        self.folder, self.best_path, self.monitor, self.chief, self.name = folder, best_path, monitor, chief, name
        self.higher_is_better = higher_is_better
        self.log_path = log_path
        self.history, self.best, self.best_epoch = {}, None, None
        self.restored_epoch, self.diverged, self.last_good = 0, None, None

    # ---- reading ----

    def _candidates(self):
        if not os.path.isdir(self.folder):
            return []
        names = sorted((n for n in os.listdir(self.folder) if n.startswith("epoch_") and "." not in n), reverse=True)
        return [os.path.join(self.folder, n) for n in names]

    @staticmethod
    def _read(path):
        with open(os.path.join(path, "state.json")) as f:
            state = json.load(f)
        weights = os.path.join(path, "state.weights.h5")
        if sha256(weights) != state["weights_sha256"]:
            raise ValueError("its weights file does not match the hash recorded beside it")
        return state, weights

    def on_train_begin(self, logs=None):
        model = self.model
        for path in self._candidates():
            try:
                state, weights = self._read(path)
                if model.optimizer is not None and not model.optimizer.built:  # else its slots (momentum, Adam's
                    model.optimizer.build(model.trainable_variables)  # moments) are not loaded: resume is not exact
                model.load_weights(weights)
            except Exception as e:  # any damage: this one cannot be used, the one before may
                print(f"cnnzoo: skipping the damaged run state {path} ({type(e).__name__}: {e}); "
                      "trying the one before", file=sys.stderr, flush=True)
                continue
            self.history = {k: list(v) for k, v in state["history"].items()}
            self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
            self.restored_epoch = state["epoch"]
            self.last_good = path
            compat.set_initial_epoch(model, state["epoch"])  # how Keras's own BackupAndRestore resumes
            print(f"cnnzoo: resuming after epoch {state['epoch']} from {path}", file=sys.stderr, flush=True)
            return
        if self._candidates():
            print(f"cnnzoo: no usable run state in {self.folder}: starting from the beginning", file=sys.stderr,
                  flush=True)

    # ---- writing ----

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        faults.maybe_kill(f"{self.name}:batch_end:{getattr(self, '_epoch', 0)}:{batch}")

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        values = [v for v in logs.values() if isinstance(v, (int, float))]
        if not all(math.isfinite(v) for v in values) or not weights_finite(self.model):
            what = "the loss" if not all(math.isfinite(v) for v in values) else "the weights"
            self.diverged = f"{what} became NaN or infinite in epoch {epoch + 1}"
            self.model.stop_training = True
            return
        epochs = self._epochs_recorded()  # every key gets one entry an epoch: None where it was not logged
        for key in list(self.history) + [k for k in logs if k not in self.history]:
            self.history.setdefault(key, [None] * epochs).append(float(logs[key]) if key in logs else None)
        if not self.chief:
            return
        value = logs.get(self.monitor)
        better = value is not None and (self.best is None or
                                        (value > self.best if self.higher_is_better else value < self.best))
        if self.best_path and better:
            atomic_model_save(self.model, self.best_path)
            self.best, self.best_epoch = float(value), epoch + 1
            faults.maybe_kill(f"{self.name}:best_written:{epoch}")
        self._save_state(epoch + 1)

    def _save_state(self, epochs_done):
        os.makedirs(self.folder, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=self.folder, prefix=f"epoch_{epochs_done:04d}.tmp-")
        try:
            weights = os.path.join(tmp, "state.weights.h5")
            self.model.save_weights(weights)
            faults.maybe_kill(f"{self.name}:state_weights_written:{epochs_done - 1}")
            state = {"epoch": epochs_done, "history": self.history, "best": self.best, "best_epoch": self.best_epoch,
                     "weights_sha256": sha256(weights)}
            with open(os.path.join(tmp, "state.json"), "w") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            faults.maybe_kill(f"{self.name}:state_json_written:{epochs_done - 1}")
            final = os.path.join(self.folder, f"epoch_{epochs_done:04d}")
            if os.path.exists(final):  # a rerun of an epoch a kill interrupted after its rename
                shutil.rmtree(final)
            os.rename(tmp, final)
            _fsync_dir(self.folder)
        finally:
            if os.path.exists(tmp):
                _remove(tmp)
        self.last_good = final
        faults.maybe_kill(f"{self.name}:state_renamed:{epochs_done - 1}")
        if self.log_path:
            self._write_log()
        for old in self._candidates()[KEEP:]:
            _remove(old)
        for name in os.listdir(self.folder):  # temporary folders of killed writes
            if ".tmp-" in name:
                _remove(os.path.join(self.folder, name))

    def _epochs_recorded(self):
        return len(next(iter(self.history.values()))) if self.history else 0

    def _write_log(self):
        """log.csv from the state's history (every epoch once, whatever was killed and rerun)."""
        keys = sorted(self.history)
        rows = ["epoch," + ",".join(keys)]
        for i in range(self._epochs_recorded()):
            cells = (self.history[k][i] for k in keys)
            rows.append(f"{i}," + ",".join("" if v is None else repr(v) for v in cells))
        atomic_write_text(self.log_path, "\n".join(rows) + "\n")

    def finish(self):
        """After a successful run (final model and results written): the state is no longer needed."""
        if self.chief and os.path.isdir(self.folder):
            _remove(self.folder)
