"""The one builder every family goes through.

A family (`Family`) declares only what is its own: a trunk function, a head
function, its defaults and options, and what only it knows (its torchvision
name rules, the options pretrained weights leave free, the arguments its
published files were built with, its auxiliary-loss weight, its stages).
`Family.register` decorates an entry point written in the family's module (a
row of the family's spec table); calling it runs `build_model`, which owns
everything the families share: binding the arguments (once), the
keras.applications arguments (validated once, in `ModelArgs`), the input and
its rank, the headless outputs (``include_top=False`` with ``pooling``),
``features_only``, every kind of ``weights=`` (weight sets, torchvision files,
Keras files), the model's name and its ``feature_info``.

Layer naming scheme (an API: weight loading, feature extraction and freezing
depend on it): ``<part>_<unit>`` where ``part`` is ``stem``, ``stageN`` (a run
of layers ending at a pooling boundary or a stride change; GoogLeNet keeps the
paper's ``inception3``/``4``/``5``) or ``head``; units are ``convN``,
``blockN``, ``pool``, ``fcN``...; the classifier is ``predictions`` as in
keras.applications. Composite blocks name their inner layers (``conv1``,
``shortcut``, ``branch2_reduce``...), so a weight path reads
``stage2_block1/conv1/norm/gamma``.
"""

import contextlib
import dataclasses
import inspect
import os
import textwrap
import types
import typing

import keras
import numpy as np

from cnnzoo import backends
from cnnzoo.layers import rank as rank_lib
from cnnzoo.layers.conv_norm_act import check_data_format
from cnnzoo.layers.normalization import check_activation, check_norm
from cnnzoo.layers.pooling import AdaptivePooling, GlobalPooling
from cnnzoo.registry import register_model
from cnnzoo.shapes import check_layout
from cnnzoo.weights import catalog, pretrained
from cnnzoo.weights.copying import copy_weights
from cnnzoo.weights.keras_files import load_keras_weights
from cnnzoo.weights.torchvision import compile_rules, load_torchvision_state

POOLINGS = (None, "avg", "max")
MAX_WIDTH = 16
_PARAM = inspect.Parameter


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One recorded stage output: its name, channels and reduction (total stride)."""

    name: str
    channels: int
    reduction: int


@dataclasses.dataclass(frozen=True)
class ModelArgs:
    """The arguments every model takes, validated once: keras.applications' and cnnzoo's five.

    Attributes:
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name: as in keras.applications.
        norm: ``"batch"``, ``"layer"``, ``"group"`` or None.
        activation: a Keras activation name, a callable or None.
        width: channel multiplier, in (0, `MAX_WIDTH`].
        dropout: the head's dropout rate, in [0, 1).
        features_only: the model outputs its recorded stages instead.
        data_format: ``"channels_last"`` or ``"channels_first"``; None (the default) follows
            ``keras.config.image_data_format()``, as keras.applications' builders do.
    """

    include_top: bool = True
    weights: typing.Any = None
    input_tensor: typing.Any = None
    input_shape: typing.Any = None
    pooling: typing.Optional[str] = None
    classes: int = 1000
    classifier_activation: typing.Any = "softmax"
    name: typing.Optional[str] = None
    norm: typing.Optional[str] = "batch"
    activation: typing.Any = "relu"
    width: float = 1.0
    dropout: float = 0.0
    features_only: bool = False
    data_format: typing.Optional[str] = None

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}. Received: pooling={self.pooling!r}")
        rank_lib.positive_int(self.classes, "classes")
        width = self.width
        if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
            raise ValueError(f"width must be a positive number. Received: width={width!r}")
        if width > MAX_WIDTH:  # a huge finite width asked for terabytes of weights and killed the process
            raise ValueError(f"width must be at most {MAX_WIDTH} (a channel multiplier). Received: width={width!r}")
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        if self.weights is not None and not isinstance(self.weights, (str, os.PathLike)):
            raise TypeError(
                "weights must be None, a weight set name ('imagenet') or a path to a .weights.h5 / .keras / "
                f".pth / .safetensors file. Received: weights={self.weights!r}"
            )
        if not isinstance(self.include_top, bool):
            raise TypeError(f"include_top must be a bool. Received: include_top={self.include_top!r}")
        check_activation(self.classifier_activation, "classifier_activation")
        check_norm(self.norm)
        check_activation(self.activation)
        check_data_format(self.data_format)


ARGS = tuple(f.name for f in dataclasses.fields(ModelArgs))
_ARG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelArgs)}


def scaled(channels, width, divisor=1):
    """``channels * width``, rounded to a multiple of ``divisor`` and at least ``divisor``."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


