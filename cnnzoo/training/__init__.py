"""The training engine the recipes share (TensorFlow proper lives here, not in layers/models).

Its names load on first use (PEP 562), so that TensorFlow-free parts (`cnnzoo.training.config`,
the recipes' command lines) import without a framework.
"""

import importlib

_EXPORTS = {
    "TrainConfig": "config", "TrainingDivergedError": "engine", "compile_model": "engine",
    "evaluate_accuracy": "engine", "fit": "engine", "seed_everything": "engine", "time_to_accuracy": "engine",
    "OPTIMIZERS": "optim", "SCHEDULES": "schedules", "make_optimizer": "optim", "make_schedule": "schedules",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"cnnzoo.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'cnnzoo.training' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
