"""UCF101 action recognition with a video ResNet, through tensorflow-datasets.

    python recipes/video_ucf101.py --tfds-dir ~/tensorflow_datasets    # needs UCF101 prepared by tfds
    python recipes/video_ucf101.py --smoke                              # tfds mock data, seconds (CI)

References: from scratch, 3D ResNet-18 class ~42-44% (Tran et al. 2017, Hara et al. 2018);
Kinetics-pretrained R(2+1)D / R3D > 90% (Tran et al. 2018).
Measured: not measured here (UCF101 is not available on this project's machines).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIG = dict(
    model="r2plus1d_18",
    frames=16,  # frames per clip
    stride=2,  # frames between sampled frames
    size=112,  # crop, pixels
    epochs=45,
    batch_size=16,
    optimizer="sgd",
    lr=0.01,
    momentum=0.9,
    weight_decay=1e-4,
    schedule="cosine",
    warmup_epochs=2,
    seed=0,
)
SMOKE = dict(frames=4, stride=1, size=32, epochs=1, batch_size=2, width=1 / 16)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfds-dir", default=None, help="tensorflow-datasets data folder holding ucf101")
    parser.add_argument("--model", default=CONFIG["model"], choices=("r3d_18", "mc3_18", "r2plus1d_18"))
    parser.add_argument("--weights", default=None, help="a .keras / .weights.h5 to start from (e.g. Kinetics)")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--out", default="runs/video_ucf101")
    parser.add_argument("--smoke", action="store_true", help="tfds mock data, tiny model (CI)")
    parser.add_argument("--download", action="store_true", help="let tensorflow-datasets download UCF101 (6.5 GB)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1. Received: {args.epochs}")
    import contextlib

    import tensorflow_datasets as tfds

    import cnnzoo
    from cnnzoo.data import video
    from cnnzoo.training import TrainConfig, fit, seed_everything

    cfg = {**CONFIG, "epochs": args.epochs, **(SMOKE if args.smoke else {})}
    seed_everything(cfg["seed"])
    mock = tfds.testing.mock_data(num_examples=8) if args.smoke else contextlib.nullcontext()
    with mock:
        loaders = {split: video.ucf101(split, cfg["frames"], cfg["stride"], cfg["size"], batch_size=cfg["batch_size"],
                                       seed=cfg["seed"], data_dir=args.tfds_dir, download=args.download)
                   for split in ("train", "test")}
        model = cnnzoo.get_model(args.model, input_shape=(cfg["frames"], cfg["size"], cfg["size"], 3), classes=101,
                                 width=cfg.get("width", 1.0), weights=args.weights)
        tconfig = TrainConfig.from_dict(cfg)
        steps = sum(1 for _ in loaders["train"]) if args.smoke else None
        record = fit(model, loaders["train"], loaders["test"], tconfig, args.out, verbose=2, steps_per_epoch=steps,
                     dataset_info={"name": "ucf101", "mock": args.smoke},
                     command="python recipes/video_ucf101.py " + " ".join(argv or sys.argv[1:]))
    print(f"{model.name} on UCF101{' (MOCK DATA)' if args.smoke else ''}: test accuracy "
          f"{100 * record['final_test_accuracy']:.2f}% after {record['epochs_run']} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
