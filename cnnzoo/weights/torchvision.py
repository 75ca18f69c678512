"""torchvision state dicts onto cnnzoo models, by name.

Every registered model with a torchvision twin (resnet18..152, ResNeXt, Wide
ResNet, vgg11..19 and their ``_bn`` variants, alexnet, googlenet, r3d_18,
mc3_18, r2plus1d_18) has name rules, declared by its family's module
(``torchvision_rules=`` on its `Family`, recorded in the registry): torchvision's
module path (``layer2.0.downsample.0``) to the cnnzoo layer path
(``stage2_block1/shortcut/conv``), or a whole tensor's key to a variable's path (SSD's
``backbone.scale_weight``). This module applies them; it knows no family. Mapping by order or by
shape is unsafe (a bottleneck stage's projection shortcut and its last 1x1
have the same shape, and cnnzoo creates the shortcut first while torchvision
registers ``downsample`` last), so nothing is matched by position.

Tensors are converted on the way: convolution kernels ``(O, I, *k)`` to
Keras's ``(*k, I, O)``, dense ``(O, I)`` to ``(I, O)``, BatchNorm ``weight /
bias / running_mean / running_var`` to ``gamma / beta / moving_mean /
moving_variance``; a dense layer that reads a ``Flatten`` has its rows
permuted from PyTorch's (C, H, W) order to Keras's (H, W, C).

`from_torchvision` builds the twin and loads a state dict into it; `weights=`
with a ``.pth`` file does the same through the builder.
"""

import re

import numpy as np

from cnnzoo import registry
from cnnzoo.weights.checkpoint_files import read_state_dict
from cnnzoo.weights.copying import is_head_layer

# Torch parameter names -> Keras variable names, for a norm and for a conv / dense layer.
_NORM_PARAMS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_LAYER_PARAMS = {"weight": "kernel", "bias": "bias"}
_IGNORED_PARAMS = ("num_batches_tracked",)


def conv_or_norm(index):
    """A ConvNormAct path's ``conv`` or ``norm`` from torchvision's ``conv`` / ``bn`` / ``0`` / ``1``."""
    return {"conv": "conv", "bn": "norm", "0": "conv", "1": "norm"}[index]


def indexed_rules(features, classifier):
    """Rules for ``nn.Sequential`` models (``features.N``, ``classifier.N``): exact paths from index tables."""
    table = {f"features.{i}": path for i, path in features.items()}
    table.update({f"classifier.{i}": path for i, path in classifier.items()})
    return [(re.escape(key), lambda m, path=path: path) for key, path in table.items()]


def compile_rules(rules):
    """``[(pattern text, path function)]`` as a family writes them -> compiled, for `ModelInfo`."""
    return tuple((re.compile(pattern), fn) for pattern, fn in rules)


def torchvision_twins():
    """The registered models that have a torchvision twin (their family declares its name rules)."""
    return tuple(n for n in registry.list_models() if registry.model_info(n).torchvision_rules)


def name_rules(arch):
    """``[(compiled regex over torch module paths, path function)]`` of a registered model's family."""
    info = registry.find_info(arch)
    if info is None or not info.torchvision_rules:
        raise ValueError(f"{arch!r} has no torchvision twin; these do: {', '.join(torchvision_twins())}. "
                         f"Received: name={arch!r}")
    return list(info.torchvision_rules)


def cnnzoo_layer_path(rules, module):
    """The cnnzoo layer path of a torchvision module path, or None when no rule matches."""
    for pattern, fn in rules:
        m = pattern.fullmatch(module)
        if m:
            return fn(m)
    return None


def _flattened_shape(model, dense_name):
    """The (H, W, C) shape a dense layer reads through a ``Flatten`` (shape-keeping layers such as
    dropout may sit between), or None: PyTorch flattens (C, H, W), so that layer's rows are permuted (Keras's
    Flatten flattens (H, W, C) in either data format).
    """
    import keras

    by_output = {}
    for layer in model.layers:
        try:
            by_output[id(layer.output)] = layer
        except (ValueError, AttributeError):  # a layer called more than once has no single output
            continue
    try:
        tensor = model.get_layer(dense_name).input
    except (ValueError, AttributeError):
        return None
    for _ in range(8):
        layer = by_output.get(id(tensor))
        if layer is None:
            return None
        if isinstance(layer, keras.layers.Flatten):
            shape = tuple(layer.input.shape)
            if len(shape) <= 2:
                return None
            # Keras's Flatten reads a channels-first map in channels-last order too: the rows are the same
            return shape[2:] + shape[1:2] if layer.data_format == "channels_first" else shape[1:]
        if not isinstance(layer, (keras.layers.Dropout, keras.layers.Activation)):
            return None
        tensor = layer.input
    return None


def _convert(value, kind, flattened):
    if kind == "kernel" and value.ndim >= 3:  # conv (O, I, *k) -> (*k, I, O)
        return np.transpose(value, tuple(range(2, value.ndim)) + (1, 0))
    if kind == "kernel" and value.ndim == 2:  # dense (O, I) -> (I, O)
        if flattened is not None:
            *spatial, channels = flattened
            value = value.reshape((value.shape[0], channels, *spatial))
            value = np.moveaxis(value, 1, -1).reshape(value.shape[0], -1)
        return value.T
    return value


