"""Results of a run: the JSON record and the environment it ran in.

Its picture is `cnnzoo.inspect.pictures.plot_curves`.
"""

import json
import os
import platform


def environment():
    """Library versions and hardware, for the results record."""
    import sys

    import keras
    import numpy

    backend = keras.backend.backend()
    tf = sys.modules.get("tensorflow")  # not imported on JAX / PyTorch for an array run: not loaded for this
    if tf is not None:
        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    else:
        from cnnzoo.training.backend_defaults import accelerator

        kind, capability = accelerator(backend)
        gpus = [f"{kind} (compute capability {capability})"] if kind == "gpu" else []
    return {
        "cnnzoo": _version("cnnzoo"), "tensorflow": getattr(tf, "__version__", None), "keras": keras.__version__,
        "keras_backend": backend, "keras_backend_version": _version(backend),
        "numpy": numpy.__version__, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "gpus": gpus,
    }


def _version(module_name):
    import importlib

    try:
        return importlib.import_module(module_name).__version__
    except (ImportError, AttributeError):
        return None


def write_json(path, record):
    """The record as JSON, written to a temporary name and renamed: never half a file."""
    from cnnzoo.files import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str))
