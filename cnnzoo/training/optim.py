"""Optimizers and learning-rate schedules."""

import keras

from cnnzoo.schedules import WarmupSchedule

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step")
# Weight decay skips norm scales/offsets and biases (they are not weights to shrink).
NO_DECAY = ["bias", "gamma", "beta"]


def make_schedule(kind, lr, epochs, steps_per_epoch, warmup_epochs=0, milestones=(), gamma=0.1):
    """A per-step learning-rate schedule.

    Args:
        kind: ``"constant"``, ``"cosine"`` (to 0 at the end) or ``"step"``
            (times ``gamma`` at each epoch in ``milestones``, He et al.'s CIFAR schedule).
        lr: peak learning rate.
        epochs, steps_per_epoch: length of training.
        warmup_epochs: linear warm-up before the schedule. Defaults to `0`.
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
        boundaries = [int(m * steps_per_epoch) - warmup for m in milestones]
        values = [lr * gamma**i for i in range(len(boundaries) + 1)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return WarmupSchedule(schedule, warmup, lr) if warmup else schedule


def make_optimizer(name, learning_rate, weight_decay=0.0, momentum=0.9, nesterov=False, ema_momentum=None):
    """SGD (momentum, Nesterov) or AdamW, with decoupled weight decay that skips norms and biases.

    ``ema_momentum`` keeps an exponential moving average of the weights (Keras's
    ``use_ema``), swapped into the model at the end of training.
    """
    ema = dict(use_ema=ema_momentum is not None, ema_momentum=ema_momentum or 0.99)
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: optimizer={name!r}")
    if name == "sgd":
        opt = keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov,
                                   weight_decay=weight_decay or None, **ema)
    else:
        opt = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **ema)
    if weight_decay:
        opt.exclude_from_weight_decay(var_names=NO_DECAY)
    return opt
