"""Residual blocks of ResNet, for every rank: ``BasicBlock`` and ``Bottleneck``.

He et al. 2016, "Deep Residual Learning for Image Recognition" (v1, shortcut
options A and B), and "Identity Mappings in Deep Residual Networks" (v2,
pre-activation). Both blocks share one implementation (`ResidualBlock`); they
differ only in the list of units on the residual branch.
"""

import keras
from keras import ops

from cnnzoo.layers import initializers
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.conv_norm_act import ConvNormAct, channels_of, check_data_format, conv_layer_class, conv_layer_name
from cnnzoo.layers.normalization import (
    check_activation,
    check_norm,
    check_norm_settings,
    make_activation,
    make_norm,
)
from cnnzoo.layers.regularization import DropPath

SHORTCUTS = ("A", "B")


class ResidualBlock(keras.layers.Layer):
    """The mechanics every residual block shares: shortcut, drop path, merge.

    Subclasses set ``expansion`` and implement ``branch_units``.

    Args:
        filters: base channels; the block outputs ``filters * expansion``.
        strides: int or tuple. Defaults to `1`.
        shortcut: when the shape changes, ``"B"`` projects with a 1x1
            convolution + norm, ``"A"`` subsamples and pads channels with zeros
            (no parameters, the CIFAR ResNets). Defaults to `"B"`.
        stride_in_1x1: put the stride in the first 1x1 convolution (the paper,
            keras.applications) rather than in the 3x3 (torchvision, "ResNet
            v1.5"). Only the bottleneck has a 1x1 first. Defaults to `False`.
        preact: pre-activation (v2) form: norm -> activation -> convolution,
            no activation after the addition. Defaults to `False`.
        zero_init_residual: the last unit of the branch starts at zero (its
            norm's gamma, or its kernel in the pre-activation form), so the
            block starts as the identity. Defaults to `False`.
        drop_path_rate: stochastic depth rate. Defaults to `0.0`.
        groups: groups of the 3x3 convolution (ResNeXt). Defaults to `1`.
        base_width: width per group of the bottleneck (64 for ResNet).
            Defaults to `64`.
        dilation_rate: dilation of the 3x3 convolutions. Defaults to `1`.
        kernel_size: the "3x3" kernel, an int or a tuple (``(1, 3, 3)`` is the
            spatial-only kernel of the MC3 video networks). Defaults to `3`.
        causal: causal padding (rank 1): every output sees only the present and
            the past, the temporal convolutional network form. Defaults to `False`.
        conv_layer: the layer class (or its registered name) of the branch's
            convolutions larger than 1x1, as torchvision's video ResNets take a
            ``conv_maker``: `Conv2Plus1D` gives R(2+1)D's block. A class with a
            ``block_kwargs(in_channels, filters, kernel_size, **unit)`` static
            method gets what it returns, computed once per block (Conv2Plus1D's
            mid-channels, shared by both units as in torchvision). Defaults to
            `None`: Keras's ``Conv{rank}D``.
        norm: Defaults to `"batch"`.
        activation: Defaults to `"relu"`.
        use_bias: convolution biases. Defaults to `False`.
        kernel_initializer: Defaults to `"he_normal"`.
        rank: 1, 2, 3 or None (from the input). Defaults to `None`.
        data_format: Defaults to `None`: `keras.config.image_data_format()`.
        norm_epsilon, norm_momentum: as in `ConvNormAct`. Default to `None`.
    """

    expansion = 1

    def __init__(
        self,
        filters,
        strides=1,
        shortcut="B",
        stride_in_1x1=False,
        preact=False,
        zero_init_residual=False,
        drop_path_rate=0.0,
        groups=1,
        base_width=64,
        dilation_rate=1,
        norm="batch",
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        rank=None,
        data_format=None,
        kernel_size=3,
        conv_layer=None,
        causal=False,
        norm_epsilon=None,
        norm_momentum=None,
        **kwargs,
    ):
        rank_lib.check_arguments(type(self).__init__, locals())
        super().__init__(**kwargs)
        self.norm_epsilon, self.norm_momentum = check_norm_settings(norm_epsilon, norm_momentum)
        self.causal = bool(causal)
        self.conv_layer = conv_layer_class(conv_layer)
        rank_lib.check_positive_ints(kernel_size, "kernel_size")
        self.kernel_size = kernel_size
        rank_lib.positive_int(filters, "filters")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}. Received: shortcut={shortcut!r}")
        if rank is not None:
            rank_lib.check_rank(rank)
            rank_lib.normalize_tuple(strides, rank, "strides")
        else:
            rank_lib.check_positive_ints(strides, "strides")
        for value, name in ((groups, "groups"), (base_width, "base_width"), (dilation_rate, "dilation_rate")):
            rank_lib.positive_int(value, name)
        if isinstance(drop_path_rate, bool) or not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(
                f"drop_path_rate must be in [0, 1). Received: drop_path_rate={drop_path_rate!r}"
            )
        self.filters = filters
        self.strides = strides
        self.shortcut = shortcut
        self.stride_in_1x1 = bool(stride_in_1x1)
        self.preact = bool(preact)
        self.zero_init_residual = bool(zero_init_residual)
        self.drop_path_rate = float(drop_path_rate)
        self.groups = groups
        self.base_width = base_width
        self.dilation_rate = dilation_rate
        self.norm = check_norm(norm)
        self.activation = check_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.rank = rank
        self.data_format = check_data_format(data_format)

    @property
    def output_channels(self):
        return self.filters * self.expansion

    def branch_units(self, strides):
        """The residual branch: a list of ``(filters, kernel_size, strides, dilation, groups)``."""
        raise NotImplementedError

    def _kernel(self, rank):
        return rank_lib.normalize_tuple(self.kernel_size, rank, "kernel_size")

    def build(self, input_shape):
        owner = f"{type(self).__name__} '{self.name}'"
        rank = rank_lib.rank_of_shape(input_shape, owner)
        if self.rank is not None and rank != self.rank:
            raise ValueError(
                f"{owner} was made for rank {self.rank}. Received: input_shape={tuple(input_shape)}"
            )
        if self.causal and rank != 1:
            raise ValueError(f"{owner}: causal=True needs a 1D input. Received: input_shape={tuple(input_shape)}")
        strides = rank_lib.normalize_tuple(self.strides, rank, "strides")
        in_channels = channels_of(input_shape, self.data_format, owner)
        common = dict(
            norm=self.norm,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            data_format=self.data_format,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
        )
        shape = tuple(input_shape)
        self._build_preact(shape, in_channels)
        self._build_shortcut(shape, strides, in_channels, common, owner)
        self._build_branch(shape, rank, strides, in_channels, common)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path") if self.drop_path_rate else None
        self.out_act = None if self.preact else make_activation(self.activation, name="out_act")

    def _build_preact(self, shape, in_channels):
        """v2: one norm-activation on the input, shared by branch and projection."""
        self.pre_norm = self.pre_act = None
        if not self.preact:
            return
        self.pre_norm = make_norm(
            self.norm, in_channels, axis=self._channel_axis(), name="preact_norm",
            epsilon=self.norm_epsilon, momentum=self.norm_momentum,
        ) if self.norm else None
        if self.pre_norm is not None:
            self.pre_norm.build(shape)
        self.pre_act = make_activation(self.activation, name="preact_act")

    def _build_shortcut(self, shape, strides, in_channels, common, owner):
        """Identity, a 1x1 projection (option B) or subsampling and zero channels (option A)."""
        out_channels = self.output_channels
        self.projection = None
        self._pad_channels = None
        self._subsample = None
        if max(strides) == 1 and in_channels == out_channels:
            return
        if self.shortcut == "B":
            self.projection = ConvNormAct(
                out_channels,
                1,
                strides=strides,
                padding="valid",
                **{**common, "activation": None, "norm": None if self.preact else self.norm},
                name="shortcut",
            )
            self.projection.build(shape)
            return
        if out_channels < in_channels:
            raise ValueError(
                f"{owner}: shortcut='A' pads channels and cannot reduce them from "
                f"{in_channels} to {out_channels}."
            )
        self._subsample = strides if max(strides) > 1 else None
        extra = out_channels - in_channels
        self._pad_channels = (extra // 2, extra - extra // 2) if extra else None

    def _build_branch(self, shape, rank, strides, in_channels, common):
        """The residual branch's units (`branch_units`), convolutions larger than 1x1 by ``conv_layer``."""
        conv_unit = {}
        if self.conv_layer is not None:
            shared = getattr(self.conv_layer, "block_kwargs", None)
            unit = {k: common[k] for k in ("norm", "activation", "norm_epsilon", "norm_momentum")}
            shared = shared(in_channels, self.filters, self._kernel(rank), **unit) if shared else None
            conv_unit = dict(conv_layer=self.conv_layer, conv_kwargs=shared)
        units = self.branch_units(strides)
        self.units = []
        for i, (filters, kernel_size, unit_strides, dilation, groups) in enumerate(units):
            last = i == len(units) - 1
            kernel = rank_lib.normalize_tuple(kernel_size, rank, "kernel_size")
            padding = "causal" if self.causal else tuple(
                d * (k - 1) // 2 for k, d in zip(kernel, rank_lib.normalize_tuple(dilation, rank, "dilation_rate"))
            )
            unit_kwargs = dict(common)
            if self.preact:
                unit_kwargs["preact"] = True
                if i == 0:
                    unit_kwargs.update(norm=None, activation=None)
            elif last:
                unit_kwargs["activation"] = None
            if max(kernel) > 1:
                unit_kwargs.update(conv_unit)
            unit = ConvNormAct(
                filters,
                kernel_size,
                strides=unit_strides,
                padding=padding,
                dilation_rate=dilation,
                groups=groups,
                zero_init=last and self.zero_init_residual,
                **unit_kwargs,
                name=f"conv{i + 1}",
            )
            unit.build(shape)
            shape = unit.compute_output_shape(shape)
            self.units.append(unit)

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _parameter_free_shortcut(self, x):
        if self._subsample is not None:
            index = [slice(None)] * len(x.shape)
            spatial = range(1, len(x.shape) - 1) if self.data_format == "channels_last" else range(2, len(x.shape))
            for axis, s in zip(spatial, self._subsample):
                index[axis] = slice(None, None, s)
            x = x[tuple(index)]
        if self._pad_channels is not None:
            pads = [(0, 0)] * len(x.shape)
            pads[self._channel_axis()] = self._pad_channels
            x = ops.pad(x, pads)
        return x

    def call(self, inputs, training=None):
        x = inputs
        if self.preact:
            if self.pre_norm is not None:
                x = self.pre_norm(x, training=training)
            if self.pre_act is not None:
                x = self.pre_act(x)
        if self.projection is not None:
            # v2 projects the pre-activated input; v1 the block input.
            shortcut = self.projection(x if self.preact else inputs, training=training)
        else:
            shortcut = self._parameter_free_shortcut(inputs)
        branch = x
        for unit in self.units:
            branch = unit(branch, training=training)
        if self.drop_path is not None:
            branch = self.drop_path(branch, training=training)
        out = shortcut + branch
        if self.out_act is not None:
            out = self.out_act(out)
        return out

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        shape = tuple(input_shape)
        for unit in self.units:
            shape = unit.compute_output_shape(shape)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            strides=self.strides,
            shortcut=self.shortcut,
            stride_in_1x1=self.stride_in_1x1,
            preact=self.preact,
            zero_init_residual=self.zero_init_residual,
            drop_path_rate=self.drop_path_rate,
            groups=self.groups,
            base_width=self.base_width,
            dilation_rate=self.dilation_rate,
            kernel_size=self.kernel_size,
            conv_layer=conv_layer_name(self.conv_layer),
            causal=self.causal,
            norm=self.norm,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            rank=self.rank,
            data_format=self.data_format,
            norm_epsilon=self.norm_epsilon,
            norm_momentum=self.norm_momentum,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # .keras files written before the blocks took a convolution layer name it by a string
        if config.pop("conv_type", None) == "2plus1d":
            config["conv_layer"] = "cnnzoo>Conv2Plus1D"
        return cls(**config)


@keras.saving.register_keras_serializable(package="cnnzoo")
class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions with a shortcut (ResNet-18/34 and the CIFAR ResNets).

    Outputs ``filters`` channels; the stride is in the first 3x3. See
    `ResidualBlock` for the arguments. ``groups`` must be 1 and ``base_width``
    64, as in torchvision.
    """

    expansion = 1

    def branch_units(self, strides):
        if self.groups != 1 or self.base_width != 64:
            raise ValueError(
                "BasicBlock supports only groups=1 and base_width=64. "
                f"Received: groups={self.groups}, base_width={self.base_width}"
            )
        d = self.dilation_rate
        k = self._kernel(len(strides))
        return [
            (self.filters, k, strides, 1 if max(strides) > 1 else d, 1),
            (self.filters, k, 1, d, 1),
        ]


@keras.saving.register_keras_serializable(package="cnnzoo")
class Bottleneck(ResidualBlock):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), with a shortcut (ResNet-50/101/152).

    Outputs ``4 * filters`` channels; the 3x3 has ``filters * base_width / 64 *
    groups`` channels (at least one a group, for narrowed ResNeXts). The stride sits in the 3x3 (torchvision) or, with
    ``stride_in_1x1=True``, in the first 1x1 (the paper, keras.applications).
    See `ResidualBlock` for the arguments.
    """

    expansion = 4

    def branch_units(self, strides):
        # torchvision's width; at least one channel a group (a narrowed ResNeXt: width=1/8 of 64 base channels)
        width = max(1, int(self.filters * (self.base_width / 64.0))) * self.groups
        first, middle = (strides, 1) if self.stride_in_1x1 else (1, strides)
        d = self.dilation_rate
        return [
            (width, 1, first, 1, 1),
            (width, self._kernel(len(strides)), middle,
             1 if max(rank_lib.normalize_tuple(middle, len(strides), "strides")) > 1 else d, self.groups),
            (self.output_channels, 1, 1, 1, 1),
        ]
