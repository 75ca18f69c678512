"""cnnzoo: classic convolutional networks for Keras 3, in 1D, 2D and 3D.

``from cnnzoo import resnet18`` gives a builder; ``cnnzoo.list_models()`` and
``cnnzoo.get_model(name, **kwargs)`` reach every registered model.
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

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


def load():
    """Loads the whole package (a no-op after ``import cnnzoo``; the ``cnnzoo`` command defers it until a
    command runs): TensorFlow with its start-up lines held back, and the layers registered for
    ``keras.saving.load_model`` without custom_objects.
    """
    _import_everything()


def _import_everything():
    """The public names; importing the layers registers the blocks for deserialization without custom_objects."""
    if _os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        _quiet_tensorflow_import()
    import importlib

    layers = importlib.import_module("cnnzoo.layers")
    importlib.import_module("cnnzoo.training.schedules")  # registers the schedules for deserialization
    from cnnzoo.inspect.analysis import count_params, summary  # noqa: F401
    from cnnzoo.models.alexnet import alexnet  # noqa: F401
    from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT, googlenet, without_aux  # noqa: F401
    from cnnzoo.models.lenet import lenet5  # noqa: F401
    from cnnzoo.models.resnet import (  # noqa: F401
        mc3_18,
        r2plus1d_18,
        r3d_18,
        resnet18,
        resnet20,
        resnet32,
        resnet34,
        resnet44,
        resnet50,
        resnet56,
        resnet101,
        resnet110,
        resnet152,
        resnext50_32x4d,
        resnext101_32x8d,
        resnext101_64x4d,
        wide_resnet50_2,
        wide_resnet101_2,
    )
    from cnnzoo.models.tcn import tcn  # noqa: F401
    from cnnzoo.models.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn  # noqa: F401
    from cnnzoo.registry import get_model, list_models, model_info, register_model  # noqa: F401
    from cnnzoo.weights import decode_predictions, list_weights, preprocess_input  # noqa: F401

    globals().update({k: v for k, v in locals().items() if k in __all__})


__all__ = [
    "AUX_LOSS_WEIGHT", "__version__", "alexnet", "count_params", "decode_predictions", "get_model", "googlenet",
    "layers", "lenet5", "list_models", "list_weights", "model_info", "preprocess_input", "mc3_18", "r2plus1d_18",
    "r3d_18",
    "register_model", "resnet18", "resnet20", "resnet32", "resnet34", "resnet44",
    "resnet50", "resnet56", "resnet101", "resnet110", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
    "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "summary", "tcn", "vgg11", "vgg11_bn", "vgg13",
    "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "without_aux",
]

# The `cnnzoo` command loads the package when it runs a command (cnnzoo.cli.main, after parsing),
# so that `cnnzoo --help` and `cnnzoo recipes` answer without TensorFlow. Everywhere else
# `import cnnzoo` loads it all at once: the layers must be registered before keras.saving.load_model.
if _os.path.basename(_sys.argv[0] if _sys.argv and _sys.argv[0] else "") in ("cnnzoo", "cnnzoo.exe"):
    def __getattr__(name):
        if name in __all__ and name != "__version__" and not name.startswith("__"):
            _import_everything()
            return globals()[name]
        raise AttributeError(f"module 'cnnzoo' has no attribute {name!r}")
else:
    _import_everything()
