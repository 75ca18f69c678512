"""cnnzoo: classic convolutional networks for Keras 3, in 1D, 2D and 3D.

``from cnnzoo import resnet18`` gives a builder; ``cnnzoo.list_models()`` and
``cnnzoo.get_model(name, **kwargs)`` reach every registered model;
``cnnzoo.finetune`` and ``cnnzoo.predict`` are the main workflows.

The names load on first use (PEP 562): ``import cnnzoo`` imports no framework,
and the first public name used loads the package (`load`). A ``.keras`` file
of a cnnzoo model loads with `load_model` (``cnnzoo.load_model(path)``), or with
``keras.saving.load_model`` once any cnnzoo name was used (``cnnzoo.load()``).
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

from cnnzoo import registry as _registry

# TensorFlow's C++ chatter (oneDNN, CUDA probing, "failed call to cuInit" on a machine without a
# GPU) hides real output: level 3 keeps its errors for Python exceptions. A user's own
# TF_CPP_MIN_LOG_LEVEL wins; CNNZOO_VERBOSE=1 shows everything (and the start-up lines below).
if not _os.environ.get("CNNZOO_VERBOSE"):
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _quiet_tensorflow_import():
    """Imports TensorFlow with its start-up lines held back.

    TensorFlow's C++ logging (absl's "All log messages before absl::InitializeLog()", oneDNN,
    CUDA probing) ignores ``TF_CPP_MIN_LOG_LEVEL`` since absl took it over, so the lines written
    to the process's stderr during the import are caught and shown only if the import fails.
    ``CNNZOO_VERBOSE=1`` lets them through.
    """
    if "tensorflow" in _sys.modules or _os.environ.get("CNNZOO_VERBOSE"):
        return
    import tempfile

    _sys.stderr.flush()
    saved = _os.dup(2)
    with tempfile.TemporaryFile() as held:
        _os.dup2(held.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices()  # the platforms' probing (cuInit...) logs here too
        except BaseException:
            _os.dup2(saved, 2)
            held.seek(0)
            _sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            _os.dup2(saved, 2)
            _os.close(saved)


# The public names and the module each lives in: `__getattr__` (PEP 562) imports them on first use,
# so that ``import cnnzoo`` and the ``cnnzoo`` command's parsing load no framework. Every registered
# model is a public name too (``cnnzoo.resnet50``): a new family's entry points need no line here.
_EXPORTS = {
    "AUX_LOSS_WEIGHT": "cnnzoo.models.googlenet", "without_aux": "cnnzoo.models.googlenet",
    "get_model": "cnnzoo.registry", "list_models": "cnnzoo.registry", "model_info": "cnnzoo.registry",
    "register_model": "cnnzoo.registry",
    "count_params": "cnnzoo.inspect.analysis", "summary": "cnnzoo.inspect.analysis",
    "decode_predictions": "cnnzoo.weights", "list_weights": "cnnzoo.weights", "preprocess_input": "cnnzoo.weights",
    "finetune": "cnnzoo.training.finetune", "FinetuneConfig": "cnnzoo.training.finetune",
    "FinetuneResult": "cnnzoo.training.finetune",
    "predict": "cnnzoo.prediction", "load_model": "cnnzoo.prediction", "evaluate": "cnnzoo.prediction",
    "model_metadata": "cnnzoo.prediction", "detect": "cnnzoo.prediction",
    "ssd": "cnnzoo.models.ssd", "detection_head": "cnnzoo.models.ssd",
}
# Subpackages reachable as attributes after ``import cnnzoo`` (``cnnzoo.weights.list_weights``).
_SUBPACKAGES = ("data", "detection", "export", "inspect", "layers", "learn", "models", "recipes", "training", "weights")


def load():
    """Loads the whole package (public names load it on first use): TensorFlow with its start-up lines
    held back, the layers registered for ``keras.saving.load_model`` without custom_objects, every
    model family registered.
    """
    if _os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        _quiet_tensorflow_import()
    import importlib

    importlib.import_module("cnnzoo.layers")
    importlib.import_module("cnnzoo.training.schedules")  # registers the schedules for deserialization
    importlib.import_module("cnnzoo.models")


def __getattr__(name):
    import importlib

    if name == "__all__":  # `from cnnzoo import *`: the exports and every registered model
        value = sorted(["__version__", "load", *_EXPORTS, *_registry.list_models()])
    elif name in _EXPORTS:
        load()
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBPACKAGES or _is_submodule(name):  # a module alone (``from cnnzoo import recipes`` loads no
        value = importlib.import_module(f"cnnzoo.{name}")  # framework; ``from cnnzoo import compat`` inside it)
    elif not name.startswith("_") and name in _registry.list_models():  # loads the families on first use
        value = _registry.get_builder(name)
    else:
        raise AttributeError(f"module 'cnnzoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def _is_submodule(name):
    import importlib.util

    return not name.startswith("_") and importlib.util.find_spec(f"cnnzoo.{name}") is not None


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES) | set(_registry.list_models()))


_registry.set_loader(load)  # a registry lookup before any public name was used loads the families first
