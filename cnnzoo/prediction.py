"""Prediction: the top classes of images with a fine-tuned model or a pretrained one (`predict`, `load_model`).

A ``.keras`` model that cnnzoo fine-tuned prepares images as its validation did (``preprocessing.json``
beside it: resize, scale, mean and std) and names its classes (``classes.json``); a recipe's model reads
its mean and std from the run's ``results.json``. A registered name with ``weights=`` prepares and names
as the weight set says (torchvision's resize, crop and normalization; ImageNet's or Kinetics' classes).
"""

import json
import os

import numpy as np

from cnnzoo import registry

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_model(path, **kwargs):
    """``keras.saving.load_model`` for a cnnzoo ``.keras`` file, with cnnzoo's layers registered first.

    Args:
        path: the ``.keras`` file.
        **kwargs: passed on (``compile=False``...).
    """
    import importlib

    import keras

    importlib.import_module("cnnzoo.layers")  # registers the blocks: no custom_objects needed
    importlib.import_module("cnnzoo.training.schedules")
    if not os.path.isfile(os.fspath(path)):
        raise ValueError(f"path must be a .keras file that exists. Received: path={os.fspath(path)!r}")
    return keras.saving.load_model(os.fspath(path), **kwargs)


def _beside(model_path, name):
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def expand_images(sources):
    """Image paths, folders (their image files, sorted, recursively) and in-memory images, as a flat list."""
    if isinstance(sources, (str, os.PathLike)) or hasattr(sources, "getpixel") or (
            isinstance(sources, np.ndarray) and sources.ndim == 3):
        sources = [sources]
    expanded = []
    for source in sources:
        if isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
            found = sorted(os.path.join(root, f) for root, _, files in os.walk(source) for f in files
                           if f.lower().endswith(IMAGE_SUFFIXES))
            expanded += found if found else [(os.fspath(source), "a folder with no image files")]
        elif isinstance(source, np.ndarray) and source.ndim == 4:
            expanded += list(source)
        else:
            expanded.append(source)
    return expanded


class _Preparer:
    """Turns one image (a path, an array, a PIL image) into the model's input, as the model's source says."""

    def __init__(self, model, model_path=None, weight_set=None):
        self.model, self.weight_set = model, weight_set
        self.settings = {"scale": 255.0, "mean": None, "std": None, "resize": "stretch", "resize_ratio": 1.0}
        if model_path is not None:
            from cnnzoo.training.finetune import PREPROCESSING_FILE, recorded_normalization

            recorded = _beside(model_path, PREPROCESSING_FILE)
            if recorded is not None:  # written by finetune: prepare images as its validation did
                self.settings.update(recorded)
            else:
                self.settings.update(recorded_normalization(model_path) or {})

    def __call__(self, image):
        from cnnzoo.data.folder import load_image, read_image

        shape = tuple(self.model.input_shape[1:])
        if self.weight_set is not None:
            from cnnzoo.weights.preprocessing import preprocess_input

            array = read_image(image, None, 3) if isinstance(image, (str, os.PathLike)) else _as_array(image, 3)
            return np.asarray(preprocess_input(array, model=self.model))
        if isinstance(image, (str, os.PathLike)):
            array = load_image(os.fspath(image), shape[:2], shape[-1], self.settings["resize"],
                               self.settings["resize_ratio"])
        else:
            import keras

            array = _as_array(image, shape[-1])
            if array.shape[:2] != shape[:2]:
                array = np.asarray(keras.ops.image.resize(array.astype("float32"), shape[:2]))
        x = np.asarray(array, "float32") / float(self.settings["scale"])
        if self.settings.get("mean") is not None:
            x = (x - np.asarray(self.settings["mean"], "float32")) / np.asarray(self.settings["std"], "float32")
        return x


def _as_array(image, channels):
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"an image must be (H, W) or (H, W, C). Received: shape {array.shape}")
    if array.shape[-1] != channels:
        array = array.mean(axis=-1, keepdims=True) if channels == 1 else np.repeat(array[..., :1], channels, -1)
    return array


