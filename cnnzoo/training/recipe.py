"""What every classification recipe does, so each recipe file is its config.

A recipe is a module with a docstring (the exact command, the target and the
measured result) and a ``CONFIG`` dict; ``run(CONFIG, __doc__)`` parses the
command line, loads the data, builds the model inside the distribution
strategy's scope, trains with `fit` and prints the result.
"""

import argparse
import dataclasses
import os
import sys

from cnnzoo import registry
from cnnzoo.training.config import STRATEGIES, TrainConfig

# Keys of CONFIG that are not TrainConfig fields.
RECIPE_KEYS = {
    "name": "recipe name: output folder runs/<name> and the script recipes/<name>.py",
    "model": "registered model name",
    "model_kwargs": "extra builder arguments",
    "dataset": "mnist | fashion_mnist | cifar10 | cifar100",
    "augment": "augmentations, see cnnzoo.data.AUGMENTATIONS",
    "crop_padding": "pixels of padding before the random crop",
    "mean": "per-channel mean after scaling to [0, 1] (None: no normalization)",
    "std": "per-channel std",
    "test_batch_size": "examples per evaluation batch",
    "smoke": "overrides for --smoke: epochs, train_examples, test_examples, model_kwargs",
    "sequence": "read each image pixel by pixel: (H, W, C) becomes an (H*W, C) sequence",
}


def build_parser(config, doc, prog=None):
    """A recipe's command line: its flags with the CONFIG's values as defaults, ``--override``."""
    parser = argparse.ArgumentParser(prog=prog or f"python recipes/{config['name']}.py", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None,
                        help="folder with the dataset's native files "
                             "(default: CNNZOO_DATA_DIR, then tensorflow-datasets)")
    parser.add_argument("--out", default=None, help="output folder (default: runs/<recipe>)")
    parser.add_argument("--model", default=None, help=f"registered model (default: {config['model']})")
    parser.add_argument("--epochs", type=int, default=None, help=f"default: {config['epochs']}")
    parser.add_argument("--batch-size", type=int, default=None, help=f"default: {config['batch_size']}")
    parser.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default: {config['lr']})")
    parser.add_argument("--seed", type=int, default=None, help=f"default: {config.get('seed', 0)}")
    parser.add_argument("--smoke", action="store_true", help="a slice of the data and one epoch (CI)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh when --out holds a run: the old one is moved aside to <out>.old-<time> "
                             "(without it, a run of other settings there is refused, one of the same resumes)")
    parser.add_argument("--download", action="store_true", help="let tensorflow-datasets download the data")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="auto: one device, or all local GPUs / JAX devices; mirrored: all local devices "
                             "(TensorFlow: tf.distribute.MirroredStrategy; JAX: keras.distribution.DataParallel); "
                             "multi_worker: TensorFlow workers from TF_CONFIG")
    parser.add_argument("--jit-compile", action="store_true", default=None,
                        help="compile the training step (default: the backend's measured choice: off on "
                             "TensorFlow's CPU, where XLA measured slower; on for JAX)")
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                        help="mixed_bfloat16 (default: the device's, cnnzoo/training/backend_defaults.py: on for GPUs "
                             "with bf16 matrix units, off on CPUs)")
    parser.add_argument("--deterministic", action="store_true", help="TF op determinism (slower)")
    spe = config.get("steps_per_execution", TrainConfig.steps_per_execution)
    parser.add_argument("--steps-per-execution", type=int, default=None,
                        help="training steps per call into TensorFlow (cuts the per-step overhead of small "
                             f"models; default {spe}, see benchmarks/README.md)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="0 silent, 1 a progress bar within each epoch, 2 one line per epoch (default: 1 in a "
                             "terminal, else 2)")
    parser.add_argument("--override", "--set", metavar="KEY=VALUE", action="append", default=[],
                        help="change any value of the recipe's config (repeatable), type-checked against the "
                             "default: --override label_smoothing=0.1 --override augment=crop,flip "
                             "--override model_kwargs={'width':0.5}; the keys: " + ", ".join(config_keys(config)))
    return parser


def config_keys(config):
    """The keys --override may set: the recipe's CONFIG, the recipe keys and every TrainConfig field."""
    return sorted((set(config) | set(RECIPE_KEYS) | {f.name for f in dataclasses.fields(TrainConfig)})
                  - {"name", "smoke"})


# What a recipe key means when a CONFIG leaves it out (cnnzoo.training.recipe.train_recipe's defaults).
RECIPE_DEFAULTS = {"model_kwargs": {}, "augment": (), "crop_padding": 4, "test_batch_size": 1000, "sequence": False}


def default_of(config, key):
    """What ``key`` is in a recipe's ``config``: its value, else the recipe runner's or TrainConfig's default."""
    if key in config:
        return config[key]
    if key in RECIPE_KEYS:
        return RECIPE_DEFAULTS.get(key)
    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}[key]


