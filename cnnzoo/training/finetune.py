"""Fine-tuning a zoo model on the user's own images or clips: `finetune`, `FinetuneConfig`, `FinetuneResult`.

``cnnzoo.finetune(model, train, val=None, config=FinetuneConfig(...), out_dir=...)`` is the library call;
``cnnzoo finetune`` maps its flags onto it (every flag a `FinetuneConfig` field, whose defaults are the only
defaults). ``train`` / ``val`` are a class-folder tree, a scanned `cnnzoo.data.folder.FileList`, ``(images,
labels)`` arrays, a ``tf.data.Dataset`` of prepared ``(x, y)`` batches or a ``keras.utils.PyDataset``.

A folder is scanned once (`cnnzoo.data.folder.scan_folder`) and streamed: images are decoded, cropped and
resized in parallel inside the tf.data pipeline, clips decoded lazily, so a folder of any size trains in
constant memory. From pretrained weights (``weights="imagenet"``) the images are prepared as those weights
were trained: random-resized crop and flip in training, shorter side resized and centre crop in evaluation,
the weights' mean and std; otherwise the shorter side is resized to the input and centre cropped
(``resize="stretch"`` stretches instead). Image arrays (0-255) are scaled and normalized the same way;
datasets are taken as prepared.

Phase 1 trains a new head with the backbone frozen (its BatchNorm layers in inference mode); phase 2
unfreezes the top stages (from the last stage the model's family declares, or ``unfreeze_from``) at a lower
learning rate, BatchNorm layers staying in inference mode unless ``train_bn``. Both phases are the recipes'
engine (`cnnzoo.training.engine.fit`): best checkpoint, curves, results, progress, and resume: re-running
the same call after a crash skips a finished phase and resumes the other from its last finished epoch. With
``out_dir`` the result is also a ``.keras`` model with ``classes.json`` and ``preprocessing.json`` beside it.
"""

import argparse
import dataclasses
import json
import math
import os
import shutil
import tempfile
import typing

import numpy as np

from cnnzoo import registry
from cnnzoo.shapes import parse_shape

PREPROCESSING_FILE = "preprocessing.json"  # beside model.keras: how predict prepares an image


