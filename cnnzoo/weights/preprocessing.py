"""What a weight set expects and what it predicts: `preprocess_input` and `decode_predictions`.

torchvision's transforms, in Keras ops (so on any backend): images have their
shorter side resized (bilinear, antialiased when shrinking), are centre-cropped,
scaled to [0, 1] and normalized with the set's mean and std; video clips have
every frame resized to (128, 171), centre-cropped to 112 and normalized with
Kinetics' mean and std; a detector's images are scaled, normalized and resized
to its fixed input size (bilinear, no antialiasing, no crop).
"""

import keras
import numpy as np

from cnnzoo.weights import catalog

_DEFAULT_MODEL = {"imagenet": "resnet18", "kinetics400": "r3d_18"}


def resolve(weights=None, model=None):
    """The `WeightSet` meant by ``weights`` (a set, or a name) and ``model`` (a name or a model built with weights).

    Without a model, ``"imagenet"`` (also what None means) is the common ImageNet
    settings (resize 256, crop 224, ImageNet mean/std: every set but
    resnet50/101/152's V2 and GoogLeNet's) and ``"kinetics400"`` the video
    ResNets' settings. With a model built with weights, None is its set.
    """
    if isinstance(weights, catalog.WeightSet):
        return weights
    if model is not None and not isinstance(model, str):
        pretrained = getattr(model, "pretrained", None)
        if pretrained is None:
            raise ValueError(f"model {getattr(model, 'name', model)!r} was not built with pretrained weights: "
                             "pass weights= and a model name instead")
        return pretrained if weights is None else catalog.get_weights(pretrained.model, weights)
    if weights is None and model is not None:
        sets = catalog.list_weights(model)
        chosen = [s for s in sets if s.default] or sets
        if not chosen:
            raise ValueError(f"{model} has no pretrained weights (cnnzoo.list_weights()). Received: model={model!r}")
        return chosen[0]
    weights = "imagenet" if weights is None else weights
    if model is None:
        if not isinstance(weights, str) or weights.lower() not in _DEFAULT_MODEL:
            raise ValueError("without model=, weights must be 'imagenet' or 'kinetics400'. "
                             f"Received: weights={weights!r}")
        model = _DEFAULT_MODEL[weights.lower()]
    return catalog.get_weights(model, weights)


def _resize(images, size, interpolation):
    return keras.ops.convert_to_numpy(
        keras.ops.image.resize(images, size, interpolation=interpolation, antialias=True)
    )


def _centre_crop(images, crop):
    h, w = images.shape[-3:-1]
    ch, cw = crop
    if ch > h or cw > w:
        raise ValueError(f"the crop {crop} is larger than the resized input {(h, w)}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return images[..., top:top + ch, left:left + cw, :]


def _shorter_side(h, w, size):
    if h <= w:
        return size, max(1, int(size * w / h))
    return max(1, int(size * h / w)), size


def _prepare_one(x, p, scale):
    x = np.asarray(x)
    if x.dtype.kind not in "uif":
        raise TypeError(f"images must be numeric arrays. Received: dtype={x.dtype}")
    if x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"images must have 3 channels last: (H, W, 3) or (T, H, W, 3). Received: shape={x.shape}")
    x = x.astype("float32") / scale
    if p.kind == "detection":  # torchvision's detection transform: normalize, then resize, no antialiasing
        x = (x - np.asarray(p.mean, "float32")) / np.asarray(p.std, "float32")
        return keras.ops.convert_to_numpy(
            keras.ops.image.resize(x, tuple(p.resize), interpolation=p.interpolation, antialias=False))
    if p.kind == "video":
        x = _resize(x, tuple(p.resize), p.interpolation)
    else:
        size = p.resize[0] if len(p.resize) == 1 else None
        target = _shorter_side(*x.shape[-3:-1], size) if size else tuple(p.resize)
        x = _resize(x, target, p.interpolation)
    x = _centre_crop(x, tuple(p.crop) if len(p.crop) == 2 else (p.crop[0], p.crop[0]))
    return (x - np.asarray(p.mean, "float32")) / np.asarray(p.std, "float32")


def preprocess_input(x, weights=None, model=None, scale=255.0):
    """Prepares images or clips the way a weight set was trained: resize, centre crop, normalize.

    Args:
        x: one image ``(H, W, 3)``, a batch ``(N, H, W, 3)``, a list of images of
            any sizes, or for video weights one clip ``(T, H, W, 3)`` / a batch
            or list of clips. RGB, values in [0, ``scale``].
        weights: a weight set name (``"imagenet"``, ``"kinetics400"``, a tag such as
            ``"imagenet1k_v2"``) or a `WeightSet`. Defaults to `None`: the set
            ``model`` was built with, else ``"imagenet"``.
        model: the registered model name, or a model built with
            ``weights=...``: the set's own settings (ResNet-50 V2 resizes to 232,
            GoogLeNet normalizes with 0.5 / 0.5). Defaults to `None` (the common settings).
        scale: the value of full intensity (255 for uint8 pixels, 1 for floats in [0, 1]).
            Defaults to `255.0`.

    Returns:
        A float32 NumPy array: one item without a batch axis, else ``(N, ...)``.
    """
    p = resolve(weights, model).preprocessing
    item_rank = 4 if p.kind == "video" else 3
    if isinstance(x, (list, tuple)):
        return np.stack([_prepare_one(item, p, scale) for item in x])
    x = np.asarray(x)
    if x.ndim == item_rank:
        return _prepare_one(x, p, scale)
    if x.ndim == item_rank + 1:
        return np.stack([_prepare_one(item, p, scale) for item in x])
    expected = "(T, H, W, 3) or (N, T, H, W, 3)" if p.kind == "video" else "(H, W, 3) or (N, H, W, 3)"
    raise ValueError(f"x must be {expected} for {p.kind} weights. Received: shape={x.shape}")


def decode_predictions(preds, top=5, weights=None, model=None):
    """The ``top`` classes of each prediction, with the weight set's class names.

    Args:
        preds: ``(N, classes)`` or ``(classes,)`` scores (probabilities or logits).
        top: how many per example. Defaults to `5`.
        weights: a weight set name or a `WeightSet`, as in `preprocess_input`.
        model: the registered model name or a model built with ``weights=...``, as in `preprocess_input`.

    Returns:
        A list (one per example) of ``(class index, class name, score)`` tuples, best first.
    """
    names = resolve(weights, model).categories
    preds = np.asarray(preds)
    if preds.ndim == 1:
        preds = preds[None]
    if preds.ndim != 2 or preds.shape[-1] != len(names):
        raise ValueError(f"preds must be (N, {len(names)}) for these weights' {len(names)} classes. "
                         f"Received: shape={preds.shape}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive int. Received: top={top!r}")
    out = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        out.append([(int(i), names[i], float(row[i])) for i in best])
    return out
