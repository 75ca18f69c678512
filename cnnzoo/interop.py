"""Weights from elsewhere: torchvision state dicts, keras.applications ResNet50/101/152 and VGG16/19.

``from_torchvision(name_or_model, state_dict_or_path)`` maps a torchvision
state dict (a ``.pth`` file read without torch, a ``.safetensors`` file, or a
dict of arrays) onto the cnnzoo twin by name (`cnnzoo.weights.torchvision`).

``from_keras_applications(app_model)`` builds the equivalent cnnzoo network
(ResNet: ``stride_in_1x1=True, conv_bias=True``, keras.applications' layout) and
copies every weight, BatchNorm epsilon included, so predictions match the source.
This is how to start from ImageNet weights offline: load them into the
keras.applications model from a local file, then convert.
"""

import re

import keras

import cnnzoo

_RESNETS = {"resnet50": "resnet50", "resnet101": "resnet101", "resnet152": "resnet152"}
_VGGS = {"vgg16": "vgg16", "vgg19": "vgg19"}


def _head_kwargs(app):
    names = [la.name for la in app.layers]
    include_top = "predictions" in names
    kwargs = dict(input_shape=tuple(app.input_shape[1:]), include_top=include_top)
    if include_top:
        pred = app.get_layer("predictions")
        kwargs.update(classes=pred.units, classifier_activation=keras.activations.serialize(pred.activation))
    else:
        last = app.layers[-1]
        if isinstance(last, keras.layers.GlobalAveragePooling2D):
            kwargs["pooling"] = "avg"
        elif isinstance(last, keras.layers.GlobalMaxPooling2D):
            kwargs["pooling"] = "max"
    return kwargs


def _resnet_name_map(name):
    """keras.applications ResNet layer name -> cnnzoo weight owner path."""
    if name == "conv1_conv":
        return "stem_conv/conv"
    if name == "conv1_bn":
        return "stem_conv/norm"
    m = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", name)
    if m:
        stage, block, unit, kind = int(m[1]) - 1, int(m[2]), int(m[3]), m[4]
        part = "shortcut" if unit == 0 else f"conv{unit}"
        return f"stage{stage}_block{block}/{part}/{'conv' if kind == 'conv' else 'norm'}"
    if name == "predictions":
        return "predictions"
    return None


def _vgg_name_map(name):
    m = re.fullmatch(r"block(\d)_conv(\d)", name)
    if m:
        return f"stage{m[1]}_conv{m[2]}/conv"
    return {"fc1": "head_fc1", "fc2": "head_fc2", "predictions": "predictions"}.get(name)


def _sublayer(model, path):
    """The layer at ``path``: a top-level name, then ``conv`` / ``norm`` (inside a
    ConvNormAct), ``shortcut`` or ``convN`` (inside a residual block)."""
    top, *rest = path.split("/")
    layer = model.get_layer(top)
    for attr in rest:
        if attr == "conv":
            layer = layer.conv
        elif attr == "norm":
            layer = layer.norm_layer
        elif attr == "shortcut":
            layer = layer.projection
        else:
            layer = layer.units[int(attr[len("conv"):]) - 1]
        if layer is None:
            raise ValueError(f"cnnzoo model has no {path!r}")
    return layer


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
    from cnnzoo.weights.torchvision import TORCHVISION_TWINS, load_torchvision_state

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


def from_keras_applications(app_model):
    """The cnnzoo equivalent of a keras.applications ResNet50/101/152 or VGG16/19, weights copied.

    Args:
        app_model: a model made by ``keras.applications.ResNet50`` (101, 152),
            ``VGG16`` or ``VGG19``, with any weights.

    Returns:
        A cnnzoo ``keras.Model`` whose predictions match ``app_model``'s.
    """
    if not isinstance(app_model, keras.Model):
        raise TypeError(f"app_model must be a keras.Model. Received: {type(app_model).__name__}")
    family = app_model.name.lower()
    kwargs = _head_kwargs(app_model)
    if family in _RESNETS:
        model = cnnzoo.get_model(_RESNETS[family], stride_in_1x1=True, conv_bias=True, **kwargs)
        name_map = _resnet_name_map
    elif family in _VGGS:
        if kwargs["include_top"] and tuple(app_model.input_shape[1:3]) != (224, 224):
            raise ValueError("A keras.applications VGG with its top flattens the last feature map as it is; "
                             "cnnzoo's VGG pools it to 7x7 first, so they match only at 224x224. "
                             f"Received: input_shape={app_model.input_shape[1:]}")
        model = cnnzoo.get_model(_VGGS[family], **kwargs)
        name_map = _vgg_name_map
    else:
        raise ValueError("app_model must be keras.applications ResNet50/101/152 or VGG16/19. "
                         f"Received: a model named {app_model.name!r}")
    copied = 0
    for layer in app_model.layers:
        if not layer.weights:
            continue
        target_path = name_map(layer.name)
        if target_path is None:
            raise ValueError(f"no cnnzoo counterpart for keras.applications layer {layer.name!r}")
        target = _sublayer(model, target_path)
        if [tuple(w.shape) for w in target.weights] != [tuple(w.shape) for w in layer.weights]:
            raise ValueError(f"{layer.name!r} -> {target_path!r}: shapes differ "
                             f"({[tuple(w.shape) for w in layer.weights]} vs "
                             f"{[tuple(w.shape) for w in target.weights]})")
        target.set_weights(layer.get_weights())
        if isinstance(layer, keras.layers.BatchNormalization):
            target.epsilon = layer.epsilon
        copied += 1
    return model