def parse_override(config, text):
    """``KEY=VALUE`` -> (key, value), the value converted to the type of the key's default (`check_override`).

    Raises:
        ValueError: an unknown key, or a value of the wrong type (the message names both).
    """
    import ast

    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in config_keys(config):
        raise ValueError(f"--override takes KEY=VALUE with KEY one of {', '.join(config_keys(config))}. "
                         f"Received: --override {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word: a string
    return key, check_override(config, key, value, raw=raw, text=True)


_BOOL_KEYS = ("deterministic", "nesterov", "ema", "sync_batch_norm", "mixed_precision", "tensorboard", "sequence")


def check_override(config, key, value, raw=None, text=False):
    """``value`` for recipe key ``key``, checked (and converted) against the type of the key's default: one rule
    for ``--override KEY=VALUE`` and for ``cnnzoo.recipes.run(name, KEY=VALUE)``.

    Args:
        config: the recipe's CONFIG.
        key: a key of `config_keys`.
        value: the value (for ``--override``, parsed as a Python literal, else the bare word).
        raw: the text as typed, for the error message.
        text: the value came from a command line: words such as ``true`` and ``a,b`` are read as a bool and a list.

    Raises:
        ValueError: an unknown key, or a value of the wrong type (the message names both).
    """
    if key not in config_keys(config):
        raise ValueError(f"{key} is not a key of this recipe; the keys: {', '.join(config_keys(config))}. "
                         f"Received: {key}={value!r}")
    default = default_of(config, key)
    if isinstance(default, bool) or key in _BOOL_KEYS:
        if text and isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            value = value.lower() in ("true", "yes", "1")
        ok = isinstance(value, bool)
        kind = "true or false"
    elif isinstance(default, (tuple, list)) or key in ("augment", "milestones", "mean", "std"):
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        value = tuple(value) if isinstance(value, (tuple, list)) else (value,) if isinstance(value, (int, float)) \
            else value
        ok = isinstance(value, tuple)
        kind = "a comma-separated list"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        kind = "a number"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "an integer"
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
        kind = "a dict such as {'width': 0.5}"
    elif isinstance(default, str):
        ok = isinstance(value, str)
        kind = "a word"
    else:  # a None default (mean, std, jit_compile): whatever Python literal fits
        ok, kind = True, "a value"
    if not ok:
        shown = raw if raw is not None else value
        prefix = "--override " if text else ""
        raise ValueError(f"{prefix}{key} takes {kind} (default: {default!r}). Received: {key}={shown!r}")
    return value


def resolve_config(config, args):
    """The recipe's CONFIG with ``--override`` values, then the dedicated flags given, applied."""
    resolved = dict(config)
    for text in getattr(args, "override", ()):
        key, value = parse_override(config, text)
        resolved[key] = value
    return resolved


# The flags of every recipe's command line that are also config keys: given, they win over --override.
FLAG_KEYS = ("model", "epochs", "batch_size", "lr", "seed", "steps_per_execution")


def parse(config, doc, argv=None, registered_model=True, prog=None):
    """Parses a recipe's command line; ``registered_model=False`` for a model built by the recipe.

    ``--override KEY=VALUE`` values are checked here and land in ``args.config``, the resolved
    config; the dedicated flags (``--epochs``, ``--lr``...) win over both.
    """
    parser = build_parser(config, doc, prog)
    args = parser.parse_args(argv)
    args.prog = parser.prog
    try:
        args.config = resolve_config(config, args)
    except ValueError as e:
        parser.error(str(e))
    try:
        finish_args(config, args, registered_model)
    except ValueError as e:
        parser.error(str(e))
    return args


def finish_args(config, args, registered_model=True):
    """Settles ``args`` (a parsed command line, or `run_recipe`'s): the flags given win over ``args.config``,
    the model must be registered, and the resolved config must make a valid `TrainConfig`.

    Raises:
        ValueError: naming the flag (or key) and what was received.
    """
    for key in FLAG_KEYS:  # the flags win
        if getattr(args, key, None) is not None:
            args.config[key] = getattr(args, key)
        setattr(args, key, args.config[key] if key in args.config else default_of(config, key))
    if registered_model and args.model not in registry.list_models():
        raise ValueError(f"--model must be a registered model ({', '.join(registry.list_models())}). "
                         f"Received: {args.model!r}")
    try:  # TrainConfig holds the rules; the message names the flag
        train_config(args.config, args)
    except ValueError as e:
        flag = str(e).split(" ", 1)[0]
        raise ValueError(f"--{flag.replace('_', '-')} {str(e).split(' ', 1)[1]}" if hasattr(args, flag) else str(e))\
            from None


def start_afresh(args, out):
    """For a recipe that writes several runs under ``out``: with ``--overwrite``, the whole earlier ``out`` is moved
    aside once, before the first run (`cnnzoo.training.run_folder.move_aside`), and the runs then start in an
    empty folder.
    """
    from cnnzoo.training import run_folder

    if getattr(args, "overwrite", False):
        run_folder.move_aside(out)
        args.overwrite = False


def run_recipe(config, doc, overrides, *, data_dir=None, out=None, smoke=False, download=False, strategy="auto",
               verbose=None, overwrite=False):
    """Trains a CONFIG recipe from Python: the same as its command line, every override checked by `check_override`.

    Returns:
        The results record.
    """
    check_config(config)
    args = build_parser(config, doc).parse_args([])
    args.prog = f"cnnzoo.recipes.run({config['name']!r})"
    args.data_dir, args.out, args.smoke, args.download, args.strategy, args.verbose, args.overwrite = (
        data_dir, out, smoke, download, strategy, verbose, overwrite)
    args.config = dict(config)
    for key, value in overrides.items():
        args.config[key] = check_override(config, key, value)
    finish_args(config, args)
    out = args.out or os.path.join("runs", config["name"])
    argv = [f"{k}={v!r}" for k, v in overrides.items()]
    return train_recipe(config, args, out=out, argv=argv)


def train_config(config, args):
    """The `TrainConfig` of a run: the recipe's CONFIG and the command line (``--smoke`` shortens it)."""
    config = getattr(args, "config", config)
    values = {}
    smoke = config.get("smoke", {})
    epochs = smoke.get("epochs", 1) if args.smoke else args.epochs
    if config.get("milestones") and epochs != config["epochs"]:
        # keep the step schedule's milestones at the same fractions of training
        values["milestones"] = tuple(max(1, round(m * epochs / config["epochs"])) for m in config["milestones"])
    values.update(epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                  deterministic=args.deterministic, jit_compile=args.jit_compile,
                  steps_per_execution=args.steps_per_execution)
    if args.mixed_precision is not None:  # the user's choice wins over the CONFIG's and the device's
        values["mixed_precision"] = args.mixed_precision
    return TrainConfig.from_dict(config, **values)


def check_config(config):
    """Raises on a CONFIG key that is neither a recipe key nor a TrainConfig field."""
    unknown = set(config) - set(RECIPE_KEYS) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"CONFIG has unknown keys {sorted(unknown)}")