@dataclasses.dataclass
class Build:
    """What a trunk and a head build with: one model's row, arguments and options.

    Attributes:
        model_name: the registered name (``"resnet50"``).
        spec: the family's row for this model (None for one-model families).
        args: the validated `ModelArgs`.
        options: the family's own arguments (``build.options.stem``...).
        rank: 1, 2 or 3, from the input shape.
        data_format: ``"channels_last"`` or ``"channels_first"``, resolved (every layer built inside
            `build_model` takes it as its default: `layout`).
        outputs: the recorded stage outputs, ``{name: tensor}``.
        feature_info: their `FeatureInfo`.
        extra_outputs: named outputs besides the head's (GoogLeNet's auxiliary
            classifiers); the model then outputs ``{"main": head, **extra_outputs}``.
    """

    model_name: str
    spec: typing.Any
    args: ModelArgs
    options: types.SimpleNamespace
    rank: int
    data_format: str = "channels_last"
    outputs: dict = dataclasses.field(default_factory=dict)
    feature_info: list = dataclasses.field(default_factory=list)
    extra_outputs: dict = dataclasses.field(default_factory=dict)

    def scaled(self, channels, divisor=1):
        """``channels`` times the model's width (see `scaled`)."""
        return scaled(channels, self.args.width, divisor)

    @property
    def channel_axis(self):
        """The channel axis of the model's tensors: -1 channels-last, 1 channels-first."""
        return -1 if self.data_format == "channels_last" else 1

    def spatial_shape(self, tensor):
        """The spatial sizes of ``tensor`` (a model tensor, batch axis included)."""
        shape = tuple(tensor.shape)
        return shape[1:-1] if self.data_format == "channels_last" else shape[2:]

    def channels(self, tensor):
        """The channels of ``tensor`` (a model tensor)."""
        return int(tensor.shape[self.channel_axis])

    @property
    def unit(self):
        """``{"norm", "activation"}`` of the model, for its convolution units."""
        return dict(norm=self.args.norm, activation=self.args.activation)

    def record(self, name, tensor, reduction):
        """Records a stage output for ``features_only`` and ``feature_info``."""
        self.outputs[name] = tensor
        self.feature_info.append(FeatureInfo(name, self.channels(tensor), int(reduction)))


def min_input_size(chain_for):
    """The smallest spatial size for which every step of a geometry chain stays >= 1.

    Args:
        chain_for: a function ``n -> [(kernel, stride, padding, dilation[, ceil_mode]), ...]``
            giving the downsampling steps of one spatial axis for input size ``n``.
    """
    for n in range(1, 4096):
        size = n
        for step in chain_for(n):
            size = rank_lib.conv_output_length(size, *step)
            if size < 1:
                break
        else:
            return n
    raise AssertionError("no input size fits")


def _input_shape(args, default_shape):
    if args.input_tensor is not None:
        if not keras.backend.is_keras_tensor(args.input_tensor):
            raise TypeError(
                f"input_tensor must be a Keras tensor (keras.Input or a layer output). "
                f"Received: input_tensor={args.input_tensor!r}"
            )
        shape = tuple(args.input_tensor.shape[1:])
        if args.input_shape is not None and tuple(args.input_shape) != shape:
            raise ValueError(f"input_shape={tuple(args.input_shape)} conflicts with input_tensor of shape {shape}.")
        return shape
    shape = default_shape if args.input_shape is None else args.input_shape
    try:
        entries = list(shape)
    except TypeError:
        raise TypeError(
            f"input_shape must be a tuple of ints or None. Received: input_shape={args.input_shape!r}"
        ) from None
    # ints only: int(32.5) would truncate and True would read as 1 channel
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))) for d in entries):
        raise TypeError(
            f"input_shape must hold ints (or None for a free size). Received: input_shape={args.input_shape!r}"
        )
    return tuple(None if d is None else int(d) for d in entries)


