"""Transfer learning helpers: freeze up to a stage, replace the head, adapt the
first convolution to another number of input channels, copy weights by name.

Keras pitfall handled here: a frozen BatchNormalization layer (``trainable =
False``) runs in inference mode, using its moving statistics, so fine-tuning a
frozen backbone on a small dataset does not wreck those statistics.
"""

import keras
import numpy as np


def _stage_names(model):
    return [la.name for la in model.layers]


def freeze(model, up_to=None):
    """Freezes every layer up to and including ``up_to`` (a layer-name prefix such as
    ``"stage3"``); None freezes everything but the classifier (``predictions``).

    Returns:
        The names of the layers frozen.
    """
    names = _stage_names(model)
    if up_to is None:
        last = max((i for i, n in enumerate(names) if not n.startswith(("head", "predictions"))), default=-1)
    else:
        matches = [i for i, n in enumerate(names) if n == up_to or n.startswith(up_to + "_")]
        if not matches:
            stages = sorted({n.split("_")[0] for n in names if "_" in n})
            raise ValueError(f"No layer of {model.name} is named {up_to!r} or starts with '{up_to}_' "
                             f"(stages: {stages}). Received: up_to={up_to!r}")
        last = max(matches)
    frozen = []
    for i, layer in enumerate(model.layers):
        layer.trainable = i > last
        if i <= last and layer.weights:
            frozen.append(layer.name)
    return frozen


def unfreeze(model, from_layer):
    """Makes ``from_layer`` (a name or stage prefix) and every later layer trainable."""
    names = _stage_names(model)
    matches = [i for i, n in enumerate(names) if n == from_layer or n.startswith(from_layer + "_")]
    if not matches:
        raise ValueError(f"No layer of {model.name} is named {from_layer!r}. Received: from_layer={from_layer!r}")
    first = min(matches)
    for i, layer in enumerate(model.layers):
        if i >= first:
            layer.trainable = True
    return [la.name for la in model.layers[first:] if la.weights]


def replace_head(model, classes, classifier_activation="softmax", dropout=0.0):
    """A model with the same body and a new ``predictions`` layer for ``classes`` classes.

    The new classifier reads the input of the old one (pooled features for ResNet and
    GoogLeNet, the last hidden dense layer for VGG, AlexNet and LeNet).
    """
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive int. Received: classes={classes!r}")
    try:
        old = model.get_layer("predictions")
    except ValueError:
        raise ValueError(f"{model.name} has no 'predictions' layer: build it with include_top=True") from None
    features = old.input
    x = features
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_new_dropout")(x)
    outputs = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(model.input, outputs, name=model.name)


def adapt_input_kernel(kernel, in_channels):
    """A first-layer kernel ``(*k, C, F)`` for ``in_channels`` inputs instead of C.

    One channel: the sum over the C input channels (a grey image replicated to C
    channels gives the same output). More channels: the C channels repeated
    cyclically and scaled by ``C / in_channels`` so the output scale is kept
    (timm's ``adapt_input_conv`` rule).
    """
    kernel = np.asarray(kernel)
    c = kernel.shape[-2]
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int. Received: in_channels={in_channels!r}")
    if in_channels == c:
        return kernel.copy()
    if in_channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    reps = -(-in_channels // c)
    tiled = np.concatenate([kernel] * reps, axis=-2)[..., :in_channels, :]
    return tiled * (c / in_channels)


def copy_weights(source, target, adapt_first_conv=True):
    """Copies weights between two models of the same architecture, layer by layer by name.

    With ``adapt_first_conv`` a first convolution whose input channels differ is
    adapted with `adapt_input_kernel`. Raises naming the first layer that does not fit.
    """
    first_conv_done = False
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"source model {source.name!r} has no layer {layer.name!r}") from None
        new_values = []
        for tw, sw in zip(layer.weights, src.weights):
            value = np.asarray(sw)
            if tuple(tw.shape) != value.shape:
                is_kernel = tw.path.endswith("kernel") and value.ndim >= 3
                if adapt_first_conv and is_kernel and not first_conv_done and value.shape[:-2] == tuple(tw.shape[:-2]) \
                        and value.shape[-1] == tw.shape[-1]:
                    value = adapt_input_kernel(value, int(tw.shape[-2]))
                else:
                    raise ValueError(f"layer {layer.name!r}: {tw.path} has shape {tuple(tw.shape)}, "
                                     f"the source has {value.shape}")
            new_values.append(value)
        if len(layer.weights) != len(src.weights):
            raise ValueError(f"layer {layer.name!r} has {len(layer.weights)} variables, the source {len(src.weights)}")
        layer.set_weights(new_values)
        if any(w.path.endswith("kernel") for w in layer.weights):
            first_conv_done = True
    return target