def _load_splits(config, args):
    """The recipe's train and test `Dataset`: a slice of each for ``--smoke``, flattened to sequences
    for a ``sequence`` recipe.
    """
    from cnnzoo import data

    splits = {}
    for split in ("train", "test"):
        # --smoke runs on any slice, so it skips the full-size record-count check
        splits[split] = data.load_arrays(config["dataset"], split, data_dir=args.data_dir,
                                         download=args.download, allow_sample=True,
                                         check_count=not args.smoke)
        if args.smoke:
            n = config.get("smoke", {}).get(f"{split}_examples", 512)
            d = splits[split]
            splits[split] = dataclasses.replace(d, images=d.images[:n], labels=d.labels[:n])
    if default_of(config, "sequence"):
        splits = {k: dataclasses.replace(d, images=d.images.reshape(len(d), -1, d.images.shape[-1]))
                  for k, d in splits.items()}
    return splits["train"], splits["test"]


def train_recipe(config, args, model_fn=None, out=None, argv=None, callbacks=()):
    """Loads the data, builds the model in the strategy's scope and trains it.

    Args:
        config: the recipe's CONFIG.
        args: parsed command line (`parse`).
        model_fn: ``(input_shape, classes) -> keras.Model`` for a model outside
            the registry; default: ``cnnzoo.get_model(args.model, ...)``.
        out: output folder; default ``--out`` or ``runs/<name>``.
        argv: the command line as typed, for the recorded command; default ``sys.argv[1:]``.
        callbacks: Keras callbacks for `fit` (e.g. `cnnzoo.training.engine.StopAtAccuracy`).

    Returns:
        The results record.
    """
    check_config(config)
    config = getattr(args, "config", config)  # with --override values
    out = out or args.out or os.path.join("runs", config["name"])

    import keras

    from cnnzoo import data
    from cnnzoo.training import backend_defaults, distribute
    from cnnzoo.training.engine import fit, seed_everything

    tconfig = train_config(config, args)
    seed_everything(tconfig.seed, tconfig.deterministic)
    tconfig = backend_defaults.resolve(tconfig)  # the device's precision, unless the user chose
    if tconfig.mixed_precision:
        keras.mixed_precision.set_global_policy(distribute.mixed_precision_policy())
    strategy = distribute.make_strategy(args.strategy)
    train, test = _load_splits(config, args)
    if args.smoke and len(train) < tconfig.batch_size:
        tconfig = dataclasses.replace(tconfig, batch_size=len(train))
    # The batch size is global: under a strategy each replica gets batch_size / replicas.
    norm = dict(mean=config.get("mean"), std=config.get("std"))
    train_ds = data.make_pipeline(train, tconfig.batch_size, training=True, seed=tconfig.seed,
                                  augment=default_of(config, "augment"),
                                  crop_padding=default_of(config, "crop_padding"), **norm)
    test_ds = data.make_pipeline(test, default_of(config, "test_batch_size"), training=False, **norm)
    with strategy.scope():
        if model_fn is not None:
            model = model_fn(train.images.shape[1:], train.num_classes)
        else:
            model_kwargs = dict(default_of(config, "model_kwargs"))
            if args.smoke:  # CI checks the code path, not the network's size
                model_kwargs.update(config.get("smoke", {}).get("model_kwargs", {}))
            model = registry.get_model(args.model, input_shape=train.images.shape[1:],
                                     classes=train.num_classes, **model_kwargs)
    info = {"name": train.name, "source": train.source, "train_examples": len(train),
            "test_examples": len(test), "sample": train.is_sample, "smoke": args.smoke,
            "strategy": args.strategy, "replicas": strategy.num_replicas_in_sync,
            # what a model trained here expects: `cnnzoo finetune` reads it from this results.json
            "normalization": {"mean": _listed(norm["mean"]), "std": _listed(norm["std"])}}
    backend = keras.backend.backend()  # the command that repeats the run names a backend other than the default
    prog = getattr(args, "prog", None) or f"python recipes/{config['name']}.py"
    command = " ".join([*([f"KERAS_BACKEND={backend}"] if backend != "tensorflow" else []), prog,
                        *(sys.argv[1:] if argv is None else argv)])
    # the run folder records the recipe's own keys beside the TrainConfig (cnnzoo.training.run_folder)
    recipe_keys = {k: v for k, v in config.items() if k in RECIPE_KEYS and (k != "smoke" or args.smoke)}
    record = fit(model, train_ds, test_ds, tconfig, out, dataset_info=info, verbose=args.verbose,
                 command=command, strategy=strategy, callbacks=callbacks, identity={"recipe": recipe_keys},
                 overwrite=getattr(args, "overwrite", False))
    # the whole resolved recipe config (data, augmentation, model arguments) beside the TrainConfig
    record["recipe"] = {"name": config["name"], "config": config}
    if distribute.is_chief():
        from cnnzoo.training import results

        results.write_json(os.path.join(out, "results.json"), record)
    return record


