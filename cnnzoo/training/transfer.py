"""Transfer learning helpers: freeze up to a stage, unfreeze from one, replace the head. Weights move
between models with `cnnzoo.weights.copying.copy_weights` (by name; a first convolution adapted to
another number of input channels), re-exported here.

Keras pitfall handled here: a frozen BatchNormalization layer (``trainable =
False``) runs in inference mode, using its moving statistics, so fine-tuning a
frozen backbone on a small dataset does not wreck those statistics.
"""

import keras

from cnnzoo.weights.copying import adapt_input_kernel, copy_weights  # noqa: F401  (the one weight copy)


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