def model_input(model_name, args, *, default_shape, min_size, data_format="channels_last"):
    """Makes the model input and reads its rank from the shape.

    ``(L, C)`` gives rank 1, ``(H, W, C)`` rank 2, ``(T, H, W, C)`` rank 3; channels first, ``(C, L)``,
    ``(C, H, W)``, ``(C, T, H, W)``. ``default_shape`` is channels-last (a family's declared shape).

    Returns:
        ``(inputs, x, rank)``: the model's input(s), the tensor to build on, the rank.
    """
    first = data_format == "channels_first"
    if first:
        default_shape = (default_shape[-1],) + tuple(default_shape[:-1])
    shape = _input_shape(args, default_shape)
    forms = "(C, L) for 1D, (C, H, W) for 2D or (C, T, H, W)" if first else \
        "(L, C) for 1D, (H, W, C) for 2D or (T, H, W, C)"
    if len(shape) - 1 not in rank_lib.RANKS:
        raise ValueError(f"{model_name} takes input_shape {forms} for 3D (data_format={data_format!r}). "
                         f"Received: input_shape={shape}")
    channels, spatial = (shape[0], shape[1:]) if first else (shape[-1], shape[:-1])
    if channels is None or channels < 1 or any(d is not None and d < 1 for d in shape):
        raise ValueError(f"input_shape must have positive sizes and known channels. Received: input_shape={shape}")
    if args.input_tensor is None:
        check_layout(shape, data_format)  # (3, 224, 224) channels-last would build another network
    rank = len(shape) - 1
    if any(d is not None and d < min_size for d in spatial):
        raise ValueError(
            f"{model_name} needs every spatial dimension >= {min_size} (for rank {rank}, the same "
            f"bound on each axis). Received: input_shape={shape}"
        )
    if args.input_tensor is not None:
        inputs = keras.utils.get_source_inputs(args.input_tensor)
        return (inputs[0] if len(inputs) == 1 else inputs), args.input_tensor, rank
    x = keras.Input(shape=shape, name="input")
    return x, x, rank


@contextlib.contextmanager
def layout(data_format):
    """Builds in ``data_format``: inside, ``keras.config.image_data_format()`` is ``data_format``, so every layer
    made with ``data_format=None`` (Keras's and cnnzoo's) takes it and records it in its config; the user's
    setting is restored after.
    """
    before = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        yield
    finally:
        keras.config.set_image_data_format(before)


def global_pool_head(x, build):
    """Global average pooling -> dropout -> dense classifier (ResNet, GoogLeNet)."""
    args = build.args
    x = GlobalPooling("avg", name="head_pool")(x)
    if args.dropout:
        x = keras.layers.Dropout(args.dropout, name="head_dropout")(x)
    return keras.layers.Dense(args.classes, activation=args.classifier_activation, name="predictions")(x)


def dense_head(x, build, *, hidden, dropout_first):
    """Flatten -> [dropout] -> hidden dense layers -> classifier (LeNet, AlexNet, VGG).

    Args:
        x: the trunk's output.
        build: the `Build` (its width, dropout, classes, activations).
        hidden: units of each hidden dense layer.
        dropout_first: dropout before each hidden layer (torchvision's AlexNet)
            rather than after it (VGG).
    """
    args = build.args
    x = keras.layers.Flatten(name="head_flatten")(x)
    for i, units in enumerate(hidden, start=1):
        if args.dropout and dropout_first:
            x = keras.layers.Dropout(args.dropout, name=f"head_dropout{i}")(x)
        x = keras.layers.Dense(units, activation=args.activation, name=f"head_fc{i}")(x)
        if args.dropout and not dropout_first:
            x = keras.layers.Dropout(args.dropout, name=f"head_dropout{i}")(x)
    return keras.layers.Dense(args.classes, activation=args.classifier_activation, name="predictions")(x)


