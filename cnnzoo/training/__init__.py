"""The training engine the recipes share (TensorFlow proper lives here, not in layers/models)."""

from cnnzoo.training.engine import (
    TrainConfig, TrainingDivergedError, compile_model, evaluate_accuracy, fit, seed_everything,
    time_to_accuracy,
)
from cnnzoo.training.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from cnnzoo.training.results import plot_curves

__all__ = [
    "OPTIMIZERS", "SCHEDULES", "TrainConfig", "TrainingDivergedError", "compile_model",
    "evaluate_accuracy", "fit", "make_optimizer", "make_schedule", "plot_curves", "seed_everything", "time_to_accuracy",
]
