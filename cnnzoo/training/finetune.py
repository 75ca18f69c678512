"""Fine-tuning a zoo model on a folder of the user's own images or clips.

The folder is scanned once (`cnnzoo.data.folder.scan_folder`) and streamed:
images are decoded, cropped and resized in parallel inside the tf.data
pipeline, clips decoded lazily, so a folder of any size trains in constant
memory. From pretrained weights (``--weights imagenet``) the images are
prepared as those weights were trained: random-resized crop and flip in
training, shorter side resized and centre crop in evaluation, the weights'
mean and std; otherwise the shorter side is resized to the input and centre
cropped (``--resize stretch`` stretches instead).

Phase 1 trains a new head with the backbone frozen (its BatchNorm layers in
inference mode); phase 2 unfreezes the top stages at a lower learning rate,
BatchNorm layers staying in inference mode unless ``train_bn``. Both phases
are the recipes' engine (`cnnzoo.training.fit`): best checkpoint, curves,
results, progress, and resume: re-running the same command after a crash
skips a finished phase and resumes the other from its last finished epoch.
The result is a ``.keras`` model with ``classes.json`` and
``preprocessing.json`` beside it, and per-class accuracies.
"""

import argparse
import json
import os

import numpy as np

DEFAULTS = dict(epochs_head=5, epochs_finetune=5, lr_head=1e-3, lr_finetune=1e-4, batch_size=32,
                val_split=0.2, seed=0)


def add_arguments(parser):
    """Adds the fine-tuning options to ``parser`` (shared by ``cnnzoo finetune`` and the recipe)."""
    parser.add_argument("--model", required=True, help="registered model name, or a .keras file to start from")
    parser.add_argument("--weights", default=None,
                        help="pretrained weights of --model: a weight set name ('imagenet', 'kinetics400', a tag such "
                             "as 'imagenet1k_v2'; see cnnzoo.list_weights()) or a torchvision .pth / .safetensors "
                             "file; or a .keras model (any head) or a .weights.h5 of --model built with "
                             "--weights-classes")
    parser.add_argument("--weights-classes", type=int, default=None, help="classes of the --weights .weights.h5 file")
    # --folder: a class-folder tree (the recipes' --data-dir is a dataset's own files); --data-dir still works
    parser.add_argument("--folder", "--data-dir", dest="folder", required=True,
                        help="one sub-folder per class (images, or clip folders for 3D)")
    parser.add_argument("--val-folder", "--val-dir", dest="val_folder", default=None,
                        help="a separate validation class-folder tree (default: split --folder)")
    parser.add_argument("--val-split", type=float, default=DEFAULTS["val_split"], help="held-out fraction per class")
    parser.add_argument("--input-shape", default=None, help="e.g. 64,64,3 (default: the model's, or 224,224,3)")
    parser.add_argument("--resize", choices=("crop", "stretch"), default="crop",
                        help="images: keep the aspect ratio (shorter side resized, centre crop) or stretch")
    parser.add_argument("--augment", choices=("auto", "none", "random_resized_crop"), default="auto",
                        help="training images: random-resized crop + flip (auto: when starting from a weight set)")
    parser.add_argument("--frame-stride", type=int, default=2, help="clips: frames between the sampled frames")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="training batches an epoch (default: the whole training set once)")
    parser.add_argument("--epochs-head", type=int, default=DEFAULTS["epochs_head"])
    parser.add_argument("--epochs-finetune", type=int, default=DEFAULTS["epochs_finetune"])
    parser.add_argument("--lr-head", type=float, default=DEFAULTS["lr_head"])
    parser.add_argument("--lr-finetune", type=float, default=DEFAULTS["lr_finetune"])
    parser.add_argument("--unfreeze-from", default=None, help="stage to unfreeze from (default: the last stage)")
    parser.add_argument("--train-bn", action="store_true", help="let BatchNorm statistics update in phase 2")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--out", default="runs/finetune", help="output folder")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="0 silent, 1 a progress bar, 2 one line per epoch (default: 1 in a terminal, else 2)")
    return parser


def parser(prog=None):
    """The ``cnnzoo finetune`` command line."""
    return add_arguments(argparse.ArgumentParser(prog=prog, description=__doc__))


