"""Video classification on moving digits: do the 3D networks learn motion?

    python recipes/video_moving_digits.py --data-dir ../shared/data
    python recipes/video_moving_digits.py --smoke

The label of a moving-digits clip is the motion (10 patterns, cnnzoo.data.moving_digits):
a single frame says almost nothing about it. Three models, same data and budget:
- r3d_18 and r2plus1d_18 at width 0.25 (channels 16-32-64-128: full width is too slow
  for a 2-core CPU), target >= 98% test accuracy;
- the 2D counterpart, resnet18 at the same width, applied to every frame with its features
  averaged over time: blind to frame order. The ten motions are five pairs of time-reversed
  twins (left/right, up/down, down-right/up-left, clockwise/anticlockwise, zoom in/out), so an
  order-blind model can at best find the pair (50%) and then guess the direction (50% within
  the pair): the recipe reports both parts for every model.
Measured (2 CPU cores, seed 0, 6,000 train / 1,000 test clips, 6 epochs; recipes/README.md):
r3d_18 100.00% (16 min), r2plus1d_18 100.00% (28 min), frame-average resnet18 32.50% (6 min):
it finds the motion's pair in 61.2% of clips and then the direction in 53.1% (a coin flip),
while both 3D networks get every direction right.
"""

import argparse
import os
import sys

TARGET = "motion-aware 3D/(2+1)D nets beat the frame-average baseline (blind to order)"

CONFIG = dict(
    train_clips=6000,  # generated from MNIST training digits
    test_clips=1000,  # from MNIST test digits
    frames=16,
    size=64,  # pixels
    models=("r3d_18", "r2plus1d_18", "frame_average_resnet18"),
    width=0.25,  # channel multiplier of the video networks
    epochs=6,
    batch_size=32,
    optimizer="sgd",
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=1,
    seed=0,
)
SMOKE = dict(train_clips=64, test_clips=32, frames=4, size=32, epochs=1, batch_size=16, width=1 / 16)


def frame_average_model(input_shape, classes, width):
    """The 2D resnet18 on every frame, features averaged over time: blind to frame order."""
    import keras

    import cnnzoo

    frames_in = keras.Input(input_shape)
    per_frame = cnnzoo.resnet18(include_top=False, pooling="avg", input_shape=input_shape[1:], width=width)
    x = keras.layers.TimeDistributed(per_frame, name="per_frame")(frames_in)
    x = keras.layers.GlobalAveragePooling1D(name="time_average")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(frames_in, outputs, name="frame_average_resnet18")


# each motion's time-reversed twin (cnnzoo.data.moving_digits.MOTIONS)
REVERSED = {0: 1, 1: 0, 2: 3, 3: 2, 4: 5, 5: 4, 6: 7, 7: 6, 8: 9, 9: 8}


def reversal_analysis(model, dataset):
    """Accuracy split into finding the motion's pair and telling its direction; the confusion matrix."""
    import numpy as np

    predicted = np.argmax(model.predict(dataset.images.astype("float32") / 255.0, batch_size=50, verbose=0), axis=-1)
    truth = dataset.labels
    same_pair = (predicted == truth) | (predicted == np.vectorize(REVERSED.get)(truth))
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (truth, predicted), 1)
    return {"accuracy": float(np.mean(predicted == truth)),
            "pair_accuracy": float(np.mean(same_pair)),  # right motion up to its reverse
            "direction_accuracy_in_pair": (float(np.mean(predicted[same_pair] == truth[same_pair]))
                                           if same_pair.any() else None),
            "confusion": confusion.tolist()}


def main(argv=None, prog=None):
    """Runs the recipe from the command line ``argv``; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with MNIST (default: CNNZOO_DATA_DIR, tfds, sample)")
    parser.add_argument("--out", default="runs/video_moving_digits")
    parser.add_argument("--models", default=",".join(CONFIG["models"]))
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    parser.add_argument("--evaluate-only", action="store_true",
                        help="no training: analyse the final.keras of each model in --out and update its results.json")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh: an earlier run in --out is moved aside to <out>.old-<time>")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1. Received: {args.epochs}")
    import json

    import keras

    import cnnzoo
    from cnnzoo import data
    from cnnzoo.data import moving_digits
    from cnnzoo.training import TrainConfig, fit, seed_everything
    from cnnzoo.training.results import write_json

    cfg = {**CONFIG, "epochs": args.epochs, **(SMOKE if args.smoke else {})}
    if args.overwrite and not args.evaluate_only:
        from cnnzoo.training import run_folder

        run_folder.move_aside(args.out)
    seed_everything(args.seed)
    sets = {split: moving_digits.load(split, cfg[f"{split}_clips"], data_dir=args.data_dir, frames=cfg["frames"],
                                      size=cfg["size"]) for split in ("train", "test")}
    train_ds = data.make_pipeline(sets["train"], cfg["batch_size"], training=True, seed=args.seed)
    test_ds = data.make_pipeline(sets["test"], 100, training=False)
    shape = sets["train"].images.shape[1:]
    records = {}
    for name in args.models.split(","):
        run_dir = os.path.join(args.out, name)
        if args.evaluate_only:
            with open(os.path.join(run_dir, "results.json")) as f:
                records[name] = json.load(f)
            model = keras.models.load_model(os.path.join(run_dir, "final.keras"), compile=False)
        else:
            if name == "frame_average_resnet18":
                model = frame_average_model(shape, 10, cfg["width"])
            else:
                model = cnnzoo.get_model(name, input_shape=shape, classes=10, width=cfg["width"])
            tconfig = TrainConfig.from_dict(cfg, seed=args.seed)
            info = {"name": "moving_digits", "source": sets["train"].source, "train_examples": len(sets["train"]),
                    "test_examples": len(sets["test"]), "smoke": args.smoke}
            records[name] = fit(model, train_ds, test_ds, tconfig, run_dir, dataset_info=info, verbose=None,
                                command="python recipes/video_moving_digits.py " + " ".join(argv or sys.argv[1:]))
        records[name]["time_reversal"] = reversal_analysis(model, sets["test"])
        write_json(os.path.join(run_dir, "results.json"), records[name])
    for name, r in records.items():
        rev = r["time_reversal"]
        print(f"{name}: test accuracy {100 * r['final_test_accuracy']:.2f}% after {r['epochs_run']} epochs, "
              f"{r['wall_time_s']:.0f} s; motion pair found {100 * rev['pair_accuracy']:.1f}%, direction within "
              f"the pair {100 * (rev['direction_accuracy_in_pair'] or 0):.1f}%")
    return 0

