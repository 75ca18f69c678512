"""The model registry: a record of every entry point and what it builds, and nothing else.

Semantics follow torchvision's ``_api.py``: a duplicate name raises,
``list_models(pattern)`` matches with fnmatch, an unknown name raises with the
closest matches. `register_model` returns the function it is given unchanged:
an entry point is the family's own function (``cnnzoo.models.resnet.resnet50``),
whose source, signature and docstring are where a reader looks.

The registry imports nothing of cnnzoo. The package tells it how to load the
families (`set_loader`), so that a lookup in a process that has not touched
``cnnzoo.models`` yet still finds every model.
"""

import dataclasses
import difflib
import fnmatch
import inspect
import typing

_MODELS = {}
_INFO = {}
_LOADER = []  # the package's "import every family", called once before the first lookup


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry records of a model: what it is, what it builds by default, what only its family knows.

    Attributes:
        name: the registered name.
        family: the module that defines it (``"resnet"``), or None.
        ranks: the input ranks it builds for (1, 2, 3; video models 3 only).
        input_shape: its input shape when ``input_shape`` is None, or None if unknown.
        classes: its default number of classes, or None if unknown.
        min_size: the smallest spatial size its default configuration takes.
        stages: the prefixes of its stages' layer names, input to output (fine-tuning unfreezes from the last).
        aux_loss_weight: the loss weight of its auxiliary outputs (GoogLeNet's 0.3), or None.
        torchvision_rules: ``((compiled regex over torchvision module paths, path function), ...)`` of its
            torchvision twin (`cnnzoo.weights.torchvision`), empty when it has none.
        task: ``"classification"`` (its output is one score per class) or ``"detection"`` (boxes, labels
            and scores per image: `cnnzoo.detect`).
    """

    name: str
    family: typing.Optional[str] = None
    ranks: tuple = (1, 2, 3)
    input_shape: typing.Optional[tuple] = None
    classes: typing.Optional[int] = None
    min_size: int = 1
    stages: tuple = ()
    aux_loss_weight: typing.Optional[float] = None
    torchvision_rules: tuple = ()
    task: str = "classification"


TASKS = ("classification", "detection")


def register_model(fn=None, *, name=None, info=None):
    """Decorator that records a model's entry point under ``name`` (its function name by default).

    Args:
        fn: the entry point; returned unchanged.
        name: the registered name. Defaults to ``fn.__name__``.
        info: `ModelInfo` fields to record (`Family.register` passes the family's); what is not given
            is read from ``fn`` (its ``ranks`` attribute, its ``classes`` default).
    """

    def wrap(fn):
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"A model is already registered under name={key!r}")
        _MODELS[key] = fn
        _INFO[key] = ModelInfo(key, **{**_info_from_signature(fn), **(info or {})})
        return fn

    return wrap(fn) if fn is not None else wrap


def set_loader(loader):
    """``loader()`` imports every family (so that they register); the registry calls it once, on first use."""
    _LOADER[:] = [loader]


def _ensure_loaded():
    while _LOADER:
        _LOADER.pop()()


def _info_from_signature(fn):
    found = {"ranks": tuple(getattr(fn, "ranks", (1, 2, 3)))}
    try:
        classes = inspect.signature(fn).parameters.get("classes")
    except (TypeError, ValueError):
        return found
    if classes is not None and isinstance(classes.default, int):
        found["classes"] = classes.default
    return found


def model_info(name):
    """The `ModelInfo` the registry recorded for ``name``."""
    get_builder(name)  # an unknown name raises with the closest matches
    return _INFO[name]


def find_info(name):
    """The `ModelInfo` of ``name``, or None when no model is registered under it."""
    _ensure_loaded()
    return _INFO.get(name)


def list_models(pattern=None, task=None):
    """Sorted names of the registered models, optionally filtered by an fnmatch ``pattern`` and by ``task``
    (``"classification"`` or ``"detection"``).
    """
    _ensure_loaded()
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or None. Received: task={task!r}")
    names = sorted(_MODELS)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if task is not None:
        names = [n for n in names if _INFO[n].task == task]
    return names


def get_builder(name):
    """The entry point registered under ``name``."""
    _ensure_loaded()
    if name not in _MODELS:
        close = difflib.get_close_matches(str(name), _MODELS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown model name.{hint} See cnnzoo.list_models() for all {len(_MODELS)} models. "
            f"Received: name={name!r}"
        )
    return _MODELS[name]


def get_model(name, **kwargs):
    """Builds the model registered under ``name`` with the builder's keyword arguments."""
    return get_builder(name)(**kwargs)


def model_ranks(name):
    """The input ranks (1, 2, 3) a registered model builds for; video models are 3D only."""
    return model_info(name).ranks