def pooled_dense_head(pool_size, *, dropout_first, hidden=4096):
    """torchvision's AlexNet and VGG head: an adaptive average pool to ``pool_size`` (the identity at
    224x224, so other input sizes work), then two ``hidden``-unit layers (times the width) and the
    classifier (`dense_head`).
    """

    def head(x, build):
        x = AdaptivePooling(pool_size, name="head_adaptive_pool")(x)
        return dense_head(x, build, hidden=[build.scaled(hidden)] * 2, dropout_first=dropout_first)

    return head


# Builder arguments that leave a pretrained network's weights meaning what they meant: the head
# (replaced or dropped as keras.applications does), the input size, regularization used only in
# training. A family adds its own (`Family.pretrained_free`: ResNet's output_stride...).
PRETRAINED_FREE = frozenset({
    "include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
    "name", "dropout", "features_only", "data_format",
})


@dataclasses.dataclass(frozen=True)
class Registration:
    """One registered model of a family: its row, signature, fixed arguments and where it builds."""

    spec: typing.Any
    signature: inspect.Signature
    fixed: dict
    options: dict  # every family option's default for this model, the hidden ones too
    default_shape: tuple
    ranks: tuple
    rank_error: typing.Optional[str]


@dataclasses.dataclass(frozen=True)
class Family:
    """What a family declares: its trunk, its head, its defaults and options, and what only it knows.

    Attributes:
        trunk: ``trunk(x, build) -> x``: the layers from the input to the head,
            recording stage outputs with ``build.record``.
        head: ``head(x, build) -> outputs`` for ``include_top=True``.
            Defaults to `global_pool_head`.
        defaults: the family's defaults of the `ModelArgs` fields
            (``{"norm": None, "dropout": 0.5}``).
        options: the family's own keyword arguments and their defaults.
        docs: one line per argument whose meaning is the family's own
            (``{"dropout": "before each hidden dense layer."}``).
        check: ``check(build)``, raises on a bad option (after `ModelArgs`).
        prepare: ``prepare(arguments) -> arguments`` before anything is
            validated (defaults that depend on an option: LeNet-5's activation).
        default_shape: the input shape when ``input_shape`` is None.
        min_size: the smallest spatial size, or ``min_size(spec, options)``.
        ranks: the input ranks the family builds for.
        rank_error: what the family is, for an input of another rank
            (``"a video network: input_shape must be (T, H, W, C)"``).
        specs: the spec table, so that ``register()`` finds a model's row by its name.
        row_defaults: ``row_defaults(spec) -> {option: default}``: defaults a row sets
            (a ResNet row's stem and shortcut).
        stages: ``stages(spec, options) -> ("stem", "stage1", ...)``: the prefixes of
            the stages' layer names, input to output (fine-tuning unfreezes from the last).
        torchvision_rules: ``torchvision_rules(model_name, spec) -> [(regex, path fn)]``:
            torchvision's module paths to this family's layer paths (`cnnzoo.weights.torchvision`),
            or None when the family has no torchvision twin.
        pretrained_free: options that pretrained weights leave free (they do not change what
            the weights compute), beside the keras.applications arguments (`PRETRAINED_FREE`).
        pretrained_kwargs: builder arguments of the network a published file holds
            (GoogLeNet's files carry the auxiliary heads).
        aux_loss_weight: the loss weight of the auxiliary outputs (``build.extra_outputs``).
        task: ``"classification"`` or ``"detection"`` (the registry records it: ``list_models(task=)``).
    """

    trunk: typing.Callable
    head: typing.Callable = global_pool_head
    defaults: dict = dataclasses.field(default_factory=dict)
    options: dict = dataclasses.field(default_factory=dict)
    docs: dict = dataclasses.field(default_factory=dict)
    check: typing.Optional[typing.Callable] = None
    prepare: typing.Optional[typing.Callable] = None
    default_shape: tuple = (224, 224, 3)
    min_size: typing.Any = 1
    ranks: tuple = (1, 2, 3)
    rank_error: typing.Optional[str] = None
    specs: dict = dataclasses.field(default_factory=dict)
    row_defaults: typing.Optional[typing.Callable] = None
    stages: typing.Optional[typing.Callable] = None
    torchvision_rules: typing.Optional[typing.Callable] = None
    pretrained_free: tuple = ()
    pretrained_kwargs: dict = dataclasses.field(default_factory=dict)
    aux_loss_weight: typing.Optional[float] = None
    task: str = "classification"
    models: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def register(self, spec=None, *, defaults=None, fixed=None, options=None, default_shape=None, ranks=None,
                 rank_error=None):
        """Decorator that makes a function of the family's module a registered entry point.

        The function is written where the family is, three lines (timm's style)::

            @RESNET.register()
            def resnet18(*args, **kwargs):
                \"\"\"ResNet-18 (ImageNet).\"\"\"
                return RESNET.build("resnet18", args, kwargs)

        Its name is the registered name; its docstring's first line is the title, to which the
        arguments are added; its signature (``inspect.signature``, help, IDEs that read it) is the
        model's own: the keras.applications arguments, cnnzoo's five, the options it exposes,
        each with this model's default.

        Args:
            spec: the row the trunk reads as ``build.spec``. Defaults to
                ``specs[name]`` of the family's table.
            defaults: this model's defaults of arguments and options (``{"classes": 10}``),
                over the family's.
            fixed: arguments this model fixes: shown as defaults, and a
                different value raises (``vgg16_bn(norm=None)``).
            options: the names of the family options this model exposes;
                the others keep the family's defaults. Defaults to all.
            default_shape: this model's input shape when ``input_shape`` is None.
            ranks: this model's input ranks. Defaults to the family's.
            rank_error: what this model is, for an input of another rank.
                Defaults to the family's.

        Returns:
            The decorator; it returns the function itself, registered.
        """

        def decorate(fn):
            model_name = fn.__name__
            row = self.specs[model_name] if spec is None and model_name in self.specs else spec
            fixed_args = dict(fixed or {})
            row_defaults = self.row_defaults(row) if self.row_defaults is not None else {}
            model_defaults = {**_ARG_DEFAULTS, **self.defaults, **self.options, **row_defaults, **(defaults or {}),
                              **fixed_args}
            exposed = list(self.options) if options is None else list(options)
            unknown = [o for o in exposed if o not in self.options]
            if unknown:
                raise ValueError(f"{model_name}: options {unknown} are not options of this family "
                                 f"({list(self.options)})")
            signature = inspect.Signature(
                [_PARAM(a, _PARAM.POSITIONAL_OR_KEYWORD, default=model_defaults[a]) for a in ARGS]
                + [_PARAM(o, _PARAM.KEYWORD_ONLY, default=model_defaults[o]) for o in exposed]
            )
            registration = Registration(
                spec=row, signature=signature, fixed=fixed_args,
                options={o: model_defaults[o] for o in self.options},
                default_shape=tuple(default_shape or self.default_shape), ranks=tuple(ranks or self.ranks),
                rank_error=rank_error or self.rank_error)
            if model_name in self.models:
                raise ValueError(f"A model is already registered under name={model_name!r}")
            title = (fn.__doc__ or model_name).strip().splitlines()[0].rstrip(".")
            fn.__signature__ = signature
            fn.__doc__ = self._doc(title, model_defaults, exposed, fixed_args, registration.default_shape)
            options_ns = types.SimpleNamespace(**registration.options)
            info = dict(
                family=self.trunk.__module__.rsplit(".", 1)[-1], ranks=registration.ranks,
                input_shape=registration.default_shape, classes=model_defaults["classes"],
                min_size=self.min_size_of(row, options_ns),
                stages=tuple(self.stages(row, options_ns)) if self.stages is not None else (),
                aux_loss_weight=self.aux_loss_weight, task=self.task,
                torchvision_rules=compile_rules(self.torchvision_rules(model_name, row) or ()
                                                if self.torchvision_rules is not None else ()),
            )
            register_model(fn, info=info)
            self.models[model_name] = registration
            return fn

        return decorate

    def build(self, model_name, args=(), kwargs=None):
        """Builds ``model_name`` of this family from an entry point's ``*args, **kwargs``: the arguments
        are bound once, against the model's signature, and `build_model` does the rest.
        """
        return build_model(self, model_name, args, kwargs or {})

    def min_size_of(self, spec, options):
        """The smallest spatial size of one row built with ``options``."""
        return self.min_size(spec, options) if callable(self.min_size) else self.min_size

    def _doc(self, title, defaults, exposed, fixed, shape):
        lines = [
            f"{title}.",
            "",
            "    Args:",
            "        include_top, weights, input_tensor, input_shape, pooling, classes,",
            "            classifier_activation, name: as in keras.applications. Defaults:",
            f"            input shape {shape}, {defaults['classes']} classes.",
        ]
        common_docs = {
            "norm": "``\"batch\"``, ``\"layer\"``, ``\"group\"`` or None.",
            "activation": "a Keras activation name, a callable or None.",
            "width": "channel multiplier.",
            "dropout": "before the classifier.",
            "features_only": "outputs the recorded stages (``model.feature_info``).",
            "data_format": "``\"channels_last\"`` or ``\"channels_first\"``; None follows "
                           "``keras.config.image_data_format()``.",
        }
        for name in ("norm", "activation", "width", "dropout", "features_only", "data_format", *exposed):
            value = defaults[name]
            text = self.docs.get(name) or common_docs.get(name, "")
            tail = f"Fixed to `{value!r}`." if name in fixed else f"Defaults to `{value!r}`."
            lines.append(textwrap.fill(f"{name}: {text + ' ' if text else ''}{tail}", 100,
                                       initial_indent=" " * 8, subsequent_indent=" " * 12))
        lines += ["", "    Returns:", "        A ``keras.Model``.", "    "]
        return "\n".join(lines)


