"""``ConvNormAct``: convolution -> normalization -> activation, for every rank."""

import keras
from keras import ops

from cnnzoo.layers import initializers
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.normalization import (
    check_activation,
    check_norm,
    check_norm_settings,
    make_activation,
    make_norm,
)
from cnnzoo.layers.rank import check_data_format  # noqa: F401  (the blocks import it from here too)


def spatial_dims(input_shape, data_format):
    """The spatial entries of a full ``(batch, ...)`` shape."""
    return tuple(input_shape[1:-1] if data_format == "channels_last" else input_shape[2:])


def conv_layer_class(value, name="conv_layer"):
    """A convolution layer class from itself or its Keras registered name (``"cnnzoo>Conv2Plus1D"``); None stays None.

    The class is what `ConvNormAct` and the residual blocks build their convolution with (as
    torchvision's video ResNets take ``conv_makers``); its registered name is what their configs save.
    """
    if value is None:
        return None
    cls = keras.saving.get_registered_object(value) if isinstance(value, str) else value
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise ValueError(f"{name} must be a keras.layers.Layer subclass or its registered name "
                         f"(e.g. 'cnnzoo>Conv2Plus1D'). Received: {name}={value!r}")
    return cls


def conv_layer_name(cls):
    """The registered name a config saves for a convolution layer class (None for the plain convolution)."""
    return None if cls is None else keras.saving.get_registered_name(cls)