def _base_model(args, input_shape):
    import keras

    import cnnzoo
    from cnnzoo.weights import catalog, pretrained
    from cnnzoo.weights.keras_files import load_keras_weights

    if args.model.endswith(".keras"):
        return keras.saving.load_model(args.model, compile=False)
    kwargs = {"input_shape": input_shape}
    if args.weights is None:
        return cnnzoo.get_model(args.model, **kwargs)
    if catalog.is_weight_name(args.weights) or args.weights.lower().endswith(pretrained.TORCH_SUFFIXES):
        return cnnzoo.get_model(args.model, weights=args.weights, **{k: v for k, v in kwargs.items() if v})
    if args.weights.endswith(".keras"):
        source = keras.saving.load_model(args.weights, compile=False)
        model = cnnzoo.get_model(args.model, classes=source.output_shape[-1], **kwargs)
        from cnnzoo.training.transfer import copy_weights

        return copy_weights(source, model)
    if args.weights_classes is None:
        raise ValueError("--weights FILE.weights.h5 needs --weights-classes (the classes it was trained with)")
    model = cnnzoo.get_model(args.model, classes=args.weights_classes, **kwargs)
    load_keras_weights(model, args.weights)
    return model


def _last_stage(model):
    stages = [la.name.split("_")[0] for la in model.layers if la.name.startswith(("stage", "inception")) and la.weights]
    return stages[-1] if stages else None


PREPROCESSING_FILE = "preprocessing.json"  # beside model.keras: how predict prepares an image


def input_normalization(model):
    """``{"mean": ..., "std": ...}`` of the weight set a model was built with (empty: inputs in [0, 1])."""
    weight_set = getattr(model, "pretrained", None)
    if weight_set is None:
        return {"mean": None, "std": None}
    return {"mean": list(weight_set.preprocessing.mean), "std": list(weight_set.preprocessing.std)}


def per_class_accuracy(model, dataset, num_classes=None):
    """Overall and per-class accuracy on a batched tf.data dataset of ``(x, one-hot labels)`` (give
    ``num_classes``), or on an in-memory `cnnzoo.data.Dataset` (images in [0, 1]).
    """
    from cnnzoo.data import Dataset, make_pipeline

    if isinstance(dataset, Dataset):
        dataset, num_classes = make_pipeline(dataset, 64, training=False), dataset.num_classes
    preds, labels = [], []
    for x, y in dataset:
        preds.append(np.argmax(model.predict_on_batch(x), axis=-1))
        labels.append(np.argmax(np.asarray(y), axis=-1))
    pred, label = np.concatenate(preds), np.concatenate(labels)
    per_class = [float(np.mean(pred[label == c] == c)) if np.any(label == c) else None for c in range(num_classes)]
    return float(np.mean(pred == label)), per_class


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


def image_settings(model, args):
    """How images are prepared for ``model``: the keyword arguments of `image_folder_pipeline`
    (normalization, resize ratio, augmentation), from its weight set if it has one, else from
    what the run that trained it recorded (a recipe's mean/std), else [0, 1].
    """
    weight_set = getattr(model, "pretrained", None)
    settings = {"resize": args.resize, "resize_ratio": 1.0, "augment": None, **input_normalization(model)}
    start = next((p for p in (args.model, args.weights) if p and p.endswith(".keras")), None)
    if weight_set is None and start is not None:
        settings.update(recorded_normalization(start) or {})
    if weight_set is not None and weight_set.preprocessing.kind == "image":
        p = weight_set.preprocessing
        settings["resize_ratio"] = p.resize[0] / p.crop[0]
        settings["augment"] = "random_resized_crop"
    if args.augment != "auto":
        settings["augment"] = None if args.augment == "none" else args.augment
    return settings


def _scan(args, kind):
    from cnnzoo.data.folder import ImageFolderError, class_folders, scan_folder

    files = scan_folder(args.folder, kind)
    print(files.report())
    if not args.val_folder:
        train, val = files.split(args.val_split, seed=args.seed)
        empty = [c for i, c in enumerate(files.class_names) if not np.any(train.labels == i)]
        if empty:
            raise ValueError(f"--val-split {args.val_split} holds out every image of class {empty[0]!r} "
                             f"({int(np.sum(files.labels == files.class_names.index(empty[0])))} in all): lower it, "
                             f"or give --val-folder. Received: --val-split {args.val_split}")
        return train, val, files.report()
    if class_folders(args.val_folder) != files.class_names:
        raise ImageFolderError(f"--val-folder classes {class_folders(args.val_folder)} differ from --folder's "
                               f"{files.class_names}")
    val = scan_folder(args.val_folder, kind, classes=files.class_names)
    report = files.report()
    report.skipped += val.skipped
    return files, val, report


