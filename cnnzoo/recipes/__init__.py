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
    if hasattr(module, "main"):
        return module.main(argv, prog=prog)
    from cnnzoo.training.recipe import run

    return run(module.CONFIG, module.__doc__, argv, prog=prog)


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