def channels_of(input_shape, data_format, owner):
    """The channels of a full ``(batch, ...)`` shape; raises naming ``owner`` when they are unknown."""
    channels = input_shape[-1] if data_format == "channels_last" else input_shape[1]
    if channels is None:
        raise ValueError(
            f"{owner} needs a known number of input channels. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    return channels


@keras.saving.register_keras_serializable(package="cnnzoo")
class ConvNormAct(keras.layers.Layer):
    """Convolution, normalization and activation as one block, for rank 1, 2 or 3.

    The rank comes from the input (``(batch, L, C)``, ``(batch, H, W, C)`` or
    ``(batch, T, H, W, C)``) or from ``rank``. With ``preact=True`` the order is
    norm -> activation -> convolution (the pre-activation unit of ResNet v2),
    the norm then acting on the input channels.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of ``rank`` ints.
        strides: int or tuple. Defaults to `1`.
        padding: ``"same"``, ``"valid"``, ``"causal"`` (rank 1), or explicit zero
            padding (int, tuple of ints per axis, or tuple of ``(before, after)``
            pairs) so paper geometries such as AlexNet's 11x11/4 with padding 2
            are exact. Defaults to `"same"`.
        dilation_rate: int or tuple. Defaults to `1`.
        groups: number of channel groups. Defaults to `1`.
        use_bias: whether the convolution has a bias. Defaults to `None`: a bias
            only when no norm follows.
        norm: ``"batch"``, ``"layer"``, ``"group"`` or None. Defaults to `"batch"`.
        activation: a Keras activation name, a callable or None. Defaults to `"relu"`.
        kernel_initializer: Defaults to `"he_normal"`.
        zero_init: start the block's output at zero: the norm's scale is
            initialised to zero (the convolution kernel when the convolution is
            last or there is no norm). Used for the last unit of residual branches.
            Defaults to `False`.
        preact: norm -> activation -> convolution order. Defaults to `False`.
        rank: 1, 2 or 3, or None to take it from the input. Defaults to `None`.
        data_format: ``"channels_last"`` or ``"channels_first"``. Defaults to
            `None` (channels_last).
        conv_layer: the convolution's layer class (or its registered name), called with Keras's
            convolution arguments (``filters, kernel_size, strides, padding, dilation_rate, groups,
            use_bias, kernel_initializer, data_format``) and ``conv_kwargs``; it receives the padding
            as given and pads itself (`Conv2Plus1D` is one). Defaults to `None`: Keras's
            ``Conv{rank}D``, with explicit padding applied here.
        conv_kwargs: extra constructor arguments of ``conv_layer``. Defaults to `None`.
        norm_epsilon: the norm's epsilon; None is `make_norm`'s default
            (1e-5 for batch norm). Defaults to `None`.
        norm_momentum: batch norm's momentum; None is `make_norm`'s default
            (0.9). Defaults to `None`.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        dilation_rate=1,
        groups=1,
        use_bias=None,
        norm="batch",
        activation="relu",
        kernel_initializer="he_normal",
        zero_init=False,
        preact=False,
        rank=None,
        data_format=None,
        conv_layer=None,
        conv_kwargs=None,
        norm_epsilon=None,
        norm_momentum=None,
        **kwargs,
    ):
        rank_lib.check_arguments(type(self).__init__, locals())
        super().__init__(**kwargs)
        self.norm_epsilon, self.norm_momentum = check_norm_settings(norm_epsilon, norm_momentum)
        self.conv_layer = conv_layer_class(conv_layer)
        if conv_kwargs is not None and not isinstance(conv_kwargs, dict):
            raise TypeError(f"conv_kwargs must be a dict or None. Received: conv_kwargs={conv_kwargs!r}")
        self.conv_kwargs = dict(conv_kwargs or {})
        rank_lib.positive_int(filters, "filters")
        rank_lib.positive_int(groups, "groups")
        if filters % groups:
            raise ValueError(
                f"filters must be divisible by groups. Received: filters={filters}, groups={groups}"
            )
        if rank is not None:
            rank_lib.check_rank(rank)
            rank_lib.normalize_tuple(kernel_size, rank, "kernel_size")
            rank_lib.normalize_tuple(strides, rank, "strides")
            rank_lib.normalize_tuple(dilation_rate, rank, "dilation_rate")
        else:
            rank_lib.check_positive_ints(kernel_size, "kernel_size")
            rank_lib.check_positive_ints(strides, "strides")
            rank_lib.check_positive_ints(dilation_rate, "dilation_rate")
        self.padding = rank_lib.check_padding(padding)
        if self.padding == "causal" and rank not in (None, 1):
            raise ValueError(f"padding='causal' needs rank 1. Received: rank={rank}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.groups = groups
        self.norm = check_norm(norm)
        self.activation = check_activation(activation)
        self.use_bias = (self.norm is None or preact) if use_bias is None else bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.zero_init = bool(zero_init)
        self.preact = bool(preact)
        self.rank = rank
        self.data_format = check_data_format(data_format)

    def build(self, input_shape):
        rank = rank_lib.rank_of_shape(input_shape, f"ConvNormAct '{self.name}'")
        if self.rank is not None and rank != self.rank:
            raise ValueError(
                f"ConvNormAct '{self.name}' was made for rank {self.rank} and expects a "
                f"{self.rank + 2}D input. Received: input_shape={tuple(input_shape)}"
            )
        if self.padding == "causal" and rank != 1:
            raise ValueError(
                f"padding='causal' needs a rank-1 input. Received: input_shape={tuple(input_shape)}"
            )
        kernel = rank_lib.normalize_tuple(self.kernel_size, rank, "kernel_size")
        strides = rank_lib.normalize_tuple(self.strides, rank, "strides")
        dilation = rank_lib.normalize_tuple(self.dilation_rate, rank, "dilation_rate")
        if max(strides) > 1 and max(dilation) > 1:
            raise ValueError(
                "strides > 1 cannot be combined with dilation_rate > 1. "
                f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        in_channels = channels_of(input_shape, self.data_format, f"ConvNormAct '{self.name}'")
        if in_channels % self.groups:
            raise ValueError(
                f"The input channels must be divisible by groups={self.groups}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        conv_padding = self.padding
        pad_pairs = None
        if not isinstance(self.padding, str):
            pad_pairs = rank_lib.explicit_padding_pairs(self.padding, rank)
            conv_padding = "same" if pad_pairs == rank_lib.same_padding_pairs(
                kernel, strides, dilation
            ) else "valid"
            if conv_padding == "same" or all(p == (0, 0) for p in pad_pairs):
                pad_pairs = None
        if self.conv_layer is not None:
            pad_pairs = None  # a custom convolution pads itself
        else:
            if conv_padding == "same":
                conv_padding, pad_pairs = self._same_as_explicit(input_shape, kernel, strides, dilation)
            self._check_fits(input_shape, kernel, dilation, conv_padding, pad_pairs)

        shape = tuple(input_shape)
        self.norm_layer = self.act_layer = None
        self._pad_pairs = pad_pairs
        if self.preact:
            self.norm_layer = self._make_norm(in_channels, zero_init=False)
            self.act_layer = make_activation(self.activation, name="act")
            if self.norm_layer is not None:
                self.norm_layer.build(shape)
        if pad_pairs is not None:
            shape = self._padded_shape(shape)
        zero_kernel = self.zero_init and (self.preact or self.norm is None)
        shape = self._build_conv(shape, rank, kernel, strides, dilation, conv_padding, zero_kernel)
        if not self.preact:
            self.norm_layer = self._make_norm(self.filters, zero_init=self.zero_init)
            if self.norm_layer is not None:
                self.norm_layer.build(shape)
            self.act_layer = make_activation(self.activation, name="act")

    def _build_conv(self, shape, rank, kernel, strides, dilation, conv_padding, zero_kernel):
        arguments = dict(
            strides=strides,
            padding=conv_padding,
            dilation_rate=dilation,
            groups=self.groups,
            use_bias=self.use_bias,
            kernel_initializer="zeros" if zero_kernel else initializers.get(self.kernel_initializer),
            data_format=self.data_format,
            name="conv",
        )
        if self.conv_layer is None:
            self.conv = rank_lib.CONV[rank](self.filters, kernel, **arguments)
        else:
            # A composite convolution keeps its initializer: zeroing every kernel of a product of
            # convolutions would leave no gradient (zero_init acts through the norm's scale).
            arguments.update(padding=self.padding, kernel_initializer=initializers.get(self.kernel_initializer))
            self.conv = self.conv_layer(self.filters, kernel, **arguments, **self.conv_kwargs)
        self.conv.build(shape)
        return self.conv.compute_output_shape(shape)

    def _make_norm(self, channels, zero_init):
        if self.norm is None:
            return None
        axis = -1 if self.data_format == "channels_last" else 1
        return make_norm(
            self.norm,
            channels,
            axis=axis,
            name="norm",
            gamma_initializer="zeros" if zero_init else "ones",
            epsilon=self.norm_epsilon,
            momentum=self.norm_momentum,
        )

    def _same_as_explicit(self, input_shape, kernel, strides, dilation):
        """``("same", None)``, or ``("valid", pad pairs)`` where 'same' would pad an axis by a negative amount (a
        stride longer than the dilated kernel): TensorFlow's CPU 3D convolution then shifts its windows by that
        amount, where 'same' means no padding (tests/test_layers.py found it).
        """
        dims = spatial_dims(input_shape, self.data_format)
        if any(n is None for n in dims):
            return "same", None
        totals = [(-(-n // s) - 1) * s + d * (k - 1) + 1 - n for n, k, s, d in zip(dims, kernel, strides, dilation)]
        if all(t >= 0 for t in totals):
            return "same", None
        pairs = tuple((max(t, 0) // 2, max(t, 0) - max(t, 0) // 2) for t in totals)
        return "valid", None if all(p == (0, 0) for p in pairs) else pairs

    def _check_fits(self, input_shape, kernel, dilation, conv_padding, pad_pairs):
        if conv_padding in ("same", "causal"):
            return
        for axis, n in enumerate(spatial_dims(input_shape, self.data_format)):
            if n is None:
                continue
            padded = n + (sum(pad_pairs[axis]) if pad_pairs else 0)
            effective = dilation[axis] * (kernel[axis] - 1) + 1
            if effective > padded:
                raise ValueError(
                    f"ConvNormAct '{self.name}': kernel_size={self.kernel_size} "
                    f"(dilated extent {effective}) is larger than the padded input "
                    f"({padded}) along spatial axis {axis}. "
                    f"Received: input_shape={tuple(input_shape)}"
                )

    def call(self, inputs, training=None):
        return self.finish(self.convolve(inputs, training=training), training=training)

    def convolve(self, inputs, training=None):
        """The first half of `call`: up to and including the convolution (with a pre-activation's norm and
        activation before it).
        """
        x = inputs
        if self.preact:
            if self.norm_layer is not None:
                x = self.norm_layer(x, training=training)
            if self.act_layer is not None:
                x = self.act_layer(x)
        if self._pad_pairs is not None:
            x = ops.pad(x, self._full_pad_pairs())
        return self.conv(x)

    def finish(self, x, training=None):
        """The second half of `call`: the norm and activation after the convolution (none with ``preact``)."""
        if not self.preact:
            if self.norm_layer is not None:
                x = self.norm_layer(x, training=training)
            if self.act_layer is not None:
                x = self.act_layer(x)
        return x

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        shape = tuple(input_shape)
        if self._pad_pairs is not None:
            shape = self._padded_shape(shape)
        return tuple(self.conv.compute_output_shape(shape))

    def _full_pad_pairs(self):
        if self.data_format == "channels_last":
            return [(0, 0), *self._pad_pairs, (0, 0)]
        return [(0, 0), (0, 0), *self._pad_pairs]

    def _padded_shape(self, shape):
        return tuple(
            None if d is None else d + sum(p) for d, p in zip(shape, self._full_pad_pairs())
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            groups=self.groups,
            use_bias=self.use_bias,
            norm=self.norm,
            activation=keras.activations.serialize(keras.activations.get(self.activation))
            if callable(self.activation)
            else self.activation,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            zero_init=self.zero_init,
            preact=self.preact,
            rank=self.rank,
            data_format=self.data_format,
            conv_layer=conv_layer_name(self.conv_layer),
            conv_kwargs=dict(self.conv_kwargs) or None,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # .keras files written before ConvNormAct took a convolution layer: conv_type="2plus1d" was a
        # Conv2Plus1D with this unit's norm and activation between its two convolutions
        mid_filters = config.pop("mid_filters", None)
        if config.pop("conv_type", None) == "2plus1d":
            config["conv_layer"] = "cnnzoo>Conv2Plus1D"
            config["conv_kwargs"] = dict(mid_filters=mid_filters, norm=config.get("norm") or "batch",
                                         activation=config.get("activation") or "relu",
                                         norm_epsilon=config.get("norm_epsilon"),
                                         norm_momentum=config.get("norm_momentum"))
        if isinstance(config.get("activation"), dict):
            config["activation"] = keras.activations.deserialize(config["activation"])
        if isinstance(config.get("kernel_initializer"), dict):
            config["kernel_initializer"] = keras.initializers.deserialize(
                config["kernel_initializer"]
            )
        return cls(**config)