def _listed(value):
    return None if value is None else [float(v) for v in (value if hasattr(value, "__len__") else [value])]


def report(record, out):
    """Prints a finished run's accuracy, time and where its files are."""
    note = " (SMALL BUNDLED SAMPLE, not comparable)" if record["dataset"].get("sample") else ""
    print(f"\n{record['model']} on {record['dataset'].get('name')}{note}: test accuracy "
          f"{100 * record['final_test_accuracy']:.2f}% (best {100 * record['best_test_accuracy']:.2f}%) "
          f"after {record['epochs_run']} epochs, {record['wall_time_s']:.0f} s, "
          f"{record['train_examples_per_s']:.0f} train images/s")
    print(f"results: {os.path.join(out, 'results.json')}  curves: {os.path.join(out, 'curves.png')}")


def run(config, doc, argv=None, prog=None):
    """Runs a recipe; returns the process exit code."""
    check_config(config)
    args = parse(config, doc, argv, prog=prog)
    out = args.out or os.path.join("runs", config["name"])
    from cnnzoo.training.engine import TrainingDivergedError
    from cnnzoo.training.run_folder import RunFolderError

    try:
        record = train_recipe(config, args, out=out, argv=argv)
    except (TrainingDivergedError, RunFolderError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report(record, out)
    return 0
