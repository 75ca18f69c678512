"""Results of a run: the JSON record and the training-curves picture."""

import json
import os
import platform

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def environment():
    """Library versions and hardware, for the results record."""
    import keras
    import numpy
    import tensorflow as tf

    import cnnzoo

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    backend = keras.backend.backend()
    return {
        "cnnzoo": cnnzoo.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
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


def plot_curves(history, path, title=""):
    """Loss and accuracy per epoch, train and test, side by side; returns the path."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        if key in history:
            ax.plot(epochs, history[key], marker="o", label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