def _pipelines(args, base, train, val, batch):
    """Training and validation pipelines streamed from the scanned files, and the settings used."""
    from cnnzoo.data.folder import image_folder_pipeline
    from cnnzoo.data.video import KINETICS_MEAN, KINETICS_STD, clip_files_pipeline

    shape = tuple(base.input_shape[1:])
    if len(shape) == 4:
        frames, height, width = shape[:3]
        if height != width:
            raise ValueError(f"clips are cropped square: the model's input must have H == W. Received: {shape}")
        clip = dict(frames=frames, stride=args.frame_stride, size=height, seed=args.seed)
        train_ds = clip_files_pipeline(train.paths, train.labels, train.num_classes, training=True,
                                       batch_size=batch, **clip)
        val_ds = clip_files_pipeline(val.paths, val.labels, val.num_classes, training=False, batch_size=8, **clip)
        return train_ds, val_ds, {"kind": "clips", "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD)}
    settings = image_settings(base, args)
    common = dict(channels=shape[-1], seed=args.seed, **settings)
    train_ds = image_folder_pipeline(train, shape[:2], training=True, batch_size=batch, **common)
    val_ds = image_folder_pipeline(val, shape[:2], training=False, batch_size=32, **common)
    return train_ds, val_ds, {"kind": "images", **settings}


def _phase(model, name, epochs, lr, train_ds, val_ds, batch, args, callbacks=()):
    """One phase through the engine; a phase finished before (its weights saved) is loaded, not run again."""
    from cnnzoo.training.engine import TrainConfig, fit

    out = os.path.join(args.out, name)
    done = os.path.join(out, "phase_done.weights.h5")
    if os.path.exists(done):
        model.load_weights(done)
        print(f"{name}: finished in an earlier run, weights loaded from {done}")
        with open(os.path.join(out, "results.json")) as f:
            return json.load(f)
    cfg = TrainConfig(epochs=epochs, batch_size=batch, optimizer="adamw", lr=lr, schedule="cosine", seed=args.seed)
    record = fit(model, train_ds, val_ds, cfg, out, verbose=args.verbose, callbacks=callbacks,
                 steps_per_epoch=getattr(args, "steps_per_epoch", None))
    tmp = os.path.join(out, "phase_done.partial.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, done)
    return record


def run(args, callbacks=()):
    """Fine-tunes; returns the results record (also written to ``<out>/results.json``).

    ``callbacks``: Keras callbacks of the caller's, for both phases.
    """
    from cnnzoo.training import transfer
    from cnnzoo.training.engine import seed_everything

    _check_args(args)
    seed_everything(args.seed)
    shape = tuple(int(v) for v in args.input_shape.split(",")) if args.input_shape else None
    base = _base_model(args, shape)
    shape = tuple(base.input_shape[1:])
    rank = len(shape) - 1
    if rank < 2 or None in shape[:-1]:
        raise ValueError(f"fine-tuning needs a model with a fixed 2D or 3D input size. Received: input_shape={shape}")
    train, val, report = _scan(args, "clips" if rank == 3 else "images")
    batch = min(args.batch_size, len(train))
    train_ds, val_ds, settings = _pipelines(args, base, train, val, batch)
    model = transfer.replace_head(base, train.num_classes)
    os.makedirs(args.out, exist_ok=True)

    frozen, unfrozen, phases = _train_phases(model, args, train_ds, val_ds, batch, callbacks)
    overall, per_class = per_class_accuracy(model, val_ds, train.num_classes)
    path = os.path.join(args.out, "model.keras")
    model.save(path)
    with open(os.path.join(args.out, "classes.json"), "w") as f:
        json.dump(report.class_names, f)
    with open(os.path.join(args.out, PREPROCESSING_FILE), "w") as f:
        json.dump({"scale": 255.0, **settings,
                   "weights": getattr(getattr(base, "pretrained", None), "source", None)}, f, indent=1)
    record = {
        "model": model.name, "folder": args.folder, "classes": report.class_names,
        "train_examples": len(train), "validation_examples": len(val),
        "skipped": [list(s) for s in report.skipped], "frozen_in_head_phase": len(frozen),
        "unfrozen_for_finetune": unfrozen, "validation_accuracy": overall,
        "per_class_accuracy": dict(zip(report.class_names, per_class)),
        "phases": {k: {"final_test_accuracy": v["final_test_accuracy"], "wall_time_s": v["wall_time_s"]}
                   for k, v in phases.items()},
        "preprocessing": settings,
        "args": {k: v for k, v in vars(args).items() if not callable(v)},
        "saved_model": path,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(record, f, indent=2)
    print(f"\nvalidation accuracy {100 * overall:.2f}% on {len(val)} examples"
          + (f" ({len(report.skipped)} unreadable file(s) skipped)" if report.skipped else ""))
    for name, acc in zip(report.class_names, per_class):
        print(f"  {name:<20} {'-' if acc is None else f'{100 * acc:.1f}%'}")
    print(f"saved {path} (classes in {os.path.join(args.out, 'classes.json')})")
    return record


def _check_args(args):
    """The command line's numbers and paths, each error naming its flag."""
    for name in ("epochs_head", "epochs_finetune", "batch_size", "frame_stride", "steps_per_epoch"):
        value = getattr(args, name, None)
        if value is None and name == "steps_per_epoch":
            continue
        if value < 0 or (name in ("batch_size", "frame_stride", "steps_per_epoch") and value < 1):
            raise ValueError(f"--{name.replace('_', '-')} must be positive. Received: {value}")
    if not args.val_folder and not 0 < args.val_split < 1:
        raise ValueError(f"--val-split must be in (0, 1). Received: {args.val_split}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out must be a folder; {args.out} is a file. Received: --out {args.out}")
    for flag, path in (("--model", args.model), ("--weights", args.weights)):
        if path and path.endswith((".keras", ".h5", ".pth", ".pt", ".safetensors")) and not os.path.isfile(path):
            raise ValueError(f"{flag} must be a model or weights file. Received: {flag} {path}")


def _train_phases(model, args, train_ds, val_ds, batch, callbacks):
    """The head alone on the frozen backbone, then the last stages (or from ``--unfreeze-from``) too.

    Returns:
        ``(frozen layers, unfrozen layer names, {phase: its results record})``.
    """
    import keras

    from cnnzoo import compat
    from cnnzoo.training import transfer

    frozen = transfer.freeze(model)
    phases = {}
    if args.epochs_head:
        phases["head"] = _phase(model, "head", args.epochs_head, args.lr_head, train_ds, val_ds, batch, args,
                                callbacks)
    unfrozen = []
    if args.epochs_finetune:
        start = args.unfreeze_from or _last_stage(model)
        unfrozen = transfer.unfreeze(model, start) if start else []
        if not args.train_bn:
            for layer in compat.flatten_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        phases["finetune"] = _phase(model, "finetune", args.epochs_finetune, args.lr_finetune, train_ds, val_ds,
                                    batch, args, callbacks)
    return frozen, unfrozen, phases


def predict(model_path, image_paths, top_k=5, labels=None):
    """Top-k classes with probabilities for each image: ``[(path, [(class, prob), ...]), ...]``."""
    import keras

    from cnnzoo.data.folder import load_image

    model = keras.saving.load_model(model_path, compile=False)
    if labels is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(model_path)), "classes.json")
        if os.path.exists(beside):
            with open(beside) as f:
                labels = json.load(f)
    settings = {"scale": 255.0, "mean": None, "std": None, "resize": "stretch", "resize_ratio": 1.0}
    beside = os.path.join(os.path.dirname(os.path.abspath(model_path)), PREPROCESSING_FILE)
    if os.path.exists(beside):  # written by finetune: prepare images as its validation did
        with open(beside) as f:
            settings.update(json.load(f))
    shape = model.input_shape[1:]
    classes = int(model.output_shape[-1])
    if labels is not None and len(labels) < classes:
        raise ValueError(f"the labels name {len(labels)} classes but the model predicts {classes}: --labels (or "
                         f"classes.json) must name every class. Received: {len(labels)} names")
    results = []
    for path in image_paths:
        try:
            image = load_image(path, shape[:2], shape[-1], settings["resize"], settings["resize_ratio"])
        except (ValueError, FileNotFoundError) as e:
            results.append((path, f"unreadable: {e}"))
            continue
        x = image.astype("float32") / float(settings["scale"])
        if settings["mean"] is not None:
            x = (x - np.asarray(settings["mean"], "float32")) / np.asarray(settings["std"], "float32")
        probs = np.asarray(model.predict(x[None], verbose=0))[0]
        order = np.argsort(-probs)[:top_k]
        results.append((path, [(labels[i] if labels else str(i), float(probs[i])) for i in order]))
    return results


def predict_pretrained(name, weights, image_paths, top_k=5):
    """Top-k classes of each image with a registered model and its pretrained weights, prepared and
    named as the weight set says: ``[(path, [(class name, prob), ...]), ...]``.
    """
    import cnnzoo
    from cnnzoo.data.folder import read_image
    from cnnzoo.weights import get_weights

    weight_set = get_weights(name, weights)
    if weight_set.preprocessing.kind != "image":
        raise ValueError(f"{name}'s weights {weight_set.tag!r} classify clips; predict takes images. "
                         "In Python: cnnzoo.preprocess_input(clip, model=model), then model.predict.")
    model = cnnzoo.get_model(name, weights=weight_set)
    results = []
    for path in image_paths:
        try:
            image = read_image(path, None, 3)
        except (ValueError, FileNotFoundError) as e:
            results.append((path, f"unreadable: {e}"))
            continue
        probs = model.predict(cnnzoo.preprocess_input(image, model=model)[None], verbose=0)
        top = cnnzoo.decode_predictions(probs, top=top_k, model=model)[0]
        results.append((path, [(label, prob) for _, label, prob in top]))
    return results


__all__ = ["add_arguments", "input_normalization", "parser", "per_class_accuracy", "predict", "predict_pretrained",
           "run", "DEFAULTS"]
