"""Weight initializers that build fast on every backend.

`HeNormal` is Keras's ``"he_normal"`` (He et al. 2015: a truncated normal with standard deviation
``sqrt(2 / fan_in)``, torchvision's choice for convolutions), drawn differently: one standard draw of a
power-of-two length, its first ``prod(shape)`` values reshaped and scaled on the host. On JAX every
eager random draw is compiled once per shape, so a network of many distinct kernel shapes compiled one
program per convolution while it was built (GoogLeNet: 154 compilations, 16.6 of its 20 s build on this
project's CPU); with a power-of-two length a whole zoo shares about twenty. The distribution is the same;
the values for a given seed are not Keras's. On JAX the draw is `cnnzoo.backends.standard_truncated_normal`'s (the
same values from fewer compiled programs) and the array is handed over with `cnnzoo.backends.from_host` (JAX's own
conversion of a NumPy array compiled a program per shape): GoogLeNet's JAX build 4.2 -> 1.6 s.
"""

import math
import random

import keras
import numpy as np

from cnnzoo import backends

# the standard deviation of a standard normal truncated to [-2, 2]: Keras's and torch's correction
_TRUNCATED_STDDEV = 0.87962566103423978


@keras.saving.register_keras_serializable(package="cnnzoo")
class HeNormal(keras.initializers.Initializer):
    """``"he_normal"`` (truncated normal, stddev ``sqrt(2 / fan_in)``), one compiled draw per power-of-two size.

    Args:
        seed: an int or a ``keras.random.SeedGenerator``; None draws an int seed from Python's
            ``random`` (seeded by ``keras.utils.set_random_seed``), as Keras's initializers do.
            Defaults to `None`.
    """

    def __init__(self, seed=None):
        self._init_seed = seed
        self.seed = seed if seed is not None else random.randint(1, int(1e9))

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in = shape[-2] * receptive if len(shape) > 1 else shape[0]
        stddev = math.sqrt(2.0 / max(1.0, fan_in)) / _TRUNCATED_STDDEV
        count = int(np.prod(shape))
        length = 1 << max(count - 1, 0).bit_length()  # the next power of two (JAX draws it from a power of 4's draw)
        flat = backends.standard_truncated_normal(length, self.seed)
        values = flat[:count].reshape(shape) * np.float32(stddev)
        # a backend array made without a compiled conversion (JAX compiles one per shape for a NumPy array)
        return backends.from_host(values.astype(keras.backend.standardize_dtype(dtype or keras.config.floatx())))

    def get_config(self):
        return {"seed": keras.saving.serialize_keras_object(self._init_seed) if self._init_seed is not None else None}


def get(identifier):
    """An initializer from a name or an object: ``"he_normal"`` is `HeNormal`; anything else as Keras reads it."""
    if isinstance(identifier, str) and identifier == "he_normal":
        return HeNormal()
    return identifier


def serialize(identifier):
    """A layer's ``kernel_initializer`` as its config holds it: a name or a config dict as given, an initializer object
    as Keras serializes it (an object in a config made every model fingerprint of its network differ, by its address).
    """
    if identifier is None or isinstance(identifier, (str, dict)):
        return identifier
    return keras.initializers.serialize(keras.initializers.get(identifier))
