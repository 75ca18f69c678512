"""The training step's settings per Keras backend, chosen by measurement, in one place.

Measured on this project's 2-core CPU machine (Keras 3.15, 2026-12-01), LeNet-5 on MNIST, two epochs
through `cnnzoo.training.fit`, batch 128 (the seconds are cumulative at the end of each epoch):

| backend | compiled step | steps per execution | seconds | note |
|---|---|---|---|---|
| tensorflow | off | 32 | (2.3 s an epoch, `make demo`) | XLA measured 1.7-5x slower here (shared/REFERENCE.md 4) |
| jax | on (jit) | 32 | 6.3 / 11.3 | off: 21.7 / 40.1, 3.6x slower |
| torch | off | 1 | 4.6 / 9.0 | Keras refuses steps_per_execution > 1 on torch; torch.compile measured slower (below) |

Precision is chosen per device kind (`default_precision`), a user's explicit choice always winning:

- CPUs: float32. ``mixed_bfloat16`` measured no faster: the same two-epoch run, cumulative seconds
  fp32 / bf16: JAX 19.4 / 19.8, PyTorch 14.0 / 14.9 (2026-12-01), TensorFlow's CPU path slower too
  (shared/REFERENCE.md).
- GPUs with bf16 matrix units (compute capability 8.0 or newer): ``mixed_bfloat16``. Measured on one
  NVIDIA H200 (2026-12-04, JAX 0.11.2, `cnnzoo bench resnet50`): ResNet-50 training at batch 256 runs at
  5,615 img/s in bf16 against 3,291 in fp32 (XLA's default fp32 convolutions use TF32), 1.71x; the test
  accuracy did not move (`benchmarks/bf16_accuracy.py`, 2 epochs of real MNIST, seed 0: LeNet-5 97.52% fp32
  / 97.45% bf16, ResNet-20 99.31% / 99.33%). Those two small networks at batch 128 trained slower in bf16
  (8.3 / 11.2 s, 14.8 / 28.4 s): the casts cost more than the matrix units save at their size; pass
  ``mixed_precision=False`` (``--no-mixed-precision``) for such networks.
- Other GPUs: float32 (no bf16 matrix units; float16 would need loss scaling: not measured).

GPU steps per execution and compiled steps: not measured on a GPU; the CPU ones apply.

PyTorch, measured against torchvision on the same torch (this CPU, 2026-12-05, ResNet-50 training at batch 8,
112x112, fp32, `cnnzoo bench resnet50 --peer torchvision`; benchmarks/README.md, "The PyTorch backend"): Keras's
own ops ran at 0.65x torchvision's eager step; channels-first 0.62x; ``jit_compile=True`` (torch.compile) 0.55x
with a 67 s first step. Kept: eager steps and channels-last. Adopted instead: cnnzoo's PyTorch kernels for batch
norm and convolutions (`cnnzoo.backends`, always on in eager steps): 0.76x. cuDNN autotuning on a GPU: not
measured (no device), not set.

Compiled steps kept between processes (`use_compilation_cache`, called by `cnnzoo.training.fit` and the
prediction workflows): on JAX, XLA compiles the whole training step before the first one runs, while TensorFlow on
a CPU runs its step as a graph without compiling. Measured here (2026-12-05, GoogLeNet training at batch 8 @224,
fp32, `cnnzoo bench googlenet`): the first step took 13.5-13.8 s on JAX, 8.9 s on TensorFlow without XLA and 22.0 s
on TensorFlow with it. With JAX's persistent compilation cache the same step in a second process took 5.3 s instead
of 14.0 s (benchmarks/README.md, "GoogLeNet's first training step on JAX"), so a resumed run, a second recipe or a
repeated prediction starts at once.
"""

import dataclasses
import os

import keras

from cnnzoo.files import keras_home

MEASURED = {
    "tensorflow": {"jit_compile": False, "max_steps_per_execution": None},
    "jax": {"jit_compile": True, "max_steps_per_execution": None},
    "torch": {"jit_compile": False, "max_steps_per_execution": 1},
}