def _bind(family, model_name, args, kwargs):
    """The call's arguments bound once against the model's signature, checked: ``(explicit, all)``."""
    registration = family.models[model_name]
    try:
        bound = registration.signature.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{model_name}(): {e}") from None
    explicit = dict(bound.arguments)
    for key, value in registration.fixed.items():
        if key in explicit and explicit[key] != value:
            raise ValueError(f"{model_name} fixes {key}={value!r}; it cannot be changed. "
                             f"Received: {key}={explicit[key]!r}")
    rank_lib.check_arguments(_signature_holder(registration.signature), explicit)
    if explicit.get("features_only"):
        ignored = [f"{k}={explicit[k]!r}" for k in ("include_top", "pooling", "classes", "classifier_activation")
                   if k in explicit]
        if ignored:
            raise ValueError(f"{model_name}: features_only=True returns the stage outputs, so {', '.join(ignored)} "
                             f"would be ignored. Build with features_only=True alone. Received: {', '.join(ignored)}")
    bound.apply_defaults()
    return explicit, {**registration.options, **bound.arguments}


def _signature_holder(signature):
    """An object ``inspect.signature`` reads ``signature`` from (`check_arguments` takes a callable)."""

    def holder(**kwargs):
        return kwargs

    holder.__signature__ = signature
    return holder


