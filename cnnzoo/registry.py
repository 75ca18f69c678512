"""The model registry: every builder registers itself by function name.

Semantics follow torchvision's ``_api.py``: a duplicate name raises,
``list_models(pattern)`` matches with fnmatch, an unknown name raises with the
closest matches.
"""

import difflib
import fnmatch
import functools

_MODELS = {}


def register_model(fn=None, *, name=None):
    """Decorator that registers a model builder under ``name`` (its function name by default).

    The registered builder is ``fn`` behind one wrapper that handles pretrained
    weights for every family (`cnnzoo.weights.pretrained.build`): a weight set's
    name (``weights="imagenet"``) or a torchvision ``.pth`` / ``.safetensors``
    file; None and Keras weight files go to ``fn`` unchanged.
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
        return builder

    return wrap(fn) if fn is not None else wrap


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
    return tuple(getattr(get_builder(name), "ranks", (1, 2, 3)))