BF16_MIN_COMPUTE_CAPABILITY = (8, 0)  # Ampere: the first NVIDIA GPUs with bf16 matrix units


def accelerator(backend=None):
    """``(kind, compute capability)`` of the first device the backend computes on: ``("gpu", (9, 0))``,
    ``("cpu", None)``... Imports only the backend's own framework.
    """
    backend = backend or keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "gpu":
                capability = getattr(device, "compute_capability", None)
                return "gpu", tuple(int(p) for p in str(capability).split(".")[:2]) if capability else None
            return device.platform, None
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return "gpu", tuple(torch.cuda.get_device_capability())
            return "cpu", None
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
            return "gpu", tuple(capability) if capability else None
    except Exception:  # a device that cannot be asked: the safe default
        return "cpu", None
    return "cpu", None


def default_precision(backend=None, device=None):
    """``"mixed_bfloat16"`` on GPUs with bf16 matrix units (compute capability 8.0 or newer), else ``"float32"``.

    Args:
        backend: the Keras backend. Defaults to the current one.
        device: ``(kind, compute capability)`` as `accelerator` returns it. Defaults to the backend's device.
    """
    kind, capability = device or accelerator(backend)
    if kind == "gpu" and capability is not None and tuple(capability) >= BF16_MIN_COMPUTE_CAPABILITY:
        return "mixed_bfloat16"
    return "float32"


def resolve(config, backend=None, device=None):
    """``config`` with the backend's settings: ``jit_compile=None`` becomes the measured default,
    ``mixed_precision=None`` the device's (`default_precision`), and ``steps_per_execution`` is capped
    where the backend has a limit. Values the user set are kept.
    """
    backend = backend or keras.backend.backend()
    measured = MEASURED.get(backend, MEASURED["tensorflow"])
    changes = {}
    if config.jit_compile is None:
        changes["jit_compile"] = measured["jit_compile"]
    if config.mixed_precision is None:
        changes["mixed_precision"] = default_precision(backend, device) != "float32"
    cap = measured["max_steps_per_execution"]
    if cap is not None and config.steps_per_execution > cap:
        changes["steps_per_execution"] = cap
    return dataclasses.replace(config, **changes) if changes else config


COMPILATION_CACHE_ENV = "CNNZOO_COMPILATION_CACHE"
_OFF = ("0", "off", "false", "no", "none")


def compilation_cache_dir():
    """The folder cnnzoo keeps JAX's compiled steps in, or None when turned off.

    ``$CNNZOO_COMPILATION_CACHE`` when set (a folder, or ``off``), else ``$KERAS_HOME/cnnzoo/jax_compilation_cache``
    (``~/.keras`` by default, beside Keras's and cnnzoo's downloaded weights). The folder is trusted as code is: JAX
    runs what it finds there, so it must not be writable by others.
    """
    setting = os.environ.get(COMPILATION_CACHE_ENV)
    if setting is not None:
        setting = setting.strip()
        return None if not setting or setting.lower() in _OFF else os.path.expanduser(setting)
    return os.path.join(keras_home(), "cnnzoo", "jax_compilation_cache")


def use_compilation_cache(backend=None):
    """On JAX, keeps every compiled step that took a second or more (JAX's threshold) in `compilation_cache_dir`,
    so that the next process running the same step on the same device loads it instead of compiling it again.

    A cache the user set up (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``) is kept as it is, as is
    ``jax_enable_compilation_cache=False``. Other backends: nothing (TensorFlow compiles nothing on a CPU by default;
    PyTorch's torch.compile keeps its own cache).

    Returns:
        The folder in use, or None.
    """
    if (backend or keras.backend.backend()) != "jax":
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    path = compilation_cache_dir()
    if path is None or not jax.config.jax_enable_compilation_cache:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:  # a read-only home: compile every time, as without the cache
        import warnings

        warnings.warn(f"cnnzoo: JAX's compiled steps are not kept between runs: {path} cannot be made ({e}). "
                      f"Set {COMPILATION_CACHE_ENV} to a writable folder, or to 'off'.", stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    return path
