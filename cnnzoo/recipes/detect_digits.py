"""Detection of digits: an SSD on a cnnzoo backbone finds and reads every digit of a scene.

    cnnzoo train detect_digits --data-dir ../shared/data
    python recipes/detect_digits.py --smoke

Digit scenes (cnnzoo.data.digit_scenes): 96x96 grey images with 1-4 real MNIST digits each, 16-40 pixels
tall, at random places, with their tight boxes; train scenes from MNIST training digits, test scenes from
MNIST test digits, reproducible from a seed, nothing downloaded. The detector is cnnzoo.ssd on resnet18
(width 0.5; stages 2-4 and two extra levels, 866 default boxes), trained through cnnzoo's engine on SSD's
loss; evaluated with COCO's own metric (pycocotools' COCOeval: mAP@[.5:.95] and mAP@.5) on held-out
scenes. The run folder gets detections.png (predicted boxes on test scenes, ground truth dashed).
Target: mAP@.5 >= 0.90 on held-out scenes in a CPU run of at most 30 minutes.
Measured (2 CPU cores, TensorFlow, seeds 0-2, recipes/results/detect_digits/): mAP@.5 0.931 +- 0.007
(0.938, 0.926, 0.928), mAP@[.5:.95] 0.667 +- 0.005, 18-26 min a run (the machine was shared with other
jobs in every run; an idle epoch takes ~88 s, ~16 min a run).
"""

import argparse
import os
import sys

TARGET = "mAP@.5 >= 0.90 on held-out digit scenes (COCOeval), CPU run <= 30 min"

CONFIG = dict(
    train_images=8000,  # scenes from MNIST training digits
    test_images=1000,  # scenes from MNIST test digits
    size=96,
    max_digits=4,
    digit_size=(16, 40),
    backbone="resnet18",
    width=0.5,
    levels=3,
    extra_levels=2,
    epochs=10,
    batch_size=32,
    optimizer="adamw",
    lr=3e-3,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=1,
    seed=0,
)
SMOKE = dict(train_images=64, test_images=16, size=64, epochs=1, batch_size=16, width=0.125, extra_levels=1)
CLASSES = 11  # the background and the ten digits


def build(cfg):
    """The recipe's detector for ``cfg``."""
    import cnnzoo

    return cnnzoo.ssd(cfg["backbone"], classes=CLASSES, input_shape=(cfg["size"], cfg["size"], 1),
                      width=cfg["width"], levels=cfg["levels"], extra_levels=cfg["extra_levels"],
                      name=f"ssd_{cfg['backbone']}_digits")


def targets(dataset, anchors, chunk=500):
    """The per-anchor training targets of every scene (`cnnzoo.detection.encode_targets`), in chunks."""
    import keras
    import numpy as np

    from cnnzoo.detection import encode_targets

    return np.concatenate([keras.ops.convert_to_numpy(encode_targets(dataset.boxes[i:i + chunk],
                                                                     dataset.labels[i:i + chunk], anchors,
                                                                     classes=CLASSES))
                           for i in range(0, len(dataset), chunk)])


def evaluate(model, dataset, picture=None, batch_size=100):
    """COCO mAP of ``model`` on ``dataset`` (and a picture of its detections on the first scenes)."""
    from cnnzoo.detection import postprocess
    from cnnzoo.detection.coco_eval import coco_map
    from cnnzoo.inspect import pictures

    outputs = model.predict(dataset.images.astype("float32") / 255.0, batch_size=batch_size, verbose=0)
    found = postprocess(outputs, model, class_names=dataset.class_names)
    truth = [dataset.objects(i) for i in range(len(dataset))]
    scores = coco_map(truth, found, dataset.class_names)
    if picture:
        pictures.plot_detections(dataset.images[:8], found[:8], picture, ground_truth=truth[:8],
                                 title=f"{model.name} on held-out scenes: mAP@.5 {scores['map50']:.3f}")
    return scores


def main(argv=None, prog=None):
    """Runs the recipe from the command line ``argv``; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with MNIST (default: CNNZOO_DATA_DIR, tfds, sample)")
    parser.add_argument("--out", default="runs/detect_digits")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the recipe end to end")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh: an earlier run in --out is moved aside to <out>.old-<time>")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1. Received: {args.epochs}")
    from cnnzoo import compat
    from cnnzoo.data import digit_scenes
    from cnnzoo.detection import detection_layer
    from cnnzoo.training import TrainConfig, fit, seed_everything
    from cnnzoo.training.results import write_json

    cfg = {**CONFIG, "epochs": args.epochs, **(SMOKE if args.smoke else {})}
    seed_everything(args.seed)
    scenes = dict(size=cfg["size"], max_digits=cfg["max_digits"], digit_size=cfg["digit_size"])
    train = digit_scenes.load("train", cfg["train_images"], data_dir=args.data_dir, seed=2 * args.seed, **scenes)
    test = digit_scenes.load("test", cfg["test_images"], data_dir=args.data_dir, seed=2 * args.seed + 1, **scenes)
    model = build(cfg)
    anchors = detection_layer(model).anchors
    data = ((train.images.astype("float32") / 255.0, targets(train, anchors)),
            (test.images.astype("float32") / 255.0, targets(test, anchors)))
    info = {"name": "digit_scenes", "source": train.source, "train_examples": len(train),
            "test_examples": len(test), "smoke": args.smoke, **{k: cfg[k] for k in ("size", "max_digits")},
            "digit_size": list(cfg["digit_size"])}
    identity = {"recipe": {k: cfg[k] for k in ("backbone", "levels", "extra_levels", "width")}}
    record = fit(model, *data, TrainConfig.from_dict(cfg, seed=args.seed), args.out, dataset_info=info,
                 command="cnnzoo train detect_digits " + " ".join(argv if argv is not None else sys.argv[1:]),
                 identity=identity, overwrite=args.overwrite)
    scores = evaluate(model, test, picture=os.path.join(args.out, "detections.png"))
    record.update(recipe={"name": "detect_digits", "target": TARGET}, detection=scores, test_map50=scores["map50"],
                  test_map=scores["map"], target_met=bool(scores["map50"] >= 0.90 and record["wall_time_s"] <= 1800))
    write_json(os.path.join(args.out, "results.json"), record)
    metadata = {"class_names": list(train.class_names), "preprocessing": {"scale": 255.0, "resize": "stretch"}}
    for name in ("final.keras", "best.keras"):
        path = os.path.join(args.out, name)
        if os.path.exists(path):
            compat.add_model_file_metadata(path, metadata)
    print(f"{model.name}: mAP@.5 {scores['map50']:.3f}, mAP@[.5:.95] {scores['map']:.3f} on {len(test)} held-out "
          f"scenes ({scores['objects']} digits) after {record['epochs_run']} epochs, {record['wall_time_s']:.0f} s; "
          f"target ({TARGET}) {'met' if record['target_met'] else 'NOT met'}. Picture: "
          f"{os.path.join(args.out, 'detections.png')}")
    return 0