def _field(default, help, **metadata):  # noqa: A002  (the parser's word)
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Every fine-tuning option, validated once (errors name the option and what was received).

    ``cnnzoo finetune`` has one flag per field (``lr_head`` is ``--lr-head``), with these defaults.
    """

    weights: typing.Optional[str] = _field(
        None, "pretrained weights of the model: a weight set name ('imagenet', 'kinetics400', a tag such as "
              "'imagenet1k_v2'; see cnnzoo.list_weights()) or a torchvision .pth / .safetensors file; or a .keras "
              "model (any head) or a .weights.h5 of the model built with weights_classes")
    weights_classes: typing.Optional[int] = _field(None, "classes of the weights .weights.h5 file")
    input_shape: typing.Optional[tuple] = _field(
        None, "the model's input, e.g. 64,64,3 or 64x64x3 (default: the model's, or 224,224,3)")
    val_split: float = _field(0.2, "held-out fraction per class when no validation data is given")
    resize: str = _field("crop", "images: keep the aspect ratio (shorter side resized, centre crop) or stretch",
                         choices=("crop", "stretch"))
    augment: str = _field("auto", "training images: random-resized crop + flip (auto: when starting from a weight "
                                  "set)", choices=("auto", "none", "random_resized_crop"))
    frame_stride: int = _field(2, "clips: frames between the sampled frames")
    steps_per_epoch: typing.Optional[int] = _field(None, "training batches an epoch (default: the training set once)")
    epochs_head: int = _field(5, "epochs of phase 1 (the new head on the frozen backbone)")
    epochs_finetune: int = _field(5, "epochs of phase 2 (the last stages unfrozen too)")
    lr_head: float = _field(1e-3, "peak learning rate of phase 1")
    lr_finetune: float = _field(1e-4, "peak learning rate of phase 2")
    optimizer: str = _field("adamw", "optimizer of both phases (see cnnzoo.training.OPTIMIZERS)")
    schedule: str = _field("cosine", "learning-rate schedule of each phase (see cnnzoo.training.SCHEDULES)")
    weight_decay: float = _field(0.0, "decoupled weight decay (norms and biases excluded)")
    label_smoothing: float = _field(0.0, "label smoothing of the cross-entropy")
    freeze_backbone: typing.Optional[bool] = _field(
        None, "phase 1 trains the new head on a frozen backbone, phase 2 unfreezes from unfreeze_from (default: "
              "when the backbone is pretrained: weights given, or a model of your own; from random weights the whole "
              "network trains in both phases, since frozen random features stay at chance)")
    unfreeze_from: typing.Optional[str] = _field(None, "stage to unfreeze from in phase 2 (default: the last stage)")
    train_bn: typing.Optional[bool] = _field(
        None, "let BatchNorm statistics update in phase 2 (default: only when the backbone trains from random "
              "weights)")
    batch_size: int = _field(32, "training batch size")
    seed: int = _field(0, "seeds the split, the shuffles, the augmentation and the new head")
    class_names: typing.Optional[tuple] = _field(
        None, "names of the classes of array or dataset inputs (a folder's are its sub-folders)", cli=False)
    verbose: typing.Optional[int] = _field(
        None, "0 silent, 1 a progress bar, 2 one line per epoch (default: 1 in a terminal, else 2)", choices=(0, 1, 2))

    def __post_init__(self):
        if isinstance(self.input_shape, str):
            object.__setattr__(self, "input_shape", parse_shape(self.input_shape, "input_shape"))
        elif self.input_shape is not None:
            object.__setattr__(self, "input_shape", parse_shape(tuple(self.input_shape), "input_shape"))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        for name in ("epochs_head", "epochs_finetune", "batch_size", "frame_stride", "steps_per_epoch", "seed",
                     "weights_classes"):
            value = getattr(self, name)
            if value is None and name in ("steps_per_epoch", "weights_classes"):
                continue
            smallest = 0 if name in ("epochs_head", "epochs_finetune", "seed") else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
                kind = "a non-negative integer" if smallest == 0 else "a positive integer"
                raise ValueError(f"{name} must be {kind}. Received: {name}={value!r}")
        for name in ("lr_head", "lr_finetune"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
        if isinstance(self.val_split, bool) or not isinstance(self.val_split, (int, float)) \
                or not 0 < self.val_split < 1:
            raise ValueError(f"val_split must be in (0, 1). Received: val_split={self.val_split!r}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices and not (f.name == "verbose" and self.verbose is None):
                raise ValueError(f"{f.name} must be one of {choices}. Received: {f.name}={getattr(self, f.name)!r}")
        for name in ("train_bn", "freeze_backbone"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True, False or None. Received: {name}={getattr(self, name)!r}")
        if self.epochs_head == 0 and self.epochs_finetune == 0:
            raise ValueError("nothing would be trained (both phases have 0 epochs): give either phase a positive "
                             "number of epochs. Received: epochs_head=0, epochs_finetune=0")
        if self.weights is not None and not isinstance(self.weights, (str, os.PathLike)):
            raise TypeError(f"weights must be a weight set name or a file path. Received: weights={self.weights!r}")
        if isinstance(self.weights, str) and self.weights.endswith((".keras", ".h5", ".pth", ".pt", ".safetensors")) \
                and not os.path.isfile(self.weights):
            raise ValueError(f"weights must be a weights file that exists. Received: weights={self.weights!r}")
        # the optimizer, schedule, decay and smoothing rules are TrainConfig's: one set of checks
        self.train_config("head")

    def train_config(self, phase):
        """The engine's `TrainConfig` of ``phase`` (``"head"`` or ``"finetune"``)."""
        from cnnzoo.training.config import TrainConfig

        return TrainConfig(
            epochs=max(1, self.epochs_head if phase == "head" else self.epochs_finetune),
            batch_size=self.batch_size, optimizer=self.optimizer, schedule=self.schedule,
            lr=self.lr_head if phase == "head" else self.lr_finetune, weight_decay=self.weight_decay,
            label_smoothing=self.label_smoothing, seed=self.seed,
            mixed_precision=False)  # the model is built before training starts, in float32

    def to_dict(self):
        """The options as JSON-ready values (the results record keeps them)."""
        return {k: (list(v) if isinstance(v, tuple) else os.fspath(v) if isinstance(v, os.PathLike) else v)
                for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class FinetuneResult:
    """What `finetune` returns.

    Attributes:
        model: the trained ``keras.Model``.
        history: ``{"head": {...}, "finetune": {...}}``: each phase's results record (per-epoch loss and
            accuracy, wall time...), as the engine writes it.
        validation_accuracy: overall accuracy on the validation data.
        per_class_accuracy: ``{class name: accuracy}`` (None for a class without validation examples).
        class_names: the class names, label by label.
        preprocessing: how an image is prepared for ``model`` (`cnnzoo.predict` applies it): ``scale``,
            ``mean``, ``std``, ``resize``, ``resize_ratio``; None for dataset inputs (taken as prepared).
        record: the results record (also ``<out_dir>/results.json``).
        saved_model: ``<out_dir>/model.keras``, or None without ``out_dir``.
    """

    model: typing.Any
    history: dict
    validation_accuracy: float
    per_class_accuracy: dict
    class_names: list
    preprocessing: typing.Optional[dict]
    record: dict
    saved_model: typing.Optional[str] = None


# ---- the command line: one flag per field ----

def add_arguments(parser):
    """Adds ``cnnzoo finetune``'s flags to ``parser``: the model, the folders, the output folder, and one flag per
    `FinetuneConfig` field with the field's default and help (the config is the only source of defaults).
    """
    parser.add_argument("--model", required=True, help="registered model name, or a .keras file to start from")
    # --folder: a class-folder tree (the recipes' --data-dir is a dataset's own files); --data-dir still works
    parser.add_argument("--folder", "--data-dir", dest="folder", required=True,
                        help="one sub-folder per class (images, or clip folders for 3D)")
    parser.add_argument("--val-folder", "--val-dir", dest="val_folder", default=None,
                        help="a separate validation class-folder tree (default: split --folder)")
    parser.add_argument("--out", default="runs/finetune", help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh when --out holds a run: the old one is moved aside to <out>.old-<time> "
                             "(without it, a run of other settings there is refused, one of the same resumes)")
    for f in dataclasses.fields(FinetuneConfig):
        if not f.metadata.get("cli", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        kwargs = dict(default=f.default, help=f.metadata["help"] + f" (default: {f.default})", dest=f.name)
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", **kwargs)
            continue
        if "bool" in str(f.type):  # True, False or None (decided from the model): --flag / --no-flag
            kwargs["help"] = f.metadata["help"]
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kinds = {"int": int, "float": float}
        annotation = str(f.type)
        kind = next((t for name, t in kinds.items() if name in annotation), str)
        if f.name == "input_shape":
            kind = str  # parsed by FinetuneConfig (64,64,3 or 64x64x3), one parser for every command
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag, type=kind, **kwargs)
    return parser


def parser(prog=None):
    """The ``cnnzoo finetune`` command line."""
    import argparse

    return add_arguments(argparse.ArgumentParser(prog=prog, description=__doc__,
                                                 formatter_class=argparse.RawDescriptionHelpFormatter))


def config_from_args(args):
    """The `FinetuneConfig` of parsed ``cnnzoo finetune`` flags."""
    return FinetuneConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(FinetuneConfig)
                             if hasattr(args, f.name)})


