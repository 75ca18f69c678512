"""The pretrained weight sets cnnzoo knows: where each file is, how it was trained, what it expects.

A `WeightSet` is one published file for one registered model, with what
belongs to it: the hash of the file, its format (``"torchvision"``, converted
on first use, or ``"keras"``, a ``.weights.h5`` of the cnnzoo model), the
classes it predicts, the preprocessing it was trained with and the accuracy
its publisher reports. torchvision's sets are read from
``data/torchvision_weights.json``, written from torchvision's own weight enums
by ``scripts/make_torchvision_catalog.py``; `register_weights` adds others.

Names: a set's ``tag`` (``"imagenet1k_v1"``, torchvision's enum name in lower
case) or its dataset: ``"imagenet"`` is the model's default ImageNet set
(torchvision's DEFAULT), ``"kinetics400"`` its Kinetics-400 set.
"""

import dataclasses
import functools
import json
import os
from importlib import resources

_DATA = "cnnzoo.weights.data"
_REGISTRY = {}  # model name -> list of WeightSet


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a weight set's inputs were prepared (torchvision's ``ImageClassification`` /
    ``VideoClassification`` transforms).

    Attributes:
        kind: ``"image"`` (resize the shorter side to ``resize``, centre-crop
            ``crop``), ``"video"`` (resize every frame to ``resize`` = (H, W),
            centre-crop ``crop``) or ``"detection"`` (normalize, then resize to
            ``resize`` = (H, W) without antialiasing and no crop: torchvision's
            detection transform).
        resize: one size (the shorter side) or ``(H, W)``.
        crop: ``(H, W)`` of the centre crop.
        mean, std: per-channel normalization of values scaled to [0, 1].
        interpolation: ``"bilinear"`` (with antialiasing when shrinking).
    """

    kind: str
    resize: tuple
    crop: tuple
    mean: tuple
    std: tuple
    interpolation: str = "bilinear"


@dataclasses.dataclass(frozen=True)
class WeightSet:
    """One pretrained weight file of one model.

    Attributes:
        model: the registered model name (``"resnet18"``).
        tag: the set's name (``"imagenet1k_v1"``).
        url: where the file is published.
        sha256: the file's SHA-256, or the prefix of it that its publisher
            puts in the file name (torchvision's ``resnet18-f37072fd.pth``).
        format: ``"torchvision"`` (a state dict, converted by name) or ``"keras"``
            (a ``.weights.h5`` of the cnnzoo model with its default options).
        dataset: what it was trained on; also a name for the set. ``"imagenet"``,
            ``"kinetics400"`` and ``"coco"`` bring their bundled class names.
        num_classes: the classifier's classes.
        preprocessing: a `Preprocessing`.
        metrics: the publisher's reported accuracies, e.g. ``{"ImageNet-1K": {"acc@1": 69.758}}``.
        source: who published it (``"torchvision ResNet18_Weights.IMAGENET1K_V1"``).
        default: whether the dataset alias (``"imagenet"``) picks this set.
        builder_kwargs: builder arguments of the network the file holds beyond the
            defaults and the family's own loading arguments (GoogLeNet's family adds
            its auxiliary heads to every set).
        recipe: how it was trained (a URL), if known.
        class_names: the class names, where the dataset's bundled ones do not apply.
    """

    model: str
    tag: str
    url: str
    sha256: str
    format: str
    dataset: str
    num_classes: int
    preprocessing: Preprocessing
    metrics: dict = dataclasses.field(default_factory=dict)
    source: str = ""
    default: bool = False
    builder_kwargs: dict = dataclasses.field(default_factory=dict)
    recipe: str = ""
    class_names: tuple = ()

    @property
    def file_name(self):
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def top1(self):
        """The publisher's top-1 accuracy (%), or None."""
        for values in self.metrics.values():
            if "acc@1" in values:
                return values["acc@1"]
        return None

    @property
    def categories(self):
        """The class names, index by index."""
        return tuple(self.class_names) or categories(self.dataset)


