"""The Inception (v1) module of GoogLeNet, for every rank.

Szegedy et al. 2015, "Going Deeper with Convolutions", Figure 2(b).
"""

import keras
from keras import ops

from cnnzoo.layers import initializers
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.conv_norm_act import ConvNormAct, check_data_format
from cnnzoo.layers.normalization import check_activation, check_norm, check_norm_settings, merged_batch_norm
from cnnzoo.layers.pooling import Pooling


@keras.saving.register_keras_serializable(package="cnnzoo")
class InceptionModule(keras.layers.Layer):
    """Four parallel branches concatenated on channels.

    1. 1x1 convolution (``filters_1x1``);
    2. 1x1 reduction (``filters_3x3_reduce``) -> 3x3 (``filters_3x3``);
    3. 1x1 reduction (``filters_5x5_reduce``) -> 5x5 (``filters_5x5``);
    4. 3x3 stride-1 max pooling -> 1x1 projection (``filters_pool_proj``).

    torchvision's GoogLeNet uses a 3x3 kernel in branch 3 (its source says so,
    pytorch/vision#906); ``kernel_size_5x5=3`` reproduces that, 5 is the paper.

    Args:
        filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce,
            filters_5x5, filters_pool_proj: channels of each convolution.
        kernel_size_5x5: kernel of branch 3. Defaults to `5`.
        norm: as in `ConvNormAct`. Defaults to `"batch"`.
        activation: as in `ConvNormAct`. Defaults to `"relu"`.
        use_bias: as in `ConvNormAct`. Defaults to `None`.
        kernel_initializer: Defaults to `"he_normal"`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
        norm_epsilon, norm_momentum: as in `ConvNormAct`. Default to `None`.
    """

    def __init__(
        self,
        filters_1x1,
        filters_3x3_reduce,
        filters_3x3,
        filters_5x5_reduce,
        filters_5x5,
        filters_pool_proj,
        kernel_size_5x5=5,
        norm="batch",
        activation="relu",
        use_bias=None,
        kernel_initializer="he_normal",
        data_format=None,
        norm_epsilon=None,
        norm_momentum=None,
        **kwargs,
    ):
        rank_lib.check_arguments(type(self).__init__, locals())
        super().__init__(**kwargs)
        self.norm_epsilon, self.norm_momentum = check_norm_settings(norm_epsilon, norm_momentum)
        self.filters_1x1 = rank_lib.positive_int(filters_1x1, "filters_1x1")
        self.filters_3x3_reduce = rank_lib.positive_int(filters_3x3_reduce, "filters_3x3_reduce")
        self.filters_3x3 = rank_lib.positive_int(filters_3x3, "filters_3x3")
        self.filters_5x5_reduce = rank_lib.positive_int(filters_5x5_reduce, "filters_5x5_reduce")
        self.filters_5x5 = rank_lib.positive_int(filters_5x5, "filters_5x5")
        self.filters_pool_proj = rank_lib.positive_int(filters_pool_proj, "filters_pool_proj")
        self.kernel_size_5x5 = rank_lib.positive_int(kernel_size_5x5, "kernel_size_5x5")
        self.norm = check_norm(norm)
        self.activation = check_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.data_format = check_data_format(data_format)

    @property
    def output_channels(self):
        return self.filters_1x1 + self.filters_3x3 + self.filters_5x5 + self.filters_pool_proj

    def build(self, input_shape):
        def unit(filters, kernel_size, name):
            return ConvNormAct(
                filters,
                kernel_size,
                norm=self.norm,
                activation=self.activation,
                use_bias=self.use_bias,
                kernel_initializer=self.kernel_initializer,
                data_format=self.data_format,
                norm_epsilon=self.norm_epsilon,
                norm_momentum=self.norm_momentum,
                name=name,
            )

        self.branch1 = unit(self.filters_1x1, 1, "branch1")
        self.branch2_reduce = unit(self.filters_3x3_reduce, 1, "branch2_reduce")
        self.branch2 = unit(self.filters_3x3, 3, "branch2")
        self.branch3_reduce = unit(self.filters_5x5_reduce, 1, "branch3_reduce")
        self.branch3 = unit(self.filters_5x5, self.kernel_size_5x5, "branch3")
        self.branch4_pool = Pooling("max", 3, strides=1, padding="same", data_format=self.data_format,
                                    name="branch4_pool")
        self.branch4 = unit(self.filters_pool_proj, 1, "branch4")
        shape = tuple(input_shape)
        for layer in (self.branch1, self.branch2_reduce, self.branch3_reduce, self.branch4_pool):
            layer.build(shape)
        self.branch4.build(shape)
        self.branch2.build(self.branch2_reduce.compute_output_shape(shape))
        self.branch3.build(self.branch3_reduce.compute_output_shape(shape))

    def call(self, inputs, training=None):
        axis = -1 if self.data_format == "channels_last" else 1
        units = (self.branch1, self.branch2, self.branch3, self.branch4)
        merge = bool(training) and self._mergeable(units)  # the training step's compile: inference is as it was
        reduced2, reduced3 = self._reductions(inputs, training) if merge else (
            self.branch2_reduce(inputs, training=training), self.branch3_reduce(inputs, training=training))
        convolved = [unit.convolve(x, training=training)
                     for unit, x in zip(units, (inputs, reduced2, reduced3, self.branch4_pool(inputs)))]
        if merge:
            # the four batch norms as one over the concatenation: the same numbers, one normalization to compile
            # instead of four of different widths (normalization.merged_batch_norm)
            x = merged_batch_norm([unit.norm_layer for unit in units], ops.concatenate(convolved, axis=-1), training)
            if x is not None:
                return x if units[0].act_layer is None else units[0].act_layer.activation(x)
        return ops.concatenate([unit.finish(x, training=training) for unit, x in zip(units, convolved)], axis=axis)

    def _mergeable(self, units):
        return self.data_format == "channels_last" and all(u.norm_layer is not None and not u.preact for u in units)

    def _reductions(self, inputs, training):
        """Branches 2 and 3's 1x1 reductions of the module's input as one convolution (their kernels side by side)
        and one batch norm, as `call` merges the branches' last ones; each on its own where that does not apply.
        """
        units = (self.branch2_reduce, self.branch3_reduce)
        if not self._mergeable(units) or any(u._pad_pairs is not None or u.conv.use_bias for u in units):
            return tuple(unit(inputs, training=training) for unit in units)
        kernel = ops.concatenate([unit.conv.kernel for unit in units], axis=-1)
        convolved = units[0].conv.convolution_op(inputs, kernel)  # the same settings: 1x1, stride 1, one group
        x = merged_batch_norm([unit.norm_layer for unit in units], convolved, training)
        if x is None:
            return tuple(unit.finish(part, training=training)
                         for unit, part in zip(units, ops.split(convolved, [units[0].filters], axis=-1)))
        if units[0].act_layer is not None:
            x = units[0].act_layer.activation(x)
        return tuple(ops.split(x, [units[0].filters], axis=-1))

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[-1 if self.data_format == "channels_last" else 1] = self.output_channels
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters_1x1=self.filters_1x1,
            filters_3x3_reduce=self.filters_3x3_reduce,
            filters_3x3=self.filters_3x3,
            filters_5x5_reduce=self.filters_5x5_reduce,
            filters_5x5=self.filters_5x5,
            filters_pool_proj=self.filters_pool_proj,
            kernel_size_5x5=self.kernel_size_5x5,
            norm=self.norm,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            data_format=self.data_format,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
        )
        return config