def _resolve(model, weights, labels):
    """``(keras model, class names or None, preparer)`` for a model name, a ``.keras`` path or a Keras model."""
    import keras

    if isinstance(model, keras.Model):
        weight_set = getattr(model, "pretrained", None)
        names = labels or (list(weight_set.categories) if weight_set is not None else None)
        return model, names, _Preparer(model, weight_set=weight_set)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a registered name, a .keras path or a keras.Model. Received: {model!r}")
    path = os.fspath(model)
    if path.endswith((".keras", ".h5")) or os.path.sep in path:
        loaded = load_model(path, compile=False)
        names = labels if labels is not None else _beside(path, "classes.json")
        return loaded, names, _Preparer(loaded, model_path=path)
    from cnnzoo.weights import catalog

    registry.get_builder(path)  # an unknown name raises with the closest matches
    sets = catalog.list_weights(path)
    if not sets:
        raise ValueError(f"{path} has no pretrained weights: predict with a trained .keras file. "
                         f"Received: model={path!r}")
    weight_set = catalog.get_weights(path, weights or next((s.dataset for s in sets if s.default), sets[0].tag))
    if weight_set.preprocessing.kind != "image":
        raise ValueError(f"{path}'s weights {weight_set.tag!r} classify clips; predict takes images. "
                         "In Python: cnnzoo.preprocess_input(clip, model=model), then model.predict.")
    built = registry.get_model(path, weights=weight_set)
    return built, labels or list(weight_set.categories), _Preparer(built, weight_set=weight_set)


def predict_each(model, images, *, top_k=5, weights=None, labels=None):
    """Yields ``(source, [(class, probability), ...])`` per image, or ``(source, "why it could not be read")``.

    Arguments as `predict`'s; a folder gives each of its image files.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int. Received: top_k={top_k!r}")
    net, names, prepare = _resolve(model, weights, labels)
    classes = int(net.output_shape[-1])
    if names is not None and len(names) < classes:
        raise ValueError(f"the labels name {len(names)} classes but the model predicts {classes}: labels (or "
                         f"classes.json) must name every class. Received: {len(names)} names")
    for source in expand_images(images):
        if isinstance(source, tuple):  # (a folder, why nothing was found in it)
            yield source
            continue
        shown = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"image {np.shape(source)}"
        try:
            x = prepare(source)
        except (ValueError, FileNotFoundError, OSError) as e:
            yield shown, f"unreadable: {e}"
            continue
        probs = np.asarray(net.predict(x[None], verbose=0))[0]
        order = np.argsort(-probs)[:top_k]
        yield shown, [(names[i] if names else str(i), float(probs[i])) for i in order]


def predict(model, images, *, top_k=5, weights=None, labels=None):
    """The top-k classes of each image.

    Args:
        model: a ``.keras`` file (one that cnnzoo fine-tuned prepares images from its recorded preprocessing
            and names its classes), a ``keras.Model``, or a registered name with pretrained weights
            (``"resnet50"``: the weight set's preprocessing and class names).
        images: image paths, folders of images, arrays ((H, W, C) 0-255, or a batch of them) or PIL images.
        top_k: how many classes per image.
        weights: for a model name, the weight set (default: its default set, ``"imagenet"``).
        labels: class names, index by index (default: the model's own).

    Returns:
        One list of ``(class name, probability)`` per image, most likely first.

    Raises:
        ValueError: naming every input that could not be read (nothing is returned then).
    """
    results = list(predict_each(model, images, top_k=top_k, weights=weights, labels=labels))
    failed = [f"{source}: {result}" for source, result in results if isinstance(result, str)]
    if failed:
        raise ValueError(f"{len(failed)} of {len(results)} images could not be read: " + "; ".join(failed[:8]))
    return [result for _, result in results]
