"""Distribution strategies for the recipes: ``auto``, ``mirrored``, ``multi_worker``.

Keras 3's ``model.fit`` fails under ``tf.distribute.MultiWorkerMirroredStrategy``
(keras-team/keras#20585, open): its TensorFlow trainer calls
``strategy.reduce`` (1) on a whole nest of PerReplica batches while building
the model symbolically, and (2) with ``axis=0`` on the scalar loss and metric
values of the logs. Both calls are legal for MirroredStrategy but not for the
collective all-reduce behind MultiWorkerMirroredStrategy.

cnnzoo's fix is narrow and in one place: `MultiWorkerStrategy` is
MultiWorkerMirroredStrategy whose ``reduce`` (a) maps over nests and (b) reads
``axis=0`` on rank-0 values as ``axis=None`` (the mean of scalars is the same
number). Everything else, checkpoints, resume and logs through Keras
callbacks, keeps working unchanged, which a custom training loop would have to
re-implement. ``tests/test_distribute.py`` checks that the unpatched strategy
still fails, so the day Keras fixes #20585 a test says this can go.
"""

import json
import os

import tensorflow as tf

class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy with a ``reduce`` that Keras 3's ``fit`` can call."""

    def reduce(self, reduce_op, value, axis):
        flat = tf.nest.flatten(value, expand_composites=False)
        if len(flat) > 1 or (flat and flat[0] is not value):
            return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
        if axis is not None:
            local = self.experimental_local_results(value)
            if local and getattr(local[0], "shape", None) is not None and local[0].shape.rank == 0:
                axis = None
        return super().reduce(reduce_op, value, axis)


def split_cpu(n):
    """Splits the CPU into ``n`` logical devices, so MirroredStrategy can be tested without GPUs.

    Must run before TensorFlow initialises its devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def make_strategy(name):
    """``auto``: all local GPUs mirrored when there are several, else the default strategy;
    ``mirrored``: MirroredStrategy over the local GPUs, or the (logical) CPUs without GPUs;
    ``multi_worker``: `MultiWorkerStrategy` configured from ``TF_CONFIG``."""
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy='multi_worker' needs the TF_CONFIG environment variable "
                             "(cluster and task), as set by cluster launchers. Received: no TF_CONFIG")
        return MultiWorkerStrategy()
    raise ValueError(f"strategy must be one of ('auto', 'mirrored', 'multi_worker'). Received: strategy={name!r}")


def is_chief(strategy=None):
    """True on the worker that writes checkpoints and logs (worker 0 or the chief task)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in config.get("cluster", {})


def mixed_precision_policy():
    """``mixed_float16`` on GPUs, ``mixed_bfloat16`` on CPUs."""
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


def synchronize_batch_norm(model):
    """Switches every BatchNormalization layer (nested ones too) to synchronized statistics."""
    import keras

    count = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            count += 1
    return count