def run_command(args, callbacks=()):
    """``cnnzoo finetune``: the flags onto `finetune`; returns its `FinetuneResult`."""
    return finetune(args.model, args.folder, val=args.val_folder, config=config_from_args(args), out_dir=args.out,
                    callbacks=callbacks, overwrite=getattr(args, "overwrite", False))


# ---- the model ----

def _base_model(model, config):
    """The network to fine-tune: a registered name (with ``config.weights``), a Keras model or a ``.keras`` path."""
    import keras

    from cnnzoo.weights import catalog, pretrained
    from cnnzoo.weights.copying import copy_weights
    from cnnzoo.weights.keras_files import load_keras_weights

    if isinstance(model, keras.Model):
        if config.weights is not None:
            raise ValueError("weights are for a model name; this model has its own. "
                             f"Received: weights={config.weights!r}")
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a registered name, a keras.Model or a .keras path. Received: {model!r}")
    model = os.fspath(model)
    if model.endswith(".keras"):
        if not os.path.isfile(model):
            raise ValueError(f"model must be a registered name or a .keras file that exists. Received: model={model!r}")
        return keras.saving.load_model(model, compile=False)
    registry.get_builder(model)  # an unknown name raises with the closest matches
    kwargs = {} if config.input_shape is None else {"input_shape": config.input_shape}
    weights = config.weights
    if weights is None:
        return registry.get_model(model, **kwargs)
    if catalog.is_weight_name(weights) or pretrained.torch_file(weights):
        return registry.get_model(model, weights=weights, **kwargs)
    if os.fspath(weights).endswith(".keras"):
        source = keras.saving.load_model(weights, compile=False)
        built = registry.get_model(model, classes=source.output_shape[-1], **kwargs)
        return copy_weights(source, built)
    if config.weights_classes is None:
        raise ValueError("weights=FILE.weights.h5 needs weights_classes (the classes it was trained with). "
                         f"Received: weights={weights!r}, weights_classes=None")
    built = registry.get_model(model, classes=config.weights_classes, **kwargs)
    load_keras_weights(built, weights)
    return built


