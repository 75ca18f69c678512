"""Convolution with a connection table: each output map sees a chosen subset of input maps.

LeNet-5's C3 (LeCun et al. 1998, Table I) connects each of its 16 maps to 3, 4
or 6 of S2's 6 maps, "to break the symmetry in the network" and to keep the
number of connections down. Runs of output maps with the same fan-in become
one grouped convolution over the gathered input channels, so the layer holds
exactly the table's parameters, for any rank.
"""

import keras
import numpy as np
from keras import ops

from cnnzoo.layers import initializers
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.conv_norm_act import check_data_format

# LeNet-5's C3 table: for each output map, the S2 maps it reads.
LENET5_C3_TABLE = (
    *(tuple((i + k) % 6 for k in range(3)) for i in range(6)),
    *(tuple((i + k) % 6 for k in range(4)) for i in range(6)),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


@keras.saving.register_keras_serializable(package="cnnzoo")
class ConnectionTableConv(keras.layers.Layer):
    """A convolution whose output map ``i`` reads only the input maps ``table[i]``.

    Args:
        table: one tuple of input-map indices per output map.
        kernel_size: int or tuple.
        strides: Defaults to `1`.
        padding: ``"valid"`` or ``"same"``. Defaults to `"valid"`.
        use_bias: Defaults to `True`.
        kernel_initializer: Defaults to `"he_normal"`.
        data_format: ``"channels_last"`` or ``"channels_first"``. Defaults to `None`:
            `keras.config.image_data_format()`.
    """

    def __init__(self, table, kernel_size, strides=1, padding="valid", use_bias=True,
                 kernel_initializer="he_normal", data_format=None, **kwargs):
        rank_lib.check_arguments(ConnectionTableConv.__init__, locals())
        super().__init__(**kwargs)
        try:
            rows = [list(row) for row in table]
        except TypeError:
            raise TypeError(f"table must be a sequence of index tuples. Received: table={table!r}") from None
        # indices, not a boolean mask (True/False would silently read as 1/0) nor floats (2.7 would read as 2)
        if any(isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for row in rows for i in row):
            raise TypeError("table must hold input-map indices (ints), one tuple per output map, not a mask or "
                            f"floats. Received: table={table!r}")
        table = tuple(tuple(int(i) for i in row) for row in rows)
        if not table or any(not row or min(row) < 0 for row in table):
            raise ValueError(f"table rows must be non-empty tuples of indices >= 0. Received: table={table!r}")
        rank_lib.check_positive_ints(kernel_size, "kernel_size")
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")
        self.data_format = check_data_format(data_format)
        self.table = table
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self._axis = -1 if self.data_format == "channels_last" else 1

    def _with_channels(self, shape, channels):
        shape = list(shape)
        shape[self._axis] = channels
        return tuple(shape)

    def _runs(self):
        """Consecutive output maps with the same fan-in: ``[(start, stop), ...]``."""
        runs, start = [], 0
        for i in range(1, len(self.table) + 1):
            if i == len(self.table) or len(self.table[i]) != len(self.table[start]):
                runs.append((start, i))
                start = i
        return runs

    def build(self, input_shape):
        rank = rank_lib.rank_of_shape(input_shape, f"ConnectionTableConv '{self.name}'")
        channels = input_shape[self._axis]
        if max(max(row) for row in self.table) >= channels:
            raise ValueError(
                f"table refers to input map {max(max(r) for r in self.table)} but the input has "
                f"{channels} channels. Received: input_shape={tuple(input_shape)}"
            )
        self.convs, self._indices = [], []
        for n, (start, stop) in enumerate(self._runs()):
            indices = [i for row in self.table[start:stop] for i in row]
            conv = rank_lib.CONV[rank](
                stop - start, self.kernel_size, strides=self.strides, padding=self.padding,
                groups=stop - start, use_bias=self.use_bias,
                kernel_initializer=self.kernel_initializer, data_format=self.data_format, name=f"conv{n + 1}",
            )
            conv.build(self._with_channels(input_shape, len(indices)))
            self.convs.append(conv)
            self._indices.append(indices)

    def call(self, inputs):
        outputs = [
            conv(ops.take(inputs, indices, axis=self._axis)) for conv, indices in zip(self.convs, self._indices)
        ]
        return ops.concatenate(outputs, axis=self._axis) if len(outputs) > 1 else outputs[0]

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        shape = self.convs[0].compute_output_shape(self._with_channels(input_shape, len(self._indices[0])))
        return self._with_channels(shape, len(self.table))

    def get_config(self):
        config = super().get_config()
        config.update(table=[list(r) for r in self.table], kernel_size=self.kernel_size,
                      strides=self.strides, padding=self.padding, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer), data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package="cnnzoo")
class RBFOutput(keras.layers.Layer):
    """LeNet-5's output: Euclidean radial basis units, ``y_i = sum_j (x_j - w_ij)^2``.

    Returns ``-y`` so that larger means more likely and a softmax can follow
    (the paper picks the class with the smallest ``y``).

    Args:
        units: number of classes.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        rank_lib.positive_int(units, "units")
        self.units = units

    def build(self, input_shape):
        self.centers = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                       name="centers")

    def call(self, inputs):
        # ||x||^2 - 2 x.w + ||w||^2, without materialising (batch, features, units)
        x2 = ops.sum(ops.square(inputs), axis=-1, keepdims=True)
        w2 = ops.sum(ops.square(self.centers), axis=0, keepdims=True)
        return -(x2 - 2.0 * ops.matmul(inputs, self.centers) + w2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
