"""torchvision state dicts onto cnnzoo models, by name.

Every registered model with a torchvision twin (resnet18..152, vgg11..19 and
their ``_bn`` variants, alexnet, googlenet, r3d_18, mc3_18, r2plus1d_18) has a
name map here: torchvision's module path (``layer2.0.downsample.0``) to the
cnnzoo layer path (``stage2_block1/shortcut/conv``). Mapping by order or by
shape is unsafe (a bottleneck stage's projection shortcut and its last 1x1
have the same shape, and cnnzoo creates the shortcut first while torchvision
registers ``downsample`` last), so nothing is matched by position.

Tensors are converted on the way: convolution kernels ``(O, I, *k)`` to
Keras's ``(*k, I, O)``, dense ``(O, I)`` to ``(I, O)``, BatchNorm ``weight /
bias / running_mean / running_var`` to ``gamma / beta / moving_mean /
moving_variance``; the first dense layer after a flatten has its rows
permuted from PyTorch's (C, H, W) order to Keras's (H, W, C).

`from_torchvision` builds the twin and loads a state dict into it; `weights=`
with a ``.pth`` file does the same through the builder.
"""

import re

import numpy as np

from cnnzoo.weights.checkpoint_files import read_state_dict

# Torch parameter names -> Keras variable names, for a norm and for a conv / dense layer.
_NORM_PARAMS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_LAYER_PARAMS = {"weight": "kernel", "bias": "bias"}
_IGNORED_PARAMS = ("num_batches_tracked",)
# The first dense layer after each flatten, and that flatten (its input is (H, W, C) in Keras).
_FLATTENED = {"head_fc1": "head_flatten", "aux1_fc": "aux1_flatten", "aux2_fc": "aux2_flatten"}
# cnnzoo layers that belong to the classifier, skipped when the model has none or other classes.
_HEAD = re.compile(r"^(predictions|head_fc\d|aux\d_\w+)$")
_CLASSIFIERS = re.compile(r"^(predictions|aux\d_predictions)$")


def _unit(index):
    """A ConvNormAct path's ``/conv`` or ``/norm`` from torchvision's ``.conv`` / ``.bn`` / index."""
    return {"conv": "conv", "bn": "norm", "0": "conv", "1": "norm"}[index]