def last_stage(model):
    """The last stage of ``model`` as its family declares it (the registry's ``stages``), or None."""
    info = registry.find_info(model.name)
    if info is not None and info.stages:
        return info.stages[-1]
    features = getattr(model, "feature_info", None)
    return features[-1].name if features else None


# ---- preprocessing ----

def input_normalization(model):
    """``{"mean": ..., "std": ...}`` of the weight set a model was built with (None: inputs in [0, 1])."""
    weight_set = getattr(model, "pretrained", None)
    if weight_set is None:
        return {"mean": None, "std": None}
    return {"mean": list(weight_set.preprocessing.mean), "std": list(weight_set.preprocessing.std)}


def recorded_normalization(model_path):
    """The mean/std a cnnzoo run recorded beside a ``.keras`` file (finetune's ``preprocessing.json``, or a
    recipe's ``results.json``), or None.
    """
    folder = os.path.dirname(os.path.abspath(model_path))
    for name, read in ((PREPROCESSING_FILE, lambda r: r), ("results.json", lambda r: r["dataset"]["normalization"])):
        try:
            with open(os.path.join(folder, name)) as f:
                found = read(json.load(f))
            return {"mean": found["mean"], "std": found["std"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def image_settings(model, config, started_from=None):
    """How images are prepared for ``model``: the keyword arguments of `image_folder_pipeline`
    (normalization, resize ratio, augmentation), from its weight set if it has one, else from
    what the run that trained ``started_from`` (a ``.keras`` path) recorded, else [0, 1].
    """
    weight_set = getattr(model, "pretrained", None)
    settings = {"resize": config.resize, "resize_ratio": 1.0, "augment": None, **input_normalization(model)}
    if weight_set is None and started_from is not None:
        settings.update(recorded_normalization(started_from) or {})
    if weight_set is not None and weight_set.preprocessing.kind == "image":
        p = weight_set.preprocessing
        settings["resize_ratio"] = p.resize[0] / p.crop[0]
        settings["augment"] = "random_resized_crop"
    if config.augment != "auto":
        settings["augment"] = None if config.augment == "none" else config.augment
    return settings


# ---- the data ----

def _is_folder(data):
    return isinstance(data, (str, os.PathLike))


def _scan(train, val, config, kind):
    """``(train files, validation files)`` of class folders (or scanned `FileList`s)."""
    from cnnzoo.data.folder import FileList, ImageFolderError, class_folders, scan_folder

    files = train if isinstance(train, FileList) else scan_folder(os.fspath(train), kind)
    print(files.report())
    if val is None:
        train_files, val_files = files.split(config.val_split, seed=config.seed)
        empty = [c for i, c in enumerate(files.class_names) if not np.any(train_files.labels == i)]
        if empty:
            raise ValueError(f"val_split={config.val_split} holds out every example of class {empty[0]!r} "
                             f"({int(np.sum(files.labels == files.class_names.index(empty[0])))} in all): lower it, "
                             f"or give validation data. Received: val_split={config.val_split}")
        return train_files, val_files
    if isinstance(val, FileList):
        val_files = val
    else:
        if class_folders(os.fspath(val)) != files.class_names:
            raise ImageFolderError(f"the validation folder's classes {class_folders(os.fspath(val))} differ from the "
                                   f"training folder's {files.class_names}")
        val_files = scan_folder(os.fspath(val), kind, classes=files.class_names)
    return files, val_files


def _folder_pipelines(config, base, train, val, batch, started_from):
    """Training and validation pipelines streamed from scanned files, and the preprocessing they apply."""
    from cnnzoo.data.folder import image_folder_pipeline
    from cnnzoo.data.video import KINETICS_MEAN, KINETICS_STD, clip_files_pipeline

    shape = tuple(base.input_shape[1:])
    if len(shape) == 4:
        frames, height, width = shape[:3]
        if height != width:
            raise ValueError(f"clips are cropped square: the model's input must have H == W. Received: {shape}")
        clip = dict(frames=frames, stride=config.frame_stride, size=height, seed=config.seed)
        train_ds = clip_files_pipeline(train.paths, train.labels, train.num_classes, training=True,
                                       batch_size=batch, **clip)
        val_ds = clip_files_pipeline(val.paths, val.labels, val.num_classes, training=False, batch_size=8, **clip)
        return train_ds, val_ds, {"kind": "clips", "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD)}
    settings = image_settings(base, config, started_from)
    common = dict(channels=shape[-1], seed=config.seed, **settings)
    train_ds = image_folder_pipeline(train, shape[:2], training=True, batch_size=batch, **common)
    val_ds = image_folder_pipeline(val, shape[:2], training=False, batch_size=32, **common)
    return train_ds, val_ds, {"kind": "images", **settings}


def _prepare_arrays(images, settings, shape):
    """Image arrays (0-255) as the model takes them: resized to its input if needed, scaled, normalized."""
    import keras

    x = np.asarray(images, "float32")
    if x.ndim == len(shape):  # one channel given without its axis
        x = x[..., None]
    if tuple(x.shape[1:-1]) != tuple(shape[:-1]) and len(shape) == 3:
        x = np.asarray(keras.ops.image.resize(x, shape[:2]))
    if x.shape[1:] != tuple(shape):
        raise ValueError(f"images must be (N, {', '.join(map(str, shape))}) arrays for this model. "
                         f"Received: images of shape {x.shape}")
    x = x / 255.0
    if settings["mean"] is not None:
        x = (x - np.asarray(settings["mean"], "float32")) / np.asarray(settings["std"], "float32")
    return x.astype("float32")


def _array_inputs(config, base, train, val, started_from):
    """``(train, val, preprocessing, class_names)`` for ``(images, labels)`` arrays."""
    shape = tuple(base.input_shape[1:])
    images, labels = train
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(-1)
    if val is None:
        from cnnzoo.data.folder import holdout_mask

        held = holdout_mask(labels, int(labels.max()) + 1, config.val_split, config.seed)
        images, labels = np.asarray(images), labels
        train, val = (images[~held], labels[~held]), (images[held], labels[held])
    settings = {"kind": "images", "resize": "stretch", "resize_ratio": 1.0, "augment": None,
                **input_normalization(base)}
    if getattr(base, "pretrained", None) is None and started_from is not None:
        settings.update(recorded_normalization(started_from) or {})
    prepared = []
    for part in (train, val):
        x, y = part
        y = np.asarray(y)
        prepared.append((_prepare_arrays(x, settings, shape), y.argmax(-1) if y.ndim == 2 else y.astype("int64")))
    classes = int(max(prepared[0][1].max(), prepared[1][1].max())) + 1
    return prepared[0], prepared[1], settings, classes


def _dataset_classes(data):
    """The number of classes of a prepared dataset, from its one-hot labels."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec[1]
        return int(spec.shape[-1]) if spec.shape.rank and spec.shape[-1] else None
    x, y = data[0]
    y = np.asarray(y)
    return int(y.shape[-1]) if y.ndim == 2 else None


def _labelled_batches(data, batch=64):
    """``(x, integer labels)`` batches of a dataset, a PyDataset or arrays."""
    if isinstance(data, tuple):
        x, y = data
        for i in range(0, len(x), batch):
            yield x[i:i + batch], np.asarray(y[i:i + batch])
        return
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "element_spec"):
        for i in range(len(data)):
            yield data[i][0], np.asarray(data[i][1])
        return
    for x, y in data:
        yield x, np.asarray(y)


def per_class_accuracy(model, dataset, num_classes=None):
    """Overall and per-class accuracy on batched ``(x, labels)`` data (one-hot or integer labels; a
    tf.data dataset, a PyDataset or ``(x, y)`` arrays; give ``num_classes``), or on an in-memory
    `cnnzoo.data.Dataset` (images in [0, 1]).
    """
    from cnnzoo.data import Dataset, make_pipeline

    if isinstance(dataset, Dataset):
        dataset, num_classes = make_pipeline(dataset, 64, training=False), dataset.num_classes
    preds, labels = [], []
    for x, y in _labelled_batches(dataset):
        preds.append(np.argmax(np.asarray(model.predict_on_batch(x)), axis=-1))
        labels.append(np.argmax(y, axis=-1) if y.ndim == 2 else y.astype("int64"))
    pred, label = np.concatenate(preds), np.concatenate(labels)
    num_classes = num_classes or int(label.max()) + 1
    per_class = [float(np.mean(pred[label == c] == c)) if np.any(label == c) else None for c in range(num_classes)]
    return float(np.mean(pred == label)), per_class


def _inputs(config, base, train, val, started_from):
    """``(train, val, preprocessing, class_names, report)`` for any kind of input."""
    from cnnzoo.data.folder import FileList

    shape = tuple(base.input_shape[1:])
    if _is_folder(train) or isinstance(train, FileList):
        rank = len(shape) - 1
        train_files, val_files = _scan(train, val, config, "clips" if rank == 3 else "images")
        batch = min(config.batch_size, len(train_files))
        train_ds, val_ds, settings = _folder_pipelines(config, base, train_files, val_files, batch, started_from)
        report = train_files.report()
        report.skipped += [s for s in val_files.skipped if s not in report.skipped]
        sizes = {"train_examples": len(train_files), "validation_examples": len(val_files)}
        return train_ds, val_ds, settings, list(report.class_names), report, sizes
    if isinstance(train, tuple) and len(train) == 2:
        train_xy, val_xy, settings, classes = _array_inputs(config, base, train, val, started_from)
        names = list(config.class_names or [str(i) for i in range(classes)])
        sizes = {"train_examples": len(train_xy[0]), "validation_examples": len(val_xy[0])}
        return train_xy, val_xy, settings, names, None, sizes
    if val is None:
        raise ValueError("a dataset for training needs validation data: give val= (a dataset of the same kind). "
                         "Received: val=None")
    classes = len(config.class_names) if config.class_names else _dataset_classes(train)
    if classes is None:
        raise ValueError("the dataset's labels are integers: name the classes with "
                         "FinetuneConfig(class_names=[...]). Received: class_names=None")
    names = list(config.class_names or [str(i) for i in range(classes)])
    return train, val, None, names, None, {"train_examples": None, "validation_examples": None}


# ---- the two phases ----

def _phase(model, name, epochs, train_ds, val_ds, config, out, callbacks=()):
    """One phase through the engine; a phase finished before (its weights saved) is loaded, not run again."""
    from cnnzoo.training.engine import fit

    out = os.path.join(out, name)
    done = os.path.join(out, "phase_done.weights.h5")
    if os.path.exists(done):
        model.load_weights(done)
        print(f"{name}: finished in an earlier run, weights loaded from {done}")
        with open(os.path.join(out, "results.json")) as f:
            return json.load(f)
    cfg = config.train_config(name)
    record = fit(model, train_ds, val_ds, cfg, out, verbose=config.verbose, callbacks=callbacks,
                 steps_per_epoch=config.steps_per_epoch)
    tmp = os.path.join(out, "phase_done.partial.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, done)
    return record


def _train_phases(model, config, train_ds, val_ds, out, callbacks, pretrained):
    """The head alone on the frozen backbone, then the last stages (or from ``unfreeze_from``) too; from random
    weights (``pretrained`` False) the whole network in both phases, unless ``config.freeze_backbone``.

    Returns:
        ``(frozen layers, unfrozen layer names, {phase: its results record})``.
    """
    import keras

    from cnnzoo import compat
    from cnnzoo.training import transfer

    freeze = pretrained if config.freeze_backbone is None else config.freeze_backbone
    train_bn = (not pretrained) if config.train_bn is None else config.train_bn
    if not freeze and config.freeze_backbone is None:
        print("finetune: no pretrained weights (weights=None): the whole network trains in both phases, since a "
              "frozen random backbone stays near chance (freeze_backbone=True / --freeze-backbone freezes it anyway)")
    frozen = transfer.freeze(model) if freeze else []
    phases = {}
    if config.epochs_head:
        phases["head"] = _phase(model, "head", config.epochs_head, train_ds, val_ds, config, out, callbacks)
    unfrozen = []
    if config.epochs_finetune:
        start = config.unfreeze_from or last_stage(model)
        if start is None and freeze:
            raise ValueError(f"{model.name}'s stages are unknown (not a registered model): say where phase 2 "
                             "starts with unfreeze_from (a layer name or prefix). Received: unfreeze_from=None")
        unfrozen = transfer.unfreeze(model, start) if freeze or config.unfreeze_from else \
            [layer.name for layer in model.layers if layer.weights]
        if not train_bn:
            for layer in compat.flatten_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        phases["finetune"] = _phase(model, "finetune", config.epochs_finetune, train_ds, val_ds, config, out,
                                    callbacks)
    return frozen, unfrozen, phases


def finetune(model, train, *, val=None, config=None, out_dir=None, callbacks=(), overwrite=False):
    """Fine-tunes ``model`` on ``train``: a new head on the frozen backbone, then the last stages too.

    Args:
        model: a registered name (``"resnet18"``; pretrained weights with ``config.weights``), a
            ``keras.Model`` or the path of a ``.keras`` file; its classifier is replaced.
        train: a class-folder tree (one sub-folder of images, or of clip folders, per class), a scanned
            `cnnzoo.data.folder.FileList`, ``(images, labels)`` arrays (images 0-255, integer or one-hot
            labels), a ``tf.data.Dataset`` of prepared ``(x, one-hot y)`` batches or a ``keras.utils.PyDataset``.
        val: validation data of the same kind. Defaults to a seeded per-class split of ``train``
            (``config.val_split``; folders and arrays).
        config: a `FinetuneConfig`. Defaults to ``FinetuneConfig()``.
        out_dir: where the run is written (each phase's checkpoints, logs, curves and results;
            ``model.keras``, which carries its class names and preprocessing inside, and for people
            ``classes.json``, ``preprocessing.json``, ``results.json``); calling again with the same
            settings after a crash resumes, with other settings is refused (`cnnzoo.training.run_folder`).
            Defaults to a temporary folder, removed at the end.
        callbacks: Keras callbacks of the caller's, for both phases.
        overwrite: start afresh when ``out_dir`` holds a run: the old one is moved aside to
            ``<out_dir>.old-<time>``.

    Returns:
        A `FinetuneResult`.
    """
    import keras

    from cnnzoo import compat
    from cnnzoo.files import atomic_model_save
    from cnnzoo.training import results, transfer
    from cnnzoo.training.engine import seed_everything

    config = FinetuneConfig() if config is None else config
    if not isinstance(config, FinetuneConfig):
        raise TypeError(f"config must be a FinetuneConfig. Received: config={config!r}")
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir must be a folder; it is a file. Received: out_dir={out_dir!r}")
    seed_everything(config.seed)
    base = _base_model(model, config)
    shape = tuple(base.input_shape[1:])
    if len(shape) - 1 < 2 or None in shape[:-1]:
        raise ValueError(f"fine-tuning needs a model with a fixed 2D or 3D input size. Received: input_shape={shape}")
    started_from = next((os.fspath(p) for p in (model, config.weights)
                         if isinstance(p, (str, os.PathLike)) and os.fspath(p).endswith(".keras")), None)
    train_data, val_data, settings, class_names, report, sizes = _inputs(config, base, train, val, started_from)
    net = transfer.replace_head(base, len(class_names))
    if isinstance(base, keras.Model) and getattr(base, "pretrained", None) is not None:
        net.pretrained = base.pretrained
    # a backbone that learned something: pretrained weights, or a model of the user's own
    pretrained = config.weights is not None or not (isinstance(model, (str, os.PathLike))
                                                    and not os.fspath(model).endswith(".keras"))
    if out_dir is not None:
        from cnnzoo.training import run_folder

        run_folder.claim(out_dir, {
            "kind": "finetune", "model": net.name, "started_from": model if isinstance(model, str) else
            os.fspath(model) if isinstance(model, os.PathLike) else f"a keras.Model ({model.name})",
            "architecture": run_folder.architecture_fingerprint(net),
            "config": run_folder.deciding(config.to_dict()), "classes": class_names,
            "data": {"train": run_folder.data_identity(train_data), "val": run_folder.data_identity(val_data)}},
            overwrite=overwrite)
    work = out_dir if out_dir is not None else tempfile.mkdtemp(prefix="cnnzoo-finetune-")
    try:
        os.makedirs(work, exist_ok=True)
        frozen, unfrozen, phases = _train_phases(net, config, train_data, val_data, work, callbacks, pretrained)
        for layer in compat.flatten_layers(net):  # saved and returned fully trainable, as further training expects
            layer.trainable = True
        overall, per_class = per_class_accuracy(net, val_data, len(class_names))
        preprocessing = None if settings is None else {"scale": 255.0, **settings,
                                                       "weights": getattr(getattr(base, "pretrained", None),
                                                                          "source", None)}
        record = {
            "model": net.name, "folder": os.fspath(train) if _is_folder(train) else type(train).__name__,
            "classes": class_names, **sizes,
            "skipped": [list(s) for s in report.skipped] if report else [],
            "frozen_in_head_phase": len(frozen), "unfrozen_for_finetune": unfrozen,
            "validation_accuracy": overall, "per_class_accuracy": dict(zip(class_names, per_class)),
            "phases": {k: {"final_test_accuracy": v["final_test_accuracy"], "wall_time_s": v["wall_time_s"]}
                       for k, v in phases.items()},
            "preprocessing": settings, "config": config.to_dict(), "saved_model": None,
        }
        if out_dir is not None:
            path = os.path.join(out_dir, "model.keras")
            # what the model needs travels inside the file (cnnzoo.load_model, predict and evaluate read it)
            atomic_model_save(net, path, metadata={"kind": "finetune", "model": net.name, "class_names": class_names,
                                                   "preprocessing": preprocessing})
            with open(os.path.join(out_dir, "classes.json"), "w") as f:
                json.dump(class_names, f)
            if preprocessing is not None:
                with open(os.path.join(out_dir, PREPROCESSING_FILE), "w") as f:
                    json.dump(preprocessing, f, indent=1)
            record["saved_model"] = path
            results.write_json(os.path.join(out_dir, "results.json"), record)
    finally:
        if out_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return FinetuneResult(model=net, history=phases, validation_accuracy=overall,
                          per_class_accuracy=record["per_class_accuracy"], class_names=class_names,
                          preprocessing=preprocessing, record=record, saved_model=record["saved_model"])


def print_result(result):
    """Prints what a command prints after fine-tuning: overall and per-class accuracy, where the model is."""
    record = result.record
    skipped = record["skipped"]
    print(f"\nvalidation accuracy {100 * result.validation_accuracy:.2f}% on {record['validation_examples']} examples"
          + (f" ({len(skipped)} unreadable file(s) skipped)" if skipped else ""))
    for name, acc in result.per_class_accuracy.items():
        print(f"  {name:<20} {'-' if acc is None else f'{100 * acc:.1f}%'}")
    if result.saved_model:
        print(f"saved {result.saved_model} (classes in "
              f"{os.path.join(os.path.dirname(result.saved_model), 'classes.json')})")


__all__ = ["FinetuneConfig", "FinetuneResult", "add_arguments", "finetune", "input_normalization", "parser",
           "per_class_accuracy", "run_command"]
