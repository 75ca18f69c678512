"""What decides a training run, validated once: `TrainConfig` and the distribution strategies' names.

TensorFlow-free, so that command lines (``cnnzoo train NAME --help``) are built without loading a
framework; `cnnzoo.training.engine` consumes it.
"""

import dataclasses
import sys

STRATEGIES = ("auto", "mirrored", "multi_worker")
OPTIMIZERS = ("sgd", "adamw")  # `cnnzoo.training.optim.make_optimizer` builds them
SCHEDULES = ("constant", "cosine", "step")  # `cnnzoo.training.schedules.make_schedule` builds them


def default_verbosity(verbose=None):
    """``verbose`` for ``model.fit``, None resolved: a progress bar within each epoch (1) when the output is a
    terminal, one line per epoch (2) when it goes to a file or a pipe (a log stays readable).
    """
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a run; saved next to its results.

    Units: ``lr`` per step at the peak, ``weight_decay`` decoupled per step
    (times lr for SGD and AdamW in Keras), epochs and warm-up in epochs.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    milestones: tuple = ()
    gamma: float = 0.1
    label_smoothing: float = 0.0
    seed: int = 0
    deterministic: bool = False
    jit_compile: bool = None  # None: the backend's measured default (backend_defaults: off on TF's CPU, on for JAX)
    # faster on this CPU (bfloat16 instructions, benchmarks/README.md) and on GPUs, but the recipes'
    # accuracies were measured in fp32; off until bf16 accuracy is measured for them
    # None: the device's measured default (training/backend_defaults.py: mixed_bfloat16 on GPUs with bf16 matrix
    # units, float32 elsewhere); True / False: the user's choice, always kept
    mixed_precision: bool = None
    # training steps per call into TensorFlow: measured +50% for LeNet-5 on 2 CPU cores, no change
    # for ResNet-20 or larger (benchmarks/README.md); the same arithmetic either way. fit moves it to a
    # divisor of the steps per epoch near it (engine.steps_per_execution_for; results: steps_per_execution_used)
    steps_per_execution: int = 32
    tensorboard: bool = False
    ema: bool = False  # keep an exponential moving average of the weights (Keras optimizers' use_ema)
    ema_momentum: float = 0.999
    sync_batch_norm: bool = False  # BatchNorm statistics across replicas
    # auxiliary outputs (GoogLeNet's heads); None: what the model's family declares (GoogLeNet: the paper's 0.3)
    aux_loss_weight: float = None

    @classmethod
    def from_dict(cls, values, **overrides):
        """A TrainConfig from a recipe's CONFIG: its keys that are fields, then ``overrides``."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in values.items() if k in names}, **overrides})

    def __post_init__(self):
        for name in ("epochs", "batch_size", "steps_per_execution"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be positive. Received: lr={self.lr!r}")
        if self.jit_compile is not None and not isinstance(self.jit_compile, bool):
            raise ValueError(f"jit_compile must be True, False or None. Received: jit_compile={self.jit_compile!r}")
        weight = self.aux_loss_weight
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0):
            raise ValueError(f"aux_loss_weight must be a number >= 0 or None. Received: aux_loss_weight={weight!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={self.schedule!r}")
        decay = self.weight_decay
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < float("inf"):
            raise ValueError(f"weight_decay must be a number >= 0. Received: weight_decay={decay!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing!r}")