def torchvision_assignments(arch, model, state_dict):
    """``{cnnzoo variable path: array}`` for a torchvision state dict, checked completely.

    Classifier tensors are skipped (listed in the second return value) when the
    model has no classifier or one for another number of classes; every other
    problem (a tensor no rule maps, a variable the state dict does not set, a
    shape that differs) is collected and raised in one ``ValueError``.

    Returns:
        ``(assignments, skipped_torch_keys)``.
    """
    rules = name_rules(arch)
    variables = {v.path: v for v in model.weights}
    assignments, skipped = {}, []
    unmapped, missing, mismatched = [], [], []
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if param in _IGNORED_PARAMS:
            continue
        whole = cnnzoo_layer_path(rules, key)  # a rule may name a whole tensor: SSD's L2 scale
        if whole is not None and whole in variables:
            value = np.asarray(value)
            if value.shape != tuple(variables[whole].shape):
                mismatched.append(f"{key} {value.shape} -> {whole} {tuple(variables[whole].shape)}")
            else:
                assignments[whole] = value
            continue
        layer_path = cnnzoo_layer_path(rules, module)
        if layer_path is None:
            unmapped.append(key)
            continue
        top = layer_path.split("/")[0]
        is_norm = f"{layer_path}/gamma" in variables or (param.startswith("running_"))
        names = _NORM_PARAMS if is_norm else _LAYER_PARAMS
        if param not in names:
            unmapped.append(key)
            continue
        target = f"{layer_path}/{names[param]}"
        if target not in variables:
            if is_head_layer(top) and not any(p.startswith(top + "/") for p in variables):
                skipped.append(key)  # the model has no such classifier layer
            else:
                missing.append(f"{key} -> {target}")
            continue
        converted = _convert(np.asarray(value), names[param], _flattened_shape(model, top))
        expected = tuple(variables[target].shape)
        if converted.shape != expected:
            if top.endswith("predictions"):
                skipped.append(key)  # another number of classes: the new classifier keeps its init
            else:
                mismatched.append(f"{key} {tuple(np.shape(value))} -> {target} {expected}")
            continue
        if target in assignments:
            mismatched.append(f"{key} -> {target}: set twice")
            continue
        assignments[target] = converted
    skipped_tops = {cnnzoo_layer_path(rules, k.rpartition(".")[0]).split("/")[0] for k in skipped}
    unset = [p for p in variables if p not in assignments and p.split("/")[0] not in skipped_tops]
    problems = []
    for title, items in (("torchvision tensors no cnnzoo layer takes", unmapped),
                         ("torchvision tensors whose cnnzoo variable does not exist", missing),
                         ("shapes that differ", mismatched),
                         ("cnnzoo variables the state dict does not set", unset)):
        if items:
            shown = ", ".join(items[:12]) + (f", ... ({len(items) - 12} more)" if len(items) > 12 else "")
            problems.append(f"{len(items)} {title}: {shown}")
    if problems:
        raise ValueError(f"The state dict does not fit cnnzoo's {arch} ({model.name}); nothing was loaded. "
                         + "; ".join(problems))
    return assignments, skipped


def load_torchvision_state(arch, model, state_dict_or_path):
    """Loads a torchvision state dict (or a ``.pth`` / ``.safetensors`` file) into a built cnnzoo model.

    Returns:
        The torchvision keys skipped because the model's classifier differs.
    """
    state = read_state_dict(state_dict_or_path)
    assignments, skipped = torchvision_assignments(arch, model, state)
    variables = {v.path: v for v in model.weights}
    for path, value in assignments.items():
        variables[path].assign(value)  # in the variable's dtype: Keras converts on every backend
    return skipped


def from_torchvision(name_or_model, state_dict_or_path, **builder_kwargs):
    """The cnnzoo twin of a torchvision model, with its weights.

    Args:
        name_or_model: a registered name with a torchvision twin (``"resnet50"``,
            ``"vgg16_bn"``, ``"googlenet"``, ``"r2plus1d_18"``...; see
            `cnnzoo.weights.torchvision_twins()`), or a cnnzoo model built by one of
            those builders (its ``name`` must be the registered name).
        state_dict_or_path: a ``.pth`` / ``.pt`` file (either of ``torch.save``'s
            formats; read without torch, and no pickled code is run), a
            ``.safetensors`` file, or a dict of arrays or tensors.
        **builder_kwargs: arguments for the builder when a name is given
            (``input_shape``, ``classes``, ``include_top``...). With
            ``include_top=False`` or other ``classes`` the classifier is skipped.

    Returns:
        The ``keras.Model``. Raises ``ValueError`` naming every tensor that does not
        fit (nothing is loaded then).
    """
    import keras

    if isinstance(name_or_model, str):
        if builder_kwargs.get("weights") is not None:
            raise ValueError(
                f"from_torchvision loads the weights itself. Received: weights={builder_kwargs['weights']!r}")
        arch = name_or_model
        name_rules(arch)  # raises for a model without a twin
        model = registry.get_model(arch, **builder_kwargs)
    elif isinstance(name_or_model, keras.Model):
        if builder_kwargs:
            raise ValueError(
                f"builder arguments need a model name, not a built model. Received: {sorted(builder_kwargs)}")
        model, arch = name_or_model, name_or_model.name
        if arch not in torchvision_twins():
            raise ValueError(f"model {arch!r} is not named after a torchvision twin; pass the registered name "
                             f"({', '.join(torchvision_twins())}) instead")
    else:
        raise TypeError(
            f"name_or_model must be a model name or a keras.Model. Received: {type(name_or_model).__name__}")
    load_torchvision_state(arch, model, state_dict_or_path)
    return model
