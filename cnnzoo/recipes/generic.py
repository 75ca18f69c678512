"""Any registered model on any built-in dataset, with sensible defaults per dataset.

    cnnzoo train --model resnet20 --dataset fashion_mnist [--epochs 5] [--override KEY=VALUE ...]

For the combinations no recipe covers. The defaults are the recipes' own settings for that dataset
(MNIST: mnist_lenet5's AdamW and shifts; CIFAR: cifar10_resnet's augmentation and normalization with
a cosine SGD schedule); every value can be changed with --override. Not measured as a whole: the
results are whatever the run writes.
"""

import argparse

from cnnzoo.recipes import cifar10_resnet, cifar100_resnet, mnist_lenet5

_MNIST = {k: mnist_lenet5.CONFIG[k] for k in ("batch_size", "optimizer", "lr", "weight_decay", "schedule",
                                              "augment", "crop_padding")}
_CIFAR = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
              schedule="cosine", warmup_epochs=1, augment=("crop", "flip"), crop_padding=4)
DATASET_DEFAULTS = {
    "mnist": dict(_MNIST, epochs=10),
    "fashion_mnist": dict(_MNIST, epochs=20, augment=("crop", "flip")),  # clothes are left-right symmetric
    "cifar10": dict(_CIFAR, epochs=100, mean=cifar10_resnet.CONFIG["mean"], std=cifar10_resnet.CONFIG["std"]),
    "cifar100": dict(_CIFAR, epochs=100, mean=cifar100_resnet.CONFIG["mean"], std=cifar100_resnet.CONFIG["std"]),
}
SMOKE = dict(epochs=1, train_examples=512, test_examples=256)


def config_for(model, dataset):
    """The CONFIG `cnnzoo train --model MODEL --dataset DATASET` trains."""
    if dataset not in DATASET_DEFAULTS:
        raise ValueError(f"--dataset must be one of {', '.join(DATASET_DEFAULTS)}. Received: {dataset!r}")
    return dict(name=f"{model}_{dataset}", model=model, dataset=dataset, seed=0, smoke=SMOKE,
                **DATASET_DEFAULTS[dataset])


def main(argv=None, prog="cnnzoo train"):
    """``cnnzoo train --model NAME --dataset NAME [options]``: the dataset's recipe defaults, any model."""
    import sys

    from cnnzoo.training.recipe import run

    argv = list(sys.argv[1:] if argv is None else argv)
    first = argparse.ArgumentParser(prog=prog, add_help=False)
    first.add_argument("--model")
    first.add_argument("--dataset")
    known, _ = first.parse_known_args(argv)
    if not known.model or not known.dataset:
        first.error("give a recipe (cnnzoo train RECIPE; cnnzoo recipes lists them) or both --model and "
                    f"--dataset ({', '.join(DATASET_DEFAULTS)}). Received: --model={known.model!r}, "
                    f"--dataset={known.dataset!r}")
    try:
        config = config_for(known.model, known.dataset)
    except ValueError as e:
        first.error(str(e))
    return run(config, __doc__, without_dataset(argv), prog=f"{prog} --dataset {known.dataset}")


def without_dataset(argv):
    """``argv`` without its ``--dataset NAME`` / ``--dataset=NAME`` (``--model`` stays: the runner reads it)."""
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--dataset":
            skip = True
        elif not arg.startswith("--dataset="):
            rest.append(arg)
    return rest
