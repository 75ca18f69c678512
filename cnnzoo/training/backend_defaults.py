"""The training step's settings per Keras backend, chosen by measurement, in one place.

Measured on this project's 2-core CPU machine (Keras 3.15, 2026-12-01), LeNet-5 on MNIST, two epochs
through `cnnzoo.training.fit`, batch 128 (the seconds are cumulative at the end of each epoch):

| backend | compiled step | steps per execution | seconds | note |
|---|---|---|---|---|
| tensorflow | off | 32 | (2.3 s an epoch, `make demo`) | XLA measured 1.7-5x slower here (shared/REFERENCE.md 4) |
| jax | on (jit) | 32 | 6.3 / 11.3 | off: 21.7 / 40.1, 3.6x slower |
| torch | off | 1 | 4.6 / 9.0 | Keras refuses steps_per_execution > 1 on torch; torch.compile not measured |

Mixed precision (``mixed_bfloat16``) stays off on every backend: the same two-epoch run, cumulative
seconds fp32 / bf16: JAX 19.4 / 19.8, PyTorch 14.0 / 14.9 (2026-12-01, a later session's numbers on
the same machine), TensorFlow's CPU path measured slower too (shared/REFERENCE.md); and the recipes'
accuracies are fp32 measurements.

GPU defaults: not measured (no GPU here); the CPU ones apply.
"""

import dataclasses

import keras

MEASURED = {
    "tensorflow": {"jit_compile": False, "max_steps_per_execution": None},
    "jax": {"jit_compile": True, "max_steps_per_execution": None},
    "torch": {"jit_compile": False, "max_steps_per_execution": 1},
}


def resolve(config, backend=None):
    """``config`` with the backend's settings: ``jit_compile=None`` becomes the measured default, and
    ``steps_per_execution`` is capped where the backend has a limit.
    """
    backend = backend or keras.backend.backend()
    measured = MEASURED.get(backend, MEASURED["tensorflow"])
    changes = {}
    if config.jit_compile is None:
        changes["jit_compile"] = measured["jit_compile"]
    cap = measured["max_steps_per_execution"]
    if cap is not None and config.steps_per_execution > cap:
        changes["steps_per_execution"] = cap
    return dataclasses.replace(config, **changes) if changes else config
