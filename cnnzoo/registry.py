"""The model registry: every builder registers itself by function name.

Semantics follow torchvision's ``_api.py``: a duplicate name raises,
``list_models(pattern)`` matches with fnmatch, an unknown name raises with the
closest matches.
"""

import dataclasses
import difflib
import fnmatch
import functools
import inspect
import typing

_MODELS = {}
_INFO = {}


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry records of a model: what it is and what it builds by default.

    Attributes:
        name: the registered name.
        family: the module that defines it (``"resnet"``), or None.
        ranks: the input ranks it builds for (1, 2, 3; video models 3 only).
        input_shape: its input shape when ``input_shape`` is None, or None if unknown.
        classes: its default number of classes, or None if unknown.
        min_size: the smallest spatial size its default configuration takes.
    """

    name: str
    family: typing.Optional[str] = None
    ranks: tuple = (1, 2, 3)
    input_shape: typing.Optional[tuple] = None
    classes: typing.Optional[int] = None
    min_size: int = 1


def register_model(fn=None, *, name=None, info=None):
    """Decorator that registers a model builder under ``name`` (its function name by default).

    The registered builder is ``fn`` behind one wrapper that handles pretrained
    weights for every family (`cnnzoo.weights.pretrained.build`): a weight set's
    name (``weights="imagenet"``) or a torchvision ``.pth`` / ``.safetensors``
    file; None and Keras weight files go to ``fn`` unchanged.

    Args:
        fn: the builder.
        name: the registered name. Defaults to ``fn.__name__``.
        info: `ModelInfo` fields to record (`Family.register` passes the family, ranks, default input
            shape and minimum size); what is not given is read from ``fn`` (its ``ranks`` attribute,
            its ``classes`` default).
    """

    def wrap(fn):
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"A model is already registered under name={key!r}")

        @functools.wraps(fn)
        def builder(*args, **kwargs):
            from cnnzoo.weights import pretrained

            return pretrained.build(key, fn, args, kwargs)

        _MODELS[key] = builder
        _INFO[key] = ModelInfo(key, **{**_info_from_signature(fn), **(info or {})})
        return builder

    return wrap(fn) if fn is not None else wrap


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


def list_models(pattern=None):
    """Sorted names of the registered models, optionally filtered by an fnmatch ``pattern``."""
    names = sorted(_MODELS)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def get_builder(name):
    """The builder function registered under ``name``."""
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
