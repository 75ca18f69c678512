"""Prediction and evaluation: the top classes of images with a fine-tuned model or a pretrained one (`predict`,
`load_model`), a detector's boxes (`detect`), the accuracy on a labelled folder with its confusion matrix
(`evaluate`).

A ``.keras`` model that cnnzoo fine-tuned prepares images as its validation did (resize, scale, mean and
std) and names its classes, from what it carries inside the file (`model_metadata`; older files: from
``preprocessing.json`` and ``classes.json`` beside it); a recipe's model reads its mean and std from the
run's ``results.json``. A registered name with ``weights=`` prepares and names
as the weight set says (torchvision's resize, crop and normalization; ImageNet's or Kinetics' classes).
"""

import dataclasses
import json
import os
import typing

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
    importlib.import_module("cnnzoo.detection")  # and a detector's layers and loss
    importlib.import_module("cnnzoo.training.schedules")
    if not os.path.isfile(os.fspath(path)):
        raise ValueError(f"path must be a .keras file that exists. Received: path={os.fspath(path)!r}")
    model = keras.saving.load_model(os.fspath(path), **kwargs)
    metadata = model_metadata(path)
    model.class_names = metadata["class_names"]  # None when the file and its folder do not say
    model.preprocessing = metadata["preprocessing"]
    return model


def model_metadata(path):
    """What a cnnzoo ``.keras`` file says of itself: ``{"class_names": [...] or None, "preprocessing": {...} or
    None}``, from inside the file (fine-tuned models carry both), else from the files a run wrote beside it
    (``classes.json``, ``preprocessing.json``, a recipe's ``results.json``).
    """
    from cnnzoo import compat
    from cnnzoo.training.finetune import PREPROCESSING_FILE, recorded_normalization

    inside = compat.model_file_metadata(os.fspath(path)) or {}
    names = inside.get("class_names") or _beside(path, "classes.json")
    preprocessing = inside.get("preprocessing") or _beside(path, PREPROCESSING_FILE)
    if preprocessing is None:
        preprocessing = recorded_normalization(path)
    return {"class_names": list(names) if names else None, "preprocessing": preprocessing}


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

    def __init__(self, model, preprocessing=None, weight_set=None):
        self.model, self.weight_set = model, weight_set
        self.settings = {"scale": 255.0, "mean": None, "std": None, "resize": "stretch", "resize_ratio": 1.0}
        # a fine-tuned model's recorded preprocessing (`model_metadata`): images prepared as its validation's were
        self.settings.update(preprocessing or {})

    def __call__(self, image):
        from cnnzoo.data.folder import load_image, read_image

        shape = tuple(self.model.input_shape[1:])
        if self.weight_set is not None:
            from cnnzoo.weights.preprocessing import preprocess_input

            array = read_image(image, None, 3) if isinstance(image, (str, os.PathLike)) else _as_array(image, 3)
            return np.asarray(preprocess_input(array, weights=self.weight_set))
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


def resolve_model(model, weights=None):
    """The Keras model meant by ``model``: itself, a ``.keras`` file loaded (`load_model`: its class names and
    preprocessing read), or a registered name built with its weight set (``weights``, default its default set).
    """
    import keras

    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a registered name, a .keras path or a keras.Model. Received: {model!r}")
    path = os.fspath(model)
    if path.endswith((".keras", ".h5")) or os.path.sep in path:
        return load_model(path, compile=False)
    from cnnzoo.weights import catalog

    registry.get_builder(path)  # an unknown name raises with the closest matches
    sets = catalog.list_weights(path)
    if not sets:
        raise ValueError(f"{path} has no pretrained weights: predict with a trained .keras file. "
                         f"Received: model={path!r}")
    weight_set = catalog.get_weights(path, weights or next((s.dataset for s in sets if s.default), sets[0].tag))
    if weight_set.preprocessing.kind == "video":
        raise ValueError(f"{path}'s weights {weight_set.tag!r} classify clips; predict takes images. "
                         "In Python: cnnzoo.preprocess_input(clip, model=model), then model.predict.")
    return registry.get_model(path, weights=weight_set)


