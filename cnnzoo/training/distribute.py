"""Distribution strategies for the recipes: ``auto``, ``mirrored``, ``multi_worker``.

On TensorFlow these are ``tf.distribute`` strategies; on JAX, ``auto`` and
``mirrored`` are ``keras.distribution.DataParallel`` over the local devices
(`JaxDataParallel`; on a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
makes N devices). PyTorch has the default (single-device) strategy only.

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

import contextlib
import json
import os
import sys

import keras

from cnnzoo import compat
from cnnzoo.training.config import STRATEGIES


class JaxDataParallel:
    """``keras.distribution.DataParallel`` over ``devices`` (JAX), as the engine and recipes use a strategy:
    ``scope()`` and ``num_replicas_in_sync``.

    The distribution is made Keras's global one on creation (Keras's documented use: the model's variables
    are created, and ``fit`` shards each batch, under it); ``scope()`` makes it current again.
    Variables are replicated on every device, each batch is split along its first axis, and the gradient
    is the whole batch's (BatchNorm statistics too: one program over the global batch).
    """

    def __init__(self, devices):
        self.distribution = keras.distribution.DataParallel(devices=devices)
        self.num_replicas_in_sync = len(devices)
        keras.distribution.set_distribution(self.distribution)

    def scope(self):
        return self.distribution.scope()


def _jax_strategy(name):
    devices = keras.distribution.list_devices()
    if name == "multi_worker":
        raise ValueError("strategy='multi_worker' is TensorFlow's (TF_CONFIG workers); on JAX use 'mirrored' "
                         "over the local devices. Received: strategy='multi_worker' with KERAS_BACKEND=jax")
    if name == "auto" and len(devices) < 2:
        return _SingleDevice()  # nothing to distribute over: the default no-op scope
    return JaxDataParallel(devices)

class _SingleDevice:
    """The default, no-op strategy where TensorFlow is not the backend: one device, nothing to distribute."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def default_strategy():
    """The backend's default single-device strategy: ``tf.distribute``'s on TensorFlow, a no-op scope elsewhere.

    No TensorFlow is imported on JAX or PyTorch.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy()
    return _SingleDevice()


def is_tf_mirrored(strategy):
    """True for a TensorFlow Mirrored or MultiWorkerMirrored strategy."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(strategy, (tf.distribute.MirroredStrategy,
                                                    tf.distribute.MultiWorkerMirroredStrategy))


def _multi_worker_strategy():
    """`MultiWorkerStrategy`: MultiWorkerMirroredStrategy with a ``reduce`` that Keras 3's ``fit`` can call."""
    import tensorflow as tf

    class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            flat = tf.nest.flatten(value, expand_composites=False)
            if len(flat) > 1 or (flat and flat[0] is not value):
                return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
            if axis is not None:
                local = self.experimental_local_results(value)
                if local and getattr(local[0], "shape", None) is not None and local[0].shape.rank == 0:
                    axis = None
            return super().reduce(reduce_op, value, axis)

    return MultiWorkerStrategy()


def split_cpu(n):
    """Splits the CPU into ``n`` logical devices, so MirroredStrategy can be tested without GPUs.

    Must run before TensorFlow initialises its devices.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def make_strategy(name):
    """``auto``: all local GPUs mirrored when there are several, else the default strategy;
    ``mirrored``: MirroredStrategy over the local GPUs, or the (logical) CPUs without GPUs;
    ``multi_worker``: `MultiWorkerStrategy` configured from ``TF_CONFIG``.

    On JAX: ``auto`` and ``mirrored`` are `JaxDataParallel` over the local devices (``auto`` only with two or
    more); on PyTorch only ``auto`` (the default strategy) exists.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_strategy(name)
    if backend != "tensorflow":
        if name != "auto":  # also multi_worker: its TF_CONFIG workers are tf.distribute's
            raise ValueError(f"strategy={name!r} needs the TensorFlow or JAX backend (tf.distribute or "
                             f"keras.distribution). Received: strategy={name!r} with KERAS_BACKEND={backend}")
        return _SingleDevice()
    import tensorflow as tf

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
    return _multi_worker_strategy()


def is_chief():
    """True on the worker that writes checkpoints and logs (worker 0 or the chief task)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in config.get("cluster", {})


def mixed_precision_policy():
    """``mixed_bfloat16``: bf16 matrix units on GPUs of compute capability 8.0 and newer and on CPUs; no loss
    scaling needed (``mixed_float16`` would need it, and older GPUs are left in float32 by default).
    """
    return "mixed_bfloat16"


def synchronize_batch_norm(model):
    """Switches every BatchNormalization layer (nested ones too) to synchronized statistics."""
    count = 0
    for layer in compat.flatten_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            count += 1
    return count
