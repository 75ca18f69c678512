"""UCF101 action recognition with a video ResNet, from tensorflow-datasets or a local folder.

    python recipes/video_ucf101.py --tfds-dir ~/tensorflow_datasets    # UCF101 prepared by tfds
    python recipes/video_ucf101.py --data-dir ~/data/UCF101             # UCF-101/ + ucfTrainTestlist/
    python recipes/video_ucf101.py --data-dir ~/my_clips                # <class>/<video or frame folder>
    python recipes/video_ucf101.py --smoke                              # tfds mock data, seconds (CI)

A local folder is UCF101 as distributed (the official split 1 lists, --fold for 2 and 3),
train/ and test/ folders of classes, or class folders alone (20% of each class held out,
seeded). Video files are decoded with PyAV (pip install av, or cnnzoo[video]); frame
folders need nothing more.

References: from scratch, 3D ResNet-18 class ~42-44% (Tran et al. 2017, Hara et al. 2018);
Kinetics-pretrained R(2+1)D / R3D > 90% (Tran et al. 2018).
Measured: not measured here (UCF101 is not available on this project's machines).
"""

import argparse
import os
import sys

TARGET = "from scratch ~42-44% (3D ResNet-18); Kinetics-pretrained > 90%"

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


def main(argv=None, prog=None):
    """Runs the recipe from the command line ``argv``; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfds-dir", default=None, help="tensorflow-datasets data folder holding ucf101")
    parser.add_argument("--data-dir", default=None, help="a local folder of videos or frame folders (see above)")
    parser.add_argument("--fold", type=int, choices=(1, 2, 3), default=1, help="UCF101 official split")
    parser.add_argument("--model", default=CONFIG["model"], choices=("r3d_18", "mc3_18", "r2plus1d_18"))
    parser.add_argument("--weights", default=None, help="a .keras / .weights.h5 to start from (e.g. Kinetics)")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--out", default="runs/video_ucf101")
    parser.add_argument("--smoke", action="store_true", help="tfds mock data, tiny model (CI)")
    parser.add_argument("--download", action="store_true", help="let tensorflow-datasets download UCF101 (6.5 GB)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh: an earlier run in --out is moved aside to <out>.old-<time>")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1. Received: {args.epochs}")
    if args.data_dir and args.tfds_dir:
        parser.error("--data-dir (a local folder) and --tfds-dir (tensorflow-datasets) are exclusive")
    import contextlib

    import tensorflow_datasets as tfds

    import cnnzoo
    from cnnzoo.data import video
    from cnnzoo.training import TrainConfig, fit, seed_everything

    cfg = {**CONFIG, "epochs": args.epochs, **(SMOKE if args.smoke else {})}
    seed_everything(cfg["seed"])
    use_mock = args.smoke and not args.data_dir  # --smoke with a folder: the smoke settings on that folder
    mock = tfds.testing.mock_data(num_examples=8) if use_mock else contextlib.nullcontext()
    clip_args = dict(frames=cfg["frames"], stride=cfg["stride"], size=cfg["size"], batch_size=cfg["batch_size"],
                     seed=cfg["seed"])
    with mock:
        if args.data_dir:
            loaders, classes = {}, None
            for split in ("train", "test"):
                loaders[split], classes = video.folder_clips(args.data_dir, split, fold=args.fold, **clip_args)
            source = {"name": os.path.basename(os.path.normpath(args.data_dir)), "folder": args.data_dir,
                      "classes": len(classes)}
        else:
            loaders = {split: video.ucf101(split, tfds_dir=args.tfds_dir, download=args.download, **clip_args)
                       for split in ("train", "test")}
            classes, source = range(101), {"name": "ucf101", "mock": use_mock}
        model = cnnzoo.get_model(args.model, input_shape=(cfg["frames"], cfg["size"], cfg["size"], 3),
                                 classes=len(classes), width=cfg.get("width", 1.0), weights=args.weights)
        tconfig = TrainConfig.from_dict(cfg)
        steps = sum(1 for _ in loaders["train"]) if args.smoke else None
        record = fit(model, loaders["train"], loaders["test"], tconfig, args.out, verbose=None, steps_per_epoch=steps,
                     dataset_info=source, overwrite=args.overwrite,
                     command="python recipes/video_ucf101.py " + " ".join(argv or sys.argv[1:]))
    print(f"{model.name} on {source['name']}{' (MOCK DATA)' if use_mock else ''}: test accuracy "
          f"{100 * record['final_test_accuracy']:.2f}% after {record['epochs_run']} epochs")
    return 0

