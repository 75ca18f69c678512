"""keras.applications ResNet50/101/152 and VGG16/19 into their cnnzoo equivalents, weights copied.

``from_keras_applications(app_model)`` builds the equivalent cnnzoo network
(ResNet: ``stride_in_1x1=True, conv_bias=True``, keras.applications' layout) and
copies every weight, BatchNorm epsilon included, so predictions match the source.
This is how to start from ImageNet weights offline: load them into the
keras.applications model from a local file, then convert. The name maps
(keras.applications layer name -> cnnzoo layer path) are here, one per family.
"""

import re

import keras

from cnnzoo import registry

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
    ConvNormAct), ``shortcut`` or ``convN`` (inside a residual block).
    """
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
        model = registry.get_model(_RESNETS[family], stride_in_1x1=True, conv_bias=True, **kwargs)
        name_map = _resnet_name_map
    elif family in _VGGS:
        if kwargs["include_top"] and tuple(app_model.input_shape[1:3]) != (224, 224):
            raise ValueError("A keras.applications VGG with its top flattens the last feature map as it is; "
                             "cnnzoo's VGG pools it to 7x7 first, so they match only at 224x224. "
                             f"Received: input_shape={app_model.input_shape[1:]}")
        model = registry.get_model(_VGGS[family], **kwargs)
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
