"""LeNet-5 on MNIST: the README's main job.

    python recipes/mnist_lenet5.py                 # full run (needs MNIST: --data-dir or CNNZOO_DATA_DIR)
    python recipes/mnist_lenet5.py --smoke         # seconds: a slice of the data, one epoch (CI)
    make demo                                      # the same, set up from a fresh clone

Target: >= 99.0% test accuracy (LeCun et al. 1998: 0.95% error for LeNet-5).
Measured: see recipes/README.md (the results table, from results.json files).

Writes to --out (default runs/mnist_lenet5): results.json, curves.png, log.csv,
best.keras, final.keras, backup/ (re-running the same command after a crash
resumes from the last finished epoch).
"""

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# ---- configuration (units in comments) ----
CONFIG = dict(
    model="lenet5",
    dataset="mnist",
    epochs=15,  # passes over the 60,000 training images
    batch_size=128,  # images per step
    optimizer="adamw",
    lr=2e-3,  # peak learning rate, cosine decay to 0
    weight_decay=1e-4,  # decoupled, skips biases and norms
    schedule="cosine",
    augment=("crop",),  # pad 2 px and crop back to 28x28: +-2 px shifts
    crop_padding=2,  # pixels
    seed=0,
)
SMOKE = dict(epochs=1, train_examples=1024, test_examples=512)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (or mnist/ inside it)")
    parser.add_argument("--out", default="runs/mnist_lenet5", help="output folder")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 1 epoch on a slice")
    parser.add_argument("--download", action="store_true", help="let tensorflow-datasets download MNIST")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1 (received {args.epochs})")
    return args


def main(argv=None):
    args = parse_args(argv)
    import cnnzoo
    from cnnzoo import data, training

    config = dict(CONFIG, epochs=SMOKE["epochs"] if args.smoke else args.epochs, seed=args.seed)
    train_config = training.TrainConfig(
        epochs=config["epochs"], batch_size=config["batch_size"], optimizer=config["optimizer"],
        lr=config["lr"], weight_decay=config["weight_decay"], schedule=config["schedule"],
        seed=config["seed"],
    )
    training.seed_everything(config["seed"])
    train = data.load_arrays(config["dataset"], "train", data_dir=args.data_dir, download=args.download, allow_sample=True)
    test = data.load_arrays(config["dataset"], "test", data_dir=args.data_dir, download=args.download, allow_sample=True)
    if args.smoke:
        train = dataclasses.replace(train, images=train.images[: SMOKE["train_examples"]], labels=train.labels[: SMOKE["train_examples"]])
        test = dataclasses.replace(test, images=test.images[: SMOKE["test_examples"]], labels=test.labels[: SMOKE["test_examples"]])
    train_ds = data.make_pipeline(train, config["batch_size"], training=True, seed=config["seed"],
                                  augment=config["augment"], crop_padding=config["crop_padding"])
    test_ds = data.make_pipeline(test, 1000, training=False)
    model = cnnzoo.get_model(config["model"], input_shape=train.images.shape[1:], classes=train.num_classes)
    info = {"name": train.name, "source": train.source, "train_examples": len(train),
            "test_examples": len(test), "sample": train.is_sample, "smoke": args.smoke}
    try:
        record = training.fit(model, train_ds, test_ds, train_config, args.out, dataset_info=info,
                              verbose=2, command=" ".join(["python", "recipes/mnist_lenet5.py", *(argv if argv is not None else sys.argv[1:])]))
    except training.TrainingDivergedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    record_note = " (SMALL BUNDLED SAMPLE, not comparable)" if train.is_sample else ""
    print(f"\n{model.name} on {train.name}{record_note}: test accuracy "
          f"{100 * record['final_test_accuracy']:.2f}% (best {100 * record['best_test_accuracy']:.2f}%) "
          f"after {record['epochs_run']} epochs, {record['wall_time_s']:.0f} s, "
          f"{record['train_examples_per_s']:.0f} train images/s")
    print(f"results: {os.path.join(args.out, 'results.json')}  curves: {os.path.join(args.out, 'curves.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