def _construct(family, model_name, arguments):
    """The network, built without weights: the shared steps around the family's trunk and head."""
    registration = family.models[model_name]
    spec = registration.spec
    arguments = dict(arguments)  # a copy: prepare may set values, and the ModelArgs fields are popped from it
    if family.prepare is not None:
        arguments = family.prepare(arguments)
    args = ModelArgs(**{a: arguments.pop(a) for a in ARGS})
    build = Build(model_name, spec, args, types.SimpleNamespace(**arguments), rank=0,
                  data_format=check_data_format(args.data_format))
    if family.check is not None:
        family.check(build)
    # JAX: the batch norms' and heads' constants without a compiled program per shape
    with layout(build.data_format), backends.constants_on_host():
        inputs, x, build.rank = model_input(model_name, args, default_shape=registration.default_shape,
                                            min_size=family.min_size_of(spec, build.options),
                                            data_format=build.data_format)
        if build.rank not in registration.ranks:
            raise ValueError(f"{model_name} is {registration.rank_error}. Received: input_shape={tuple(x.shape[1:])}")
        x = family.trunk(x, build)
        if args.features_only:
            outputs = dict(build.outputs)
        elif args.include_top:
            outputs = family.head(x, build)
            if build.extra_outputs:
                outputs = {"main": outputs, **build.extra_outputs}
        elif args.pooling is not None:
            outputs = GlobalPooling(args.pooling, name="head_pool")(x)
        else:
            outputs = x
    model = keras.Model(inputs, outputs, name=args.name or model_name)
    model.feature_info = list(build.feature_info)
    if build.extra_outputs and family.aux_loss_weight is not None:
        model.aux_loss_weight = family.aux_loss_weight
    return model