def _resolve(model, weights, labels):
    """``(keras model, class names or None, preparer)`` for a model name, a ``.keras`` path or a Keras model."""
    from cnnzoo.training.backend_defaults import use_compilation_cache

    use_compilation_cache()  # JAX: the next prediction in a new process loads the compiled step
    net = resolve_model(model, weights)
    weight_set = getattr(net, "pretrained", None)
    if weight_set is None and weights is not None and not isinstance(model, (str, os.PathLike)):
        from cnnzoo.weights import catalog

        weight_set = catalog.get_weights(net.name, weights)  # a model loaded from that set's file (a .pth)
    if weight_set is not None:
        return net, labels or list(weight_set.categories), _Preparer(net, weight_set=weight_set)
    # a loaded .keras file: what it carries (`load_model`); a model built here: nothing known
    names = labels if labels is not None else getattr(net, "class_names", None)
    return net, names, _Preparer(net, preprocessing=getattr(net, "preprocessing", None))


def _each_input(images, prepare):
    """Yields ``(shown name, prepare(source))`` per input image, ``(shown name, "unreadable: why")`` for one
    that cannot be read, and a folder without images as ``(folder, why)``.
    """
    for source in expand_images(images):
        if isinstance(source, tuple):  # (a folder, why nothing was found in it)
            yield source
            continue
        shown = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"image {np.shape(source)}"
        try:
            prepared = prepare(source)
        except (ValueError, FileNotFoundError, OSError) as e:
            prepared = f"unreadable: {e}"
        yield shown, prepared


