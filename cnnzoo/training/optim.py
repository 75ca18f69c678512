"""Optimizers: SGD and AdamW with decoupled weight decay (the schedules are `cnnzoo.training.schedules`)."""

import keras

from cnnzoo.training.config import OPTIMIZERS  # noqa: F401  (the names live with TrainConfig)
from cnnzoo.training.schedules import SCHEDULES, make_schedule  # noqa: F401 (their earlier home)

# Weight decay skips norm scales/offsets and biases (they are not weights to shrink).
NO_DECAY = ["bias", "gamma", "beta"]


def make_optimizer(name, learning_rate, weight_decay=0.0, momentum=0.9, nesterov=False, ema_momentum=None):
    """SGD (momentum, Nesterov) or AdamW, with decoupled weight decay that skips norms and biases.

    ``ema_momentum`` keeps an exponential moving average of the weights (Keras's
    ``use_ema``), swapped into the model at the end of training; None keeps none.
    Its value comes from `TrainConfig.ema_momentum`, the one default.
    """
    ema = {} if ema_momentum is None else dict(use_ema=True, ema_momentum=ema_momentum)
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
