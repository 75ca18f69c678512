"""Fault injection for the crash tests: kill this process at a named point of a run.

``CNNZOO_TEST_KILL_AT=<point>`` makes `maybe_kill(point)` send SIGKILL to the
process when the run reaches that point (``"<run folder name>:epoch_end:<epoch>"``
after the epoch's backup, log and checkpoint are written). Nothing happens when
the variable is unset: a test, not a user, sets it, so a kill lands where the
test wants it rather than where a timer happens to fall.
"""

import os
import signal

import keras

ENV = "CNNZOO_TEST_KILL_AT"


def maybe_kill(point):
    """SIGKILLs this process at ``point`` when the crash tests' environment variable names it."""
    if os.environ.get(ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


class KillAtEpochEnd(keras.callbacks.Callback):
    """Runs last among the engine's callbacks: `maybe_kill` at ``"<name>:epoch_end:<epoch>"``."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        maybe_kill(f"{self.name}:epoch_end:{epoch}")
