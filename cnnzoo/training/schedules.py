"""Learning-rate schedules: `make_schedule` (constant, cosine, step, with a linear warm-up).

Keras's own schedules, plus `WarmupSchedule`, which the training engine saves
inside every model file: Keras-only and imported by ``import cnnzoo``, so
``keras.models.load_model`` reads a recipe's ``best.keras`` / ``final.keras``
(optimizer state included) without custom_objects.
"""

import keras

from cnnzoo.training.config import SCHEDULES  # noqa: E402,F401  (the names live with TrainConfig)


@keras.saving.register_keras_serializable(package="cnnzoo")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over ``warmup_steps``, then ``after``."""

    def __init__(self, after, warmup_steps, peak):
        self.after = after
        self.warmup_steps = warmup_steps
        self.peak = peak

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1) / max(self.warmup_steps, 1)
        return keras.ops.where(step < self.warmup_steps, warm, self.after(step - self.warmup_steps))

    @classmethod
    def from_config(cls, config):
        config = dict(config, after=keras.optimizers.schedules.deserialize(config["after"]))
        return cls(**config)

    def get_config(self):
        return {"after": keras.optimizers.schedules.serialize(self.after),
                "warmup_steps": self.warmup_steps, "peak": self.peak}


# Files saved before the schedule was registered name it without the package.
keras.saving.get_custom_objects().setdefault("WarmupSchedule", WarmupSchedule)


def make_schedule(kind, lr, epochs, steps_per_epoch, warmup_epochs=0, milestones=(), gamma=0.1):
    """A per-step learning-rate schedule.

    Args:
        kind: ``"constant"``, ``"cosine"`` (to 0 at the end) or ``"step"``
            (times ``gamma`` at each epoch in ``milestones``, He et al.'s CIFAR schedule).
        lr: peak learning rate.
        epochs: length of training, in epochs.
        steps_per_epoch: steps in an epoch.
        warmup_epochs: linear warm-up before the schedule. Defaults to `0`.
        milestones: epochs at which the step schedule multiplies by ``gamma``. Defaults to `()`.
        gamma: the step schedule's factor. Defaults to `0.1`.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={kind!r}")
    warmup = int(warmup_epochs * steps_per_epoch)
    total = max(int(epochs * steps_per_epoch) - warmup, 1)
    if kind == "constant":
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay([total * 10], [lr, lr])
    elif kind == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(lr, total)
    else:
        # Keras's PiecewiseConstantDecay keeps a value up to and including its boundary, and the optimizer asks for
        # step k before its k-th update: the milestone epoch's first step already takes the new rate (PyTorch's
        # MultiStepLR, stepped each epoch)
        boundaries = [int(m * steps_per_epoch) - warmup - 1 for m in milestones]
        values = [lr * gamma**i for i in range(len(boundaries) + 1)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return WarmupSchedule(schedule, warmup, lr) if warmup else schedule
