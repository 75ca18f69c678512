"""Video classification on moving digits: do the 3D networks learn motion?

    python recipes/video_moving_digits.py --data-dir ../shared/data
    python recipes/video_moving_digits.py --smoke

The label of a moving-digits clip is the motion (10 patterns, cnnzoo.data.moving_digits):
a single frame says almost nothing about it. Three models, same data and budget:
- r3d_18 and r2plus1d_18 at width 0.25 (channels 16-32-64-128: full width is too slow
  for a 2-core CPU), target >= 98% test accuracy;
- the 2D counterpart, resnet18 at the same width, applied to every frame with its features
  averaged over time: blind to frame order, so it should stay near chance (10%).
Measured: not yet measured on this machine (see recipes/README.md when it is).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with MNIST (default: CNNZOO_DATA_DIR, tfds, sample)")
    parser.add_argument("--out", default="runs/video_moving_digits")
    parser.add_argument("--models", default=",".join(CONFIG["models"]))
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1. Received: {args.epochs}")
    import cnnzoo
    from cnnzoo import data
    from cnnzoo.data import moving_digits
    from cnnzoo.training import TrainConfig, fit, seed_everything

    cfg = {**CONFIG, "epochs": args.epochs, **(SMOKE if args.smoke else {})}
    seed_everything(args.seed)
    sets = {split: moving_digits.load(split, cfg[f"{split}_clips"], data_dir=args.data_dir, frames=cfg["frames"],
                                      size=cfg["size"]) for split in ("train", "test")}
    train_ds = data.make_pipeline(sets["train"], cfg["batch_size"], training=True, seed=args.seed)
    test_ds = data.make_pipeline(sets["test"], 100, training=False)
    shape = sets["train"].images.shape[1:]
    records = {}
    for name in args.models.split(","):
        if name == "frame_average_resnet18":
            model = frame_average_model(shape, 10, cfg["width"])
        else:
            model = cnnzoo.get_model(name, input_shape=shape, classes=10, width=cfg["width"])
        tconfig = TrainConfig.from_dict(cfg, seed=args.seed)
        info = {"name": "moving_digits", "source": sets["train"].source, "train_examples": len(sets["train"]),
                "test_examples": len(sets["test"]), "smoke": args.smoke}
        records[name] = fit(model, train_ds, test_ds, tconfig, os.path.join(args.out, name), dataset_info=info,
                            verbose=2, command="python recipes/video_moving_digits.py " + " ".join(argv or sys.argv[1:]))
    for name, r in records.items():
        print(f"{name}: test accuracy {100 * r['final_test_accuracy']:.2f}% after {r['epochs_run']} epochs, "
              f"{r['wall_time_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
