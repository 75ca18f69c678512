"""What decides a training run, validated once: `TrainConfig` and the distribution strategies' names.

TensorFlow-free, so that command lines (``cnnzoo train NAME --help``) are built without loading a
framework; `cnnzoo.training.engine` consumes it.
"""

import dataclasses
import math
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
        # every field by its declared type (a None default also takes None), then the ranges
        for field in dataclasses.fields(self):
            value, optional = getattr(self, field.name), field.default is None
            if value is None and optional:
                continue
            _check_type(field.name, value, field.type, optional)
        for name in ("epochs", "batch_size", "steps_per_execution"):
            _check_range(name, getattr(self, name), "a positive int", lambda v: v >= 1)
        _check_range("lr", self.lr, "positive", lambda v: v > 0)
        _check_range("gamma", self.gamma, "positive", lambda v: v > 0)
        for name in ("weight_decay", "warmup_epochs"):
            _check_range(name, getattr(self, name), "a number >= 0", lambda v: v >= 0)
        for name in ("label_smoothing", "momentum", "ema_momentum"):
            _check_range(name, getattr(self, name), "in [0, 1)", lambda v: 0 <= v < 1)
        if self.aux_loss_weight is not None:
            _check_range("aux_loss_weight", self.aux_loss_weight, "a number >= 0 or None", lambda v: v >= 0)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={self.schedule!r}")
        milestones = self.milestones
        if (not all(_is_number(m) and m > 0 for m in milestones)
                or any(a > b for a, b in zip(milestones, milestones[1:]))):
            raise ValueError(f"milestones must be epochs > 0 in order. Received: milestones={milestones!r}")
        self.milestones = tuple(milestones)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_type(name, value, kind, optional):
    """One field against its declared type: a bool is no number, a number is finite, a tuple may be a list."""
    none = " or None" if optional else ""
    if kind is bool:
        ok, said = isinstance(value, bool), "True or False" if not optional else "True, False"
    elif kind is int:
        ok, said = isinstance(value, int) and not isinstance(value, bool), "an int"
    elif kind is float:
        ok, said = _is_number(value), "a finite number"
    elif kind is tuple:
        ok, said = isinstance(value, (tuple, list)), "a tuple"
    else:
        ok, said = isinstance(value, kind), f"a {kind.__name__}"
    if not ok:
        raise ValueError(f"{name} must be {said}{none}. Received: {name}={value!r}")


def _check_range(name, value, said, ok):
    if not ok(value):
        raise ValueError(f"{name} must be {said}. Received: {name}={value!r}")
