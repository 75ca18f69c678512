"""Stochastic depth (drop path)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnnzoo")
class DropPath(keras.layers.Layer):
    """Drops a whole residual branch per example while training (stochastic depth).

    Huang et al. 2016, "Deep Networks with Stochastic Depth". Kept examples are
    scaled by ``1 / (1 - rate)`` so inference needs no change.

    Args:
        rate: probability of dropping the branch, in [0, 1). Defaults to `0.0`.
        seed: seed of the random draws. Defaults to `None`.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be a float in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype) < keep
        return inputs * ops.cast(mask, inputs.dtype) / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