def predict_each(model, images, *, top_k=5, weights=None, labels=None):
    """Yields ``(source, [(class, probability), ...])`` per image, or ``(source, "why it could not be read")``.

    Arguments as `predict`'s; a folder gives each of its image files.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int. Received: top_k={top_k!r}")
    from cnnzoo.detection.postprocess import is_detector

    net, names, prepare = _resolve(model, weights, labels)
    if is_detector(net):
        raise ValueError(f"{net.name} is a detector: cnnzoo.detect gives its boxes (the predict command prints "
                         "them). Received: a detector for predict")
    classes = int(net.output_shape[-1])
    if names is not None and len(names) < classes:
        raise ValueError(f"the labels name {len(names)} classes but the model predicts {classes}: labels (or "
                         f"classes.json) must name every class. Received: {len(names)} names")
    for shown, x in _each_input(images, prepare):
        if isinstance(x, str):  # why it could not be read
            yield shown, x
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


def detect_each(model, images, *, weights=None, labels=None, batch_size=8, **settings):
    """Yields ``(source, Detections)`` per image, or ``(source, "why it could not be read")``.

    Arguments as `detect`'s; a folder gives each of its image files.
    """
    from cnnzoo.data.folder import read_image
    from cnnzoo.detection.postprocess import detection_layer, postprocess

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    net, names, prepare = _resolve(model, weights, labels)
    layer = detection_layer(net)  # raises for a classifier, naming it
    if names is not None and len(names) < layer.classes:
        raise ValueError(f"the labels name {len(names)} classes but the detector has {layer.classes} (background "
                         f"first): labels must name every class. Received: {len(names)} names")
    channels = int(net.input_shape[-1])
    pending = []

    def flush():
        outputs = net.predict(np.stack([x for _, x, _ in pending]), verbose=0)
        found = postprocess(outputs, net, [size for _, _, size in pending], names or (), **settings)
        done = [(shown, result) for (shown, _, _), result in zip(pending, found)]
        pending.clear()
        return done

    def read(source):  # the image at its own size: its boxes are scaled back to it
        array = (read_image(os.fspath(source), None, channels) if isinstance(source, (str, os.PathLike))
                 else _as_array(source, channels))
        return prepare(array), array.shape[:2]

    for shown, item in _each_input(images, read):
        if isinstance(item, str):  # why it could not be read
            yield shown, item
            continue
        pending.append((shown, *item))
        if len(pending) == batch_size:
            yield from flush()
    if pending:
        yield from flush()


def detect(model, images, *, weights=None, labels=None, batch_size=8, score_threshold=None, iou_threshold=None,
           topk_candidates=None, detections_per_image=None):
    """The boxes, labels and scores a detector finds in each image.

    Args:
        model: a detector: a ``.keras`` file, a ``keras.Model`` (``cnnzoo.ssd300_vgg16(weights="coco")``,
            ``cnnzoo.ssd(...)``) or a registered detector name with pretrained weights (``"ssd300_vgg16"``).
        images: image paths, folders of images, arrays ((H, W, C) 0-255, or a batch of them) or PIL images,
            of any sizes: each is resized to the detector's input and its boxes scaled back.
        weights: for a model name, the weight set (default: its default set, ``"coco"``).
        labels: class names, index by index, background first (default: the model's own).
        batch_size: images per forward pass. Defaults to `8`.
        score_threshold: the least class probability kept. None keeps the detector's own (0.01 for SSD300).
        iou_threshold: NMS drops a box overlapping a better one of its class above this IoU. None: its own (0.45).
        topk_candidates: the best boxes per class that enter NMS. None: its own (400).
        detections_per_image: the most detections returned per image. None: its own (200).

    Returns:
        One `Detections` per image (``boxes`` in the image's pixels, ``labels``, ``scores``, ``names``).

    Raises:
        ValueError: naming every input that could not be read (nothing is returned then).
    """
    settings = dict(score_threshold=score_threshold, iou_threshold=iou_threshold, topk_candidates=topk_candidates,
                    detections_per_image=detections_per_image)
    results = list(detect_each(model, images, weights=weights, labels=labels, batch_size=batch_size, **settings))
    failed = [f"{source}: {result}" for source, result in results if isinstance(result, str)]
    if failed:
        raise ValueError(f"{len(failed)} of {len(results)} images could not be read: " + "; ".join(failed[:8]))
    return [result for _, result in results]


@dataclasses.dataclass(repr=False)
class Evaluation:
    """What `evaluate` returns; ``str()`` (and a REPL's echo) is the report the command prints.

    Attributes:
        accuracy: overall top-1 accuracy on the folder.
        per_class_accuracy: ``{class: accuracy}`` for each of the folder's classes.
        confusion: ``(n, n)`` counts, rows the true class, columns the predicted one, in ``class_names``' order
            (a last ``"(other)"`` class gathers predictions of the model's classes that the folder lacks).
        class_names: the confusion matrix's classes.
        examples: the images evaluated.
        skipped: ``[(path, why)]``: entries of the folder that were not readable images.
        confusion_picture: the PNG written, or None.
    """

    accuracy: float
    per_class_accuracy: dict
    confusion: np.ndarray
    class_names: list
    examples: int
    skipped: list
    confusion_picture: typing.Optional[str] = None

    def __str__(self):
        lines = [f"accuracy {100 * self.accuracy:.2f}% on {self.examples} images"
                 + (f" ({len(self.skipped)} entries skipped: not readable images)" if self.skipped else "")]
        width = max(len(str(c)) for c in self.per_class_accuracy)
        for name, acc in self.per_class_accuracy.items():
            count = int(self.confusion[self.class_names.index(name)].sum())
            lines.append(f"  {name:<{width}}  {100 * acc:6.2f}%  ({count} images)")
        if self.confusion_picture:
            lines.append(f"confusion matrix: {self.confusion_picture}")
        return "\n".join(lines)

    __repr__ = __str__


def evaluate(model, folder, *, weights=None, labels=None, batch_size=32, confusion_picture=None):
    """Overall and per-class accuracy of ``model`` on a labelled folder (one sub-folder of images per class),
    and its confusion matrix.

    Args:
        model: as `predict`'s: a ``.keras`` file (a fine-tuned one names its classes and prepares images as it
            was trained), a ``keras.Model`` or a registered name with pretrained weights.
        folder: ``folder/<class>/<image>``. With class names known (the model's, or ``labels``), each
            sub-folder is matched to the model's class of that name; otherwise the sub-folders, sorted, are the
            model's classes 0, 1, ... (as `cnnzoo.finetune` numbered them) and their count must match.
        weights: for a model name, the weight set.
        labels: the model's class names, index by index (default: its own).
        batch_size: images a forward pass.
        confusion_picture: a ``.png`` path to draw the confusion matrix to (`cnnzoo.inspect.pictures`), or None.

    Returns:
        An `Evaluation`.

    Raises:
        ValueError: a folder that is not a class-folder tree, classes the model does not have, no readable image.
    """
    from cnnzoo.data.folder import scan_folder

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    if not isinstance(folder, (str, os.PathLike)) or not os.path.isdir(folder):
        raise ValueError(f"folder must be a folder of class sub-folders that exists. Received: folder={folder!r}")
    net, names, prepare = _resolve(model, weights, labels)
    outputs = int(net.output_shape[-1])
    files = scan_folder(os.fspath(folder), "images")
    if names:
        names = [str(n) for n in names]
        missing = [c for c in files.class_names if c not in names]
        if missing:
            raise ValueError(f"the folder's classes {missing} are not classes of the model (its classes: "
                             f"{names[:10]}{'...' if len(names) > 10 else ''}). Received: folder={os.fspath(folder)!r}")
        index = [names.index(c) for c in files.class_names]
    else:
        if len(files.class_names) != outputs:
            raise ValueError(f"the model names no classes and predicts {outputs}: the folder's "
                             f"{len(files.class_names)} sub-folders cannot be matched to them; give labels=[...] "
                             f"(--labels). Received: folder={os.fspath(folder)!r}")
        index = list(range(outputs))
    to_row = {model_class: row for row, model_class in enumerate(index)}
    other = len(index) < outputs  # predictions of classes the folder lacks
    n = len(index) + int(other)
    confusion = np.zeros((n, n), np.int64)
    skipped = list(files.skipped)
    batch, truth = [], []

    def flush():
        if batch:
            predicted = np.argmax(np.asarray(net.predict(np.stack(batch), verbose=0)), axis=-1)
            for t, p in zip(truth, predicted):
                confusion[t, to_row.get(int(p), n - 1)] += 1
            batch.clear()
            truth.clear()

    for path, label in zip(files.paths, files.labels):
        try:
            batch.append(prepare(path))
        except (ValueError, OSError) as e:
            skipped.append((path, f"unreadable: {e}"))
            continue
        truth.append(int(label))
        if len(batch) == batch_size:
            flush()
    flush()
    examples = int(confusion.sum())
    if not examples:
        raise ValueError(f"no readable image in the folder. Received: folder={os.fspath(folder)!r}")
    class_names = list(files.class_names) + (["(other)"] if other else [])
    per_class = {c: float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else 0.0
                 for i, c in enumerate(files.class_names)}
    picture = None
    if confusion_picture is not None:
        from cnnzoo.inspect.pictures import plot_confusion

        os.makedirs(os.path.dirname(os.path.abspath(confusion_picture)), exist_ok=True)
        picture = plot_confusion(confusion, class_names, os.fspath(confusion_picture),
                                 title=getattr(net, "name", ""))
    return Evaluation(accuracy=float(np.trace(confusion) / examples), per_class_accuracy=per_class,
                      confusion=confusion, class_names=class_names, examples=examples, skipped=skipped,
                      confusion_picture=picture)