def _resnet_rules():
    return [
        (r"conv1", lambda m: "stem_conv/conv"),
        (r"bn1", lambda m: "stem_conv/norm"),
        (r"layer(\d+)\.(\d+)\.conv(\d)", lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/conv{m[3]}/conv"),
        (r"layer(\d+)\.(\d+)\.bn(\d)", lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/conv{m[3]}/norm"),
        (r"layer(\d+)\.(\d+)\.downsample\.([01])",
         lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/shortcut/{_unit(m[3])}"),
        (r"fc", lambda m: "predictions"),
    ]


def _video_rules(arch):
    if arch == "r2plus1d_18":
        stem = [(r"stem\.([0134])", lambda m: {"0": "stem_conv1/conv", "1": "stem_conv1/norm",
                                               "3": "stem_conv2/conv", "4": "stem_conv2/norm"}[m[1]])]
        conv = [(r"layer(\d+)\.(\d+)\.conv(\d)\.0\.([013])",
                 lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/conv{m[3]}/conv/"
                           + {"0": "spatial/conv", "1": "spatial/norm", "3": "temporal/conv"}[m[4]])]
    else:
        stem = [(r"stem\.([01])", lambda m: f"stem_conv/{_unit(m[1])}")]
        conv = [(r"layer(\d+)\.(\d+)\.conv(\d)\.0", lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/conv{m[3]}/conv")]
    return stem + conv + [
        (r"layer(\d+)\.(\d+)\.conv(\d)\.1", lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/conv{m[3]}/norm"),
        (r"layer(\d+)\.(\d+)\.downsample\.([01])",
         lambda m: f"stage{m[1]}_block{int(m[2]) + 1}/shortcut/{_unit(m[3])}"),
        (r"fc", lambda m: "predictions"),
    ]


def _indexed_rules(features, classifier):
    """Rules for ``nn.Sequential`` models: exact module paths from index tables."""
    table = {f"features.{i}": path for i, path in features.items()}
    table.update({f"classifier.{i}": path for i, path in classifier.items()})
    return [(re.escape(key), lambda m, path=path: path) for key, path in table.items()]


def _vgg_rules(arch):
    from cnnzoo.models.vgg import CONFIGS

    config, bn = arch.removesuffix("_bn"), arch.endswith("_bn")
    features, index = {}, 0
    for s, stage in enumerate(CONFIGS[config], start=1):
        for c in range(1, len(stage) + 1):
            features[index] = f"stage{s}_conv{c}/conv"
            if bn:
                features[index + 1] = f"stage{s}_conv{c}/norm"
            index += 3 if bn else 2  # conv, [bn,] relu
        index += 1  # max pool
    return _indexed_rules(features, {0: "head_fc1", 3: "head_fc2", 6: "predictions"})


def _alexnet_rules():
    features = {0: "stage1_conv/conv", 3: "stage2_conv/conv", 6: "stage3_conv1/conv", 8: "stage3_conv2/conv",
                10: "stage3_conv3/conv"}
    return _indexed_rules(features, {1: "head_fc1", 4: "head_fc2", 6: "predictions"})


def _googlenet_rules():
    branches = {"branch1": "branch1", "branch2.0": "branch2_reduce", "branch2.1": "branch2",
                "branch3.0": "branch3_reduce", "branch3.1": "branch3", "branch4.1": "branch4"}
    return [
        (r"conv([123])\.(conv|bn)", lambda m: f"stem_conv{m[1]}/{_unit(m[2])}"),
        (r"inception(\d)([a-e])\.(branch1|branch[234]\.[01])\.(conv|bn)",
         lambda m: f"inception{m[1]}_{m[2]}/{branches[m[3]]}/{_unit(m[4])}"),
        (r"aux([12])\.conv\.(conv|bn)", lambda m: f"aux{m[1]}_conv/{_unit(m[2])}"),
        (r"aux([12])\.fc1", lambda m: f"aux{m[1]}_fc"),
        (r"aux([12])\.fc2", lambda m: f"aux{m[1]}_predictions"),
        (r"fc", lambda m: "predictions"),
    ]


_FAMILIES = {
    **{f"resnet{d}": _resnet_rules for d in (18, 34, 50, 101, 152)},
    **{name: _resnet_rules for name in ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
                                        "wide_resnet101_2")},
    **{f"vgg{d}{bn}": (lambda arch=f"vgg{d}{bn}": _vgg_rules(arch)) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "alexnet": _alexnet_rules,
    "googlenet": _googlenet_rules,
    **{arch: (lambda arch=arch: _video_rules(arch)) for arch in ("r3d_18", "mc3_18", "r2plus1d_18")},
}
TORCHVISION_TWINS = tuple(sorted(_FAMILIES))


def name_rules(arch):
    """``[(compiled regex over torch module paths, path function)]`` for a registered model."""
    if arch not in _FAMILIES:
        raise ValueError(f"{arch!r} has no torchvision twin; these do: {', '.join(TORCHVISION_TWINS)}. "
                         f"Received: name={arch!r}")
    return [(re.compile(pattern), fn) for pattern, fn in _FAMILIES[arch]()]


def cnnzoo_layer_path(rules, module):
    """The cnnzoo layer path of a torchvision module path, or None when no rule matches."""
    for pattern, fn in rules:
        m = pattern.fullmatch(module)
        if m:
            return fn(m)
    return None


def _flattened_shape(model, dense_name):
    """The (H, W, C) shape a first dense layer reads through a flatten, or None."""
    flatten = _FLATTENED.get(dense_name)
    if flatten is None:
        return None
    try:
        shape = model.get_layer(flatten).input.shape
    except ValueError:
        return None
    return tuple(shape[1:]) if len(shape) > 2 else None


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
            if _HEAD.match(top) and not any(p.startswith(top + "/") for p in variables):
                skipped.append(key)  # the model has no such classifier layer
            else:
                missing.append(f"{key} -> {target}")
            continue
        converted = _convert(np.asarray(value), names[param], _flattened_shape(model, top))
        expected = tuple(variables[target].shape)
        if converted.shape != expected:
            if _CLASSIFIERS.match(top):
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
        variables[path].assign(value.astype(variables[path].dtype, copy=False))
    return skipped


def from_torchvision(name_or_model, state_dict_or_path, **builder_kwargs):
    """The cnnzoo twin of a torchvision model, with its weights.

    Args:
        name_or_model: a registered name with a torchvision twin (``"resnet50"``,
            ``"vgg16_bn"``, ``"googlenet"``, ``"r2plus1d_18"``...; see
            `cnnzoo.weights.TORCHVISION_TWINS`), or a cnnzoo model built by one of
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

    import cnnzoo

    if isinstance(name_or_model, str):
        if builder_kwargs.get("weights") is not None:
            raise ValueError(
                f"from_torchvision loads the weights itself. Received: weights={builder_kwargs['weights']!r}")
        arch = name_or_model
        if arch not in TORCHVISION_TWINS:
            raise ValueError(f"{arch!r} has no torchvision twin; these do: {', '.join(TORCHVISION_TWINS)}. "
                             f"Received: name_or_model={arch!r}")
        model = cnnzoo.get_model(arch, **builder_kwargs)
    elif isinstance(name_or_model, keras.Model):
        if builder_kwargs:
            raise ValueError(
                f"builder arguments need a model name, not a built model. Received: {sorted(builder_kwargs)}")
        model, arch = name_or_model, name_or_model.name
        if arch not in TORCHVISION_TWINS:
            raise ValueError(f"model {arch!r} is not named after a torchvision twin; pass the registered name "
                             f"({', '.join(TORCHVISION_TWINS)}) instead")
    else:
        raise TypeError(
            f"name_or_model must be a model name or a keras.Model. Received: {type(name_or_model).__name__}")
    load_torchvision_state(arch, model, state_dict_or_path)
    return model
