"""Learning-rate schedules the training engine saves inside every model file.

Keras-only and imported by ``import cnnzoo``, so ``keras.models.load_model`` reads
a recipe's ``best.keras`` / ``final.keras`` (optimizer state included) without
custom_objects.
"""

import keras


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