def _same(a, b):
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b


def _check_pretrained_args(family, model_name, weight_set, explicit):
    """Options that change the network the weights were trained as raise; their defaults pass."""
    defaults = _model_defaults(family, model_name)
    free = PRETRAINED_FREE | set(family.pretrained_free)
    for name, value in explicit.items():
        if name in free or (name in defaults and _same(defaults[name], value)):
            continue
        raise ValueError(f"weights={weight_set.tag!r} are {model_name} as {weight_set.source or 'published'} "
                         f"trained it; {name}={value!r} would change that network. Leave {name} at its default "
                         f"({defaults.get(name, 'unset')!r}) or build without weights. Received: {name}={value!r}")


def _check_pretrained_input(model, model_name, weight_set, data_format):
    shape = tuple(model.inputs[0].shape[1:])
    rank = 3 if weight_set.preprocessing.kind == "video" else 2
    first = data_format == "channels_first"
    if len(shape) - 1 != rank or shape[0 if first else -1] != 3:
        expected = ("(3, T, H, W)" if rank == 3 else "(3, H, W)") if first else \
            ("(T, H, W, 3)" if rank == 3 else "(H, W, 3)")
        raise ValueError(f"weights={weight_set.tag!r} of {model_name} take {expected} RGB inputs. "
                         f"Received: input_shape={shape}")


def build_model(family, model_name, args, kwargs):
    """Builds one model of ``family`` from an entry point's call, and loads its weights.

    ``weights`` is None, a weight set's name (``"imagenet"``) or `WeightSet`, a torchvision
    ``.pth`` / ``.safetensors`` file (converted by the family's name rules), or a Keras
    ``.weights.h5`` / ``.keras`` file of the same network.
    """
    explicit, arguments = _bind(family, model_name, args, kwargs)
    weights = arguments["weights"]
    if weights is not None and not isinstance(weights, (str, os.PathLike, catalog.WeightSet)):
        ModelArgs(weights=weights)  # raises, naming the argument and what was received
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    arguments["weights"] = None
    if weights is None:
        return _construct(family, model_name, arguments)
    if pretrained.torch_file(weights):
        model = _construct(family, model_name, arguments)
        load_torchvision_state(model_name, model, weights)
        return model
    if catalog.is_weight_name(weights) or isinstance(weights, catalog.WeightSet):
        weight_set = catalog.get_weights(model_name, weights)
        _check_pretrained_args(family, model_name, weight_set,
                               {k: v for k, v in explicit.items() if k != "weights"})
        model = _construct(family, model_name, arguments)
        _check_pretrained_input(model, model_name, weight_set, check_data_format(arguments["data_format"]))
        # the published network, channels-last as the files hold it (a layer's weights are the same in either layout:
        # Keras's convolution kernels are, and its Flatten reads channels-first maps in channels-last order)
        reference_args = {**family.models[model_name].options, **_model_defaults(family, model_name),
                          "classes": weight_set.num_classes, **family.pretrained_kwargs, **weight_set.builder_kwargs,
                          "data_format": "channels_last"}
        reference = pretrained.load_weight_set(_construct(family, model_name, reference_args), weight_set)
        copy_weights(reference, model, skip_head=True, what=f"weights={weight_set.tag!r}")
        model.pretrained = weight_set
        return model
    model = _construct(family, model_name, arguments)
    load_keras_weights(model, weights)
    return model


def _model_defaults(family, model_name):
    """The model's own defaults of every argument (its signature's)."""
    return {name: p.default for name, p in family.models[model_name].signature.parameters.items()}
