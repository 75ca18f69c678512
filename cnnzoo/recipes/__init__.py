"""The recipes: one readable config each, shipped with the package.

``cnnzoo recipes`` lists them with their target and measured result; ``cnnzoo train NAME [options]``
runs one (``--override KEY=VALUE`` changes any config value); in the repository
``python recipes/NAME.py [options]`` does the same. A recipe is a module here with a docstring (the
command, the target and the measured result), a ``TARGET`` line, and either a ``CONFIG`` dict that
the shared runner (`cnnzoo.training.recipe`) trains, or its own ``main(argv, prog)``.
"""

import importlib
import json
import os

NAMES = (
    "mnist_lenet5", "mnist_fast", "mnist_best", "fashion_mnist", "seq_mnist_1d", "cifar10_resnet",
    "cifar100_resnet", "cifar10_vgg16_bn", "video_moving_digits", "video_ucf101", "mlp_vs_cnn", "finetune",
    "detect_digits",
)
# The measured results (mean +- std over seeds), written by recipes/make_results_table.py from the
# results.json files of real runs.
MEASURED_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measured.json")


def list_recipes():
    """The recipes' names."""
    return list(NAMES)


def get(name):
    """The recipe module ``name``.

    Raises:
        ValueError: no recipe of that name (the message lists them).
    """
    if name not in NAMES:
        raise ValueError(f"no recipe {name!r}; the recipes are: {', '.join(NAMES)} (cnnzoo recipes). "
                         f"Received: {name!r}")
    return importlib.import_module(f"cnnzoo.recipes.{name}")


def main(name, argv=None, prog=None):
    """Runs recipe ``name`` with the command line ``argv``; returns the exit status."""
    module = get(name)
    prog = prog or f"cnnzoo train {name}"
    if not {"-h", "--help"} & set(argv or ()):
        import cnnzoo

        cnnzoo.load()  # TensorFlow's start-up lines held back, the layers registered (the `cnnzoo` command is lazy)
    try:
        if hasattr(module, "main"):
            return module.main(argv, prog=prog)
        from cnnzoo.training.recipe import run

        return run(module.CONFIG, module.__doc__, argv, prog=prog)
    except Exception as e:  # a user sees one line, as from every cnnzoo command; CNNZOO_DEBUG=1 the traceback
        if os.environ.get("CNNZOO_DEBUG"):
            raise
        import sys

        lines = [line for line in str(e).strip().splitlines() if line.strip()] or [type(e).__name__]
        print(f"{prog}: error: {lines[0]} ({type(e).__name__}; CNNZOO_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


def run(name, *, data_dir=None, out=None, smoke=False, overwrite=False, **overrides):
    """Runs recipe ``name`` from Python and returns its results record.

    Args:
        name: a recipe (`list_recipes`).
        data_dir: the folder with the dataset's own files (default: ``CNNZOO_DATA_DIR``, then
            tensorflow-datasets).
        out: the output folder. Defaults to ``runs/<name>``.
        smoke: a slice of the data and one epoch.
        overwrite: start afresh when ``out`` holds a run (moved aside to ``<out>.old-<time>``); without it a
            run of other settings there is refused (`cnnzoo.training.run_folder.RunFolderError`).
        **overrides: values of the recipe's config (``epochs=2``, ``label_smoothing=0.1``,
            ``model_kwargs={"width": 0.5}``), checked as ``--override KEY=VALUE`` is (one rule,
            `cnnzoo.training.recipe.check_override`); also ``download``, ``strategy``, ``verbose``.
            A recipe with its own command line (``mnist_fast``, ``video_moving_digits``...) takes
            its flags' names (``seeds="0,1"``).

    Returns:
        The results record (``<out>/results.json``); for a recipe that writes several, ``{path: record}``
        of those it wrote.
    """
    import cnnzoo

    module = get(name)
    cnnzoo.load()
    if not hasattr(module, "main"):
        from cnnzoo.training.recipe import run_recipe

        options = {k: overrides.pop(k) for k in ("download", "strategy", "verbose") if k in overrides}
        return run_recipe(module.CONFIG, module.__doc__, overrides, data_dir=data_dir, out=out, smoke=smoke,
                          overwrite=overwrite, **options)
    out = out or os.path.join("runs", name)
    argv = ["--out", out] + (["--data-dir", os.fspath(data_dir)] if data_dir is not None else [])
    argv += ["--smoke"] if smoke else []
    argv += ["--overwrite"] if overwrite else []
    for key, value in overrides.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False and value is not None:
            argv += [flag, ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
    started = _results_files(out)
    try:
        status = module.main(argv, prog=f"cnnzoo.recipes.run({name!r})")
    except SystemExit:  # the recipe's parser refused an option (its message is on stderr)
        raise ValueError(f"recipe {name} refused its options {argv}: see the message above. "
                         f"Received: {overrides}") from None
    if status:
        raise RuntimeError(f"recipe {name} failed (exit status {status}); its message is above")
    written = {path: stamp for path, stamp in _results_files(out).items() if started.get(path) != stamp}
    records = {}
    for path in sorted(written):
        with open(path) as f:
            records[os.path.relpath(path, out)] = json.load(f)
    return records.get("results.json", records)


def _results_files(out):
    found = {}
    for root, _, files in os.walk(out):
        for f in files:
            if f == "results.json":
                path = os.path.join(root, f)
                found[path] = os.stat(path).st_mtime_ns
    return found


def measured():
    """{recipe: [row, ...]} of the published results (empty when none are bundled)."""
    try:
        with open(MEASURED_FILE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def describe(name):
    """The recipe's purpose (its docstring's first paragraph, on one line) and its target."""
    module = get(name)
    first = (module.__doc__ or name).strip().split("\n\n")[0]
    return " ".join(first.split()), getattr(module, "TARGET", "")
