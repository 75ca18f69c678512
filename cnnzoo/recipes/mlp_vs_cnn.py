"""Why CNNs work: an MLP and LeNet-5 with the same number of parameters, on real and on shuffled pixels.

    python recipes/mlp_vs_cnn.py --data-dir ../shared/data     # MNIST and Fashion-MNIST, 3 seeds: ~10 min, 2 CPU cores
    python recipes/mlp_vs_cnn.py --smoke                       # seconds (CI)

The MLP (784-78-10, 62,020 parameters) and LeNet-5 (61,706) train with the same budget. Then
every image's pixels are moved by one fixed permutation (the same for every image, training and
test): the information is all still there, but neighbouring pixels are no longer neighbours. The
MLP does not care: a permutation of its inputs is a permutation of its first layer's weights, so it
can learn the same function. LeNet-5's local, weight-shared filters assume neighbours belong
together; without that, its advantage disappears.

Writes runs/mlp_vs_cnn/: one engine run per (dataset, model, pixels, seed) with its results.json,
and results.json / results.md with the table (mean +- std over seeds, min, max).
Measured: docs/learn.md and recipes/README.md.
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys

TARGET = "the CNN's advantage over an MLP of the same size disappears on shuffled pixels"

CONFIG = dict(
    name="mlp_vs_cnn",
    datasets=("mnist", "fashion_mnist"),
    seeds=(0, 1, 2),
    epochs=5,  # passes over the 60,000 training images
    batch_size=128,  # images per step
    optimizer="adamw",
    lr=2e-3,  # peak learning rate; cosine decay to 0
    weight_decay=1e-4,
    mlp_hidden=78,  # 784*78 + 78 + 78*10 + 10 = 62,020 parameters, LeNet-5 has 61,706
    permutation_seed=1234,  # the one fixed pixel permutation
    smoke=dict(epochs=1, train_examples=512, test_examples=256, seeds=(0,), datasets=("mnist",)),
)


def mlp(input_shape, classes, hidden):
    """The baseline: flatten, ``hidden`` dense ReLU layers, softmax."""
    import keras

    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(name="flatten"),
                             keras.layers.Dense(hidden, activation="relu", name="hidden"),
                             keras.layers.Dense(classes, activation="softmax", name="predictions")], name="mlp")


def shuffled(dataset, permutation):
    """The dataset with every image's pixels moved by ``permutation`` (one fixed order for all)."""
    n = len(dataset)
    flat = dataset.images.reshape(n, -1, dataset.images.shape[-1])[:, permutation]
    return dataclasses.replace(dataset, images=flat.reshape(dataset.images.shape))


def summarize(runs):
    """Mean, standard deviation, min and max of the final test accuracy per (dataset, model, pixels)."""
    groups = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["model"], r["pixels"]), []).append(r["test_accuracy"])
    rows = []
    for (dataset, model, pixels), accs in sorted(groups.items()):
        rows.append({"dataset": dataset, "model": model, "pixels": pixels, "seeds": len(accs),
                     "mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                     "min": min(accs), "max": max(accs),
                     "params": next(r["params"] for r in runs
                                    if (r["dataset"], r["model"], r["pixels"]) == (dataset, model, pixels))})
    return rows


def markdown(rows, command):
    """The comparison as a Markdown table (mean ± std over seeds per dataset, model and pixel order)."""
    lines = [f"Command: `{command}`", "",
             "| dataset | model | parameters | pixels | test accuracy, mean +- std | min | max | seeds |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['model']} | {r['params']:,} | {r['pixels']} | "
                     f"{100 * r['mean']:.2f}% +- {100 * r['std']:.2f} | {100 * r['min']:.2f}% | "
                     f"{100 * r['max']:.2f}% | {r['seeds']} |")
    return "\n".join(lines) + "\n"


def main(argv=None, prog=None):
    """Runs the recipe from the command line ``argv``; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="IDX files (default: CNNZOO_DATA_DIR, tfds, the sample)")
    parser.add_argument("--out", default="runs/mlp_vs_cnn")
    parser.add_argument("--smoke", action="store_true", help="a slice, one epoch, one seed, MNIST only")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0)
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh: an earlier run in --out is moved aside to <out>.old-<time>")
    args = parser.parse_args(argv)

    import numpy as np

    import cnnzoo
    from cnnzoo import data
    from cnnzoo.inspect.analysis import count_params
    from cnnzoo.training.engine import TrainConfig, fit, seed_everything

    config = {**CONFIG, **(CONFIG["smoke"] if args.smoke else {})}
    if args.overwrite:
        from cnnzoo.training import run_folder

        run_folder.move_aside(args.out)
    permutation = np.random.default_rng(config["permutation_seed"]).permutation(28 * 28)
    runs = []
    for name in config["datasets"]:
        splits = {s: data.load_arrays(name, s, data_dir=args.data_dir, allow_sample=True, check_count=not args.smoke)
                  for s in ("train", "test")}
        if args.smoke:
            splits = {s: dataclasses.replace(d, images=d.images[:config[f"{s}_examples"]],
                                             labels=d.labels[:config[f"{s}_examples"]]) for s, d in splits.items()}
        for pixels in ("original", "shuffled"):
            train, test = (shuffled(splits[s], permutation) if pixels == "shuffled" else splits[s]
                           for s in ("train", "test"))
            for model_name in ("lenet5", "mlp"):
                for seed in config["seeds"]:
                    seed_everything(seed)
                    shape = train.images.shape[1:]
                    model = (cnnzoo.lenet5(input_shape=shape, classes=10) if model_name == "lenet5"
                             else mlp(shape, 10, config["mlp_hidden"]))
                    cfg = TrainConfig(epochs=config["epochs"], batch_size=config["batch_size"],
                                      optimizer=config["optimizer"], lr=config["lr"],
                                      weight_decay=config["weight_decay"], schedule="cosine", seed=seed)
                    out = os.path.join(args.out, name, f"{model_name}_{pixels}_seed{seed}")
                    record = fit(model, data.make_pipeline(train, cfg.batch_size, training=True, seed=seed),
                                 data.make_pipeline(test, 1000, training=False), cfg, out, verbose=args.verbose,
                                 dataset_info={"name": name, "pixels": pixels, "smoke": args.smoke,
                                               "sample": train.is_sample})
                    runs.append({"dataset": name, "model": model_name, "pixels": pixels, "seed": seed,
                                 "params": count_params(model), "test_accuracy": record["final_test_accuracy"],
                                 "wall_time_s": record["wall_time_s"], "run": out})
                    print(f"{name} {model_name} {pixels} seed {seed}: {100 * record['final_test_accuracy']:.2f}%",
                          flush=True)
    rows = summarize(runs)
    command = " ".join(["python", "recipes/mlp_vs_cnn.py", *(sys.argv[1:] if argv is None else argv)])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"command": command, "config": config, "permutation_seed": config["permutation_seed"],
                   "summary": rows, "runs": runs}, f, indent=1, default=list)
    table = markdown(rows, command)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    print("\n" + table)
    return 0

