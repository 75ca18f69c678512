"""The (2+1)D factorized convolution of R(2+1)D networks, built from `ConvNormAct`.

It is a convolution layer in its own right: `ConvNormAct` (``conv_layer=Conv2Plus1D``) and the
residual blocks take it as their convolution, as torchvision's video ResNets take a
``conv_maker``; `Conv2Plus1D.block_kwargs` is what a residual block shares between its units.

Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions for Action
Recognition": a ``t x k x k`` convolution becomes a ``1 x k x k`` spatial
convolution to ``mid_filters`` channels, norm and activation, then a
``t x 1 x 1`` temporal convolution. torchvision chooses ``mid_filters`` so the
parameter count matches the full 3D convolution: `midplanes`.
"""

import keras

from cnnzoo.layers import initializers
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.conv_norm_act import ConvNormAct, channels_of, check_data_format
from cnnzoo.layers.normalization import check_activation, check_norm, check_norm_settings


def midplanes(in_channels, filters, kernel_size=3):
    """torchvision's mid-channels: ``(in*out*k^3) // (in*k^2 + k*out)``."""
    k = kernel_size
    return (in_channels * filters * k**3) // (in_channels * k**2 + k * filters)


@keras.saving.register_keras_serializable(package="cnnzoo")
class Conv2Plus1D(keras.layers.Layer):
    """Spatial ``1 x k x k`` convolution -> norm -> activation -> temporal ``k x 1 x 1`` convolution.

    Input ``(batch, T, H, W, C)``; the output has ``filters`` channels and no
    norm or activation of its own (the unit using it adds them).

    Args:
        filters: output channels.
        mid_filters: channels between the two convolutions; None uses `midplanes`.
        kernel_size: k, an int or a cubic ``(k, k, k)``. Defaults to `3`.
        strides: int or ``(t, h, w)``; the spatial part strides ``h, w``, the
            temporal part ``t``. Defaults to `1`.
        padding: ``k // 2`` on every axis (an int or tuple equal to it, or
            ``"same"``), or None for the same. Defaults to `None`.
        dilation_rate, groups: 1 only (Keras's convolution arguments, which
            `ConvNormAct` passes). Default to `1`.
        norm, activation: between the two convolutions. Defaults to `"batch"`, `"relu"`.
        use_bias: biases of the two convolutions. Defaults to `False`.
        kernel_initializer: Defaults to `"he_normal"`.
        data_format: ``"channels_last"`` or ``"channels_first"``. Defaults to `None`:
            `keras.config.image_data_format()`.
        norm_epsilon, norm_momentum: as in `ConvNormAct`. Default to `None`.
    """

    def __init__(self, filters, kernel_size=3, strides=1, padding=None, dilation_rate=1, groups=1,
                 mid_filters=None, norm="batch", activation="relu", use_bias=False, kernel_initializer="he_normal",
                 data_format=None, norm_epsilon=None, norm_momentum=None, **kwargs):
        rank_lib.check_arguments(type(self).__init__, locals())
        super().__init__(**kwargs)
        self.norm_epsilon, self.norm_momentum = check_norm_settings(norm_epsilon, norm_momentum)
        rank_lib.positive_int(filters, "filters")
        kernel = rank_lib.normalize_tuple(kernel_size, 3, "kernel_size")
        if len(set(kernel)) != 1:
            raise ValueError(f"Conv2Plus1D needs a cubic kernel. Received: kernel_size={kernel_size!r}")
        kernel_size = kernel[0]
        half = kernel_size // 2
        if padding not in (None, "same") and rank_lib.explicit_padding_pairs(padding, 3) != ((half, half),) * 3:
            raise ValueError(f"Conv2Plus1D pads k // 2 = {half} on every axis. Received: padding={padding!r}")
        for value, name in ((dilation_rate, "dilation_rate"), (groups, "groups")):
            if rank_lib.normalize_tuple(value, 3, name) != (1, 1, 1):
                raise ValueError(f"Conv2Plus1D takes {name}=1 only. Received: {name}={value!r}")
        rank_lib.positive_int(mid_filters, "mid_filters", allow_none=True)
        rank_lib.normalize_tuple(strides, 3, "strides")
        self.data_format = check_data_format(data_format)
        self.filters = filters
        self.mid_filters = mid_filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.norm = check_norm(norm)
        self.activation = check_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer

    @staticmethod
    def block_kwargs(in_channels, filters, kernel_size, **unit):
        """What a residual block passes to each of its units' Conv2Plus1D: torchvision's mid-channels,
        computed once from the block's input and output channels, and the block's norm and activation
        between the two convolutions (``unit``: ``norm, activation, norm_epsilon, norm_momentum``).
        """
        return dict(mid_filters=midplanes(in_channels, filters, max(kernel_size)), **unit)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(f"Conv2Plus1D '{self.name}' needs a 5D input (batch, T, H, W, C; channels first: "
                             "batch, C, T, H, W). "
                             f"Received: input_shape={tuple(input_shape)}")
        st, sh, sw = rank_lib.normalize_tuple(self.strides, 3, "strides")
        k, p = self.kernel_size, self.kernel_size // 2
        mid = self.mid_filters or midplanes(int(channels_of(input_shape, self.data_format, f"Conv2Plus1D "
                                                                                             f"'{self.name}'")),
                                            self.filters, k)
        self.spatial = ConvNormAct(mid, (1, k, k), strides=(1, sh, sw), padding=(0, p, p), norm=self.norm,
                                   activation=self.activation, use_bias=self.use_bias,
                                   norm_epsilon=self.norm_epsilon, norm_momentum=self.norm_momentum,
                                   kernel_initializer=self.kernel_initializer, data_format=self.data_format,
                                   name="spatial")
        self.temporal = ConvNormAct(self.filters, (k, 1, 1), strides=(st, 1, 1), padding=(p, 0, 0), norm=None,
                                    activation=None, use_bias=self.use_bias,
                                    kernel_initializer=self.kernel_initializer, data_format=self.data_format,
                                    name="temporal")
        self.spatial.build(input_shape)
        self.temporal.build(self.spatial.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        return self.temporal(self.spatial(inputs, training=training), training=training)

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self.temporal.compute_output_shape(self.spatial.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, mid_filters=self.mid_filters, kernel_size=self.kernel_size,
                      strides=self.strides, padding=None, dilation_rate=1, groups=1, norm=self.norm,
                      activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer), data_format=self.data_format,
                      norm_epsilon=self.norm_epsilon, norm_momentum=self.norm_momentum)
        return config
