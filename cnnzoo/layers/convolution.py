"""Keras's convolution and max-pooling layers, with the backend's kernel where `cnnzoo.backends` has one.

The same layers, arguments, configuration and weights as ``keras.layers.Conv2D/3D`` (a model's
architecture fingerprint and its weight files do not change); a channels-last call asks
`cnnzoo.backends.convolution` for a kernel and falls back to Keras's own ``ops.conv`` where there is none
(TensorFlow, JAX on a GPU) or the kernel leaves the case to Keras. 1D convolutions stay Keras's: its ``Conv1D`` calls
``ops.conv`` itself (for its causal padding), and no 1D network here was measured to need the kernel.
MaxPooling1D/2D/3D ask `cnnzoo.backends.max_pool` the same way.
"""

import keras
from keras import ops

from cnnzoo import backends


class _BackendConvolution:
    def convolution_op(self, inputs, kernel):
        fast = backends.convolution() if self.data_format == "channels_last" else None
        if fast is not None:
            outputs = fast(ops.convert_to_tensor(inputs), ops.convert_to_tensor(kernel), self.strides, self.padding,
                           self.dilation_rate)
            if outputs is not None:
                return outputs
        return super().convolution_op(inputs, kernel)


@keras.saving.register_keras_serializable(package="cnnzoo")
class Conv2D(_BackendConvolution, keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with the backend's kernel."""


@keras.saving.register_keras_serializable(package="cnnzoo")
class Conv3D(_BackendConvolution, keras.layers.Conv3D):
    """``keras.layers.Conv3D`` with the backend's kernel."""


class _BackendMaxPooling:
    def call(self, inputs):
        fast = backends.max_pool() if self.data_format == "channels_last" else None
        if fast is None:
            return super().call(inputs)
        return fast(ops.convert_to_tensor(inputs), self.pool_size, self.strides, self.padding)


@keras.saving.register_keras_serializable(package="cnnzoo")
class MaxPooling1D(_BackendMaxPooling, keras.layers.MaxPooling1D):
    """``keras.layers.MaxPooling1D`` with the backend's kernel."""


@keras.saving.register_keras_serializable(package="cnnzoo")
class MaxPooling2D(_BackendMaxPooling, keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` with the backend's kernel."""


@keras.saving.register_keras_serializable(package="cnnzoo")
class MaxPooling3D(_BackendMaxPooling, keras.layers.MaxPooling3D):
    """``keras.layers.MaxPooling3D`` with the backend's kernel."""