@functools.lru_cache(maxsize=None)
def categories(dataset):
    """The class names of ``"imagenet"`` (1000, torchvision's), ``"kinetics400"`` (400) or ``"coco"`` (torchvision's
    91 detection labels: ``__background__`` first, ``N/A`` where COCO skips an id).
    """
    if dataset not in ("imagenet", "kinetics400", "coco"):
        raise ValueError(f"dataset must be 'imagenet', 'kinetics400' or 'coco'. Received: dataset={dataset!r}")
    text = resources.files(_DATA).joinpath(f"{dataset}_classes.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def _load_torchvision_sets():
    text = resources.files(_DATA).joinpath("torchvision_weights.json").read_text(encoding="utf-8")
    for row in json.loads(text):
        t = row["transforms"]
        register_weights(WeightSet(
            model=row["model"], tag=row["tag"], url=row["url"], sha256=row["sha256_prefix"], format="torchvision",
            dataset=row["dataset"], num_classes=row["num_classes"],
            preprocessing=Preprocessing(t["kind"], tuple(t["resize"]), tuple(t["crop"]), tuple(t["mean"]),
                                        tuple(t["std"]), t["interpolation"]),
            metrics=row["metrics"], source=row["source"], default=row["default"],
            recipe=row.get("recipe") or "",
        ))


def register_weights(weight_set):
    """Adds a `WeightSet` (your own hosted weights, say); a duplicate (model, tag) raises."""
    if not isinstance(weight_set, WeightSet):
        raise TypeError(f"weight_set must be a WeightSet. Received: {type(weight_set).__name__}")
    if weight_set.format not in ("torchvision", "keras"):
        raise ValueError(f"format must be 'torchvision' or 'keras'. Received: format={weight_set.format!r}")
    sets = _REGISTRY.setdefault(weight_set.model, [])
    if any(s.tag == weight_set.tag for s in sets):
        raise ValueError(f"{weight_set.model} already has weights tagged {weight_set.tag!r}")
    sets.append(weight_set)
    return weight_set


def unregister_weights(model, tag):
    """Removes a set added with `register_weights` (tests use it)."""
    _REGISTRY[model] = [s for s in _REGISTRY.get(model, []) if s.tag != tag]


def list_weights(model=None):
    """The weight sets of ``model`` (a registered name), or of every model."""
    if model is None:
        return [s for name in sorted(_REGISTRY) for s in _REGISTRY[name]]
    return list(_REGISTRY.get(model, []))


def get_weights(model, name):
    """The `WeightSet` of ``model`` called ``name`` (a tag or an alias, any case).

    Raises:
        ValueError: naming the sets the model has.
    """
    if isinstance(name, WeightSet):
        if name.model != model:
            raise ValueError(f"these weights are {name.model}'s, not {model}'s. Received: weights={name.tag!r}")
        return name
    if not isinstance(name, str):
        raise TypeError(f"weights must be None, a path or a weight set name. Received: weights={name!r}")
    key = name.lower()
    sets = _REGISTRY.get(model, [])
    for s in sets:
        if s.tag == key:
            return s
    matching = [s for s in sets if s.dataset == key]
    chosen = [s for s in matching if s.default] or matching
    if chosen:
        return chosen[0]
    available = ", ".join(sorted({s.tag for s in sets} | {s.dataset for s in sets})) or "none"
    raise ValueError(f"{model} has no pretrained weights named {name!r} (it has: {available}; "
                     f"cnnzoo.weights.list_weights() lists them all). Received: weights={name!r}")


def is_weight_name(weights):
    """True for a string that names a weight set rather than a file: no path separator, no file suffix.

    A folder of that name in the working directory does not change it (``imagenet/`` is often a
    data folder): weight files always have a suffix.
    """
    if not isinstance(weights, str) or not weights:
        return False
    return os.sep not in weights and "/" not in weights and "." not in weights


_load_torchvision_sets()
