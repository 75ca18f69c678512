"""Writes cnnzoo/weights/data/ from torchvision's own weight enums: the weight sets
(URL, hash, preprocessing, published accuracy) and the class names.

Run with torchvision installed (`pip install torch==2.14.1 torchvision==0.29.1`):
    python scripts/make_torchvision_catalog.py
tests/test_torchvision.py checks the committed files against the installed torchvision.
"""

import json
import os
import re

import torchvision
from torchvision.models import get_model_weights

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "cnnzoo", "weights", "data")

IMAGE_MODELS = ["alexnet", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
                "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
VIDEO_MODELS = ["r3d_18", "mc3_18", "r2plus1d_18"]
DETECTION_MODELS = ["ssd300_vgg16"]
# torchvision's GoogLeNet re-normalizes its input inside the model (transform_input=True, the
# weights came from TensorFlow): from ImageNet mean/std to mean 0.5, std 0.5. cnnzoo's GoogLeNet has
# no such layer, so its weight set's preprocessing normalizes with 0.5 / 0.5 directly (the same numbers).
INPUT_TRANSFORMED = {"googlenet": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}


def detection_transforms(model):
    """A detector's transform lives inside the model (GeneralizedRCNNTransform): its fixed size and normalization."""
    t = getattr(torchvision.models.detection, model)(weights=None, weights_backbone=None).transform
    return {"kind": "detection", "resize": list(t.fixed_size), "crop": [], "mean": list(t.image_mean),
            "std": list(t.image_std), "interpolation": "bilinear"}


def transforms_of(weights, model):
    if model in DETECTION_MODELS:
        return detection_transforms(model)
    t = weights.transforms()
    kind = "video" if type(t).__name__ == "VideoClassification" else "image"
    out = {
        "kind": kind,
        "resize": list(t.resize_size),
        "crop": list(t.crop_size),
        "mean": list(t.mean),
        "std": list(t.std),
        "interpolation": t.interpolation.value,
    }
    out.update(INPUT_TRANSFORMED.get(model, {}))
    return out


def main():
    sets, categories = [], {}
    for model in IMAGE_MODELS + VIDEO_MODELS + DETECTION_MODELS:
        enum = get_model_weights(model)
        for w in enum:
            if w.name == "IMAGENET1K_FEATURES":  # vgg16's SSD backbone: no classifier, 0-255 inputs
                continue
            dataset = ("kinetics400" if w.name.startswith("KINETICS400") else
                       "coco" if w.name.startswith("COCO") else "imagenet")
            categories.setdefault(dataset, list(w.meta["categories"]))
            assert categories[dataset] == list(w.meta["categories"])
            file = w.url.rsplit("/", 1)[-1]
            sets.append({
                "model": model,
                "tag": w.name.lower(),
                "default": w == enum.DEFAULT,
                "dataset": dataset,
                "url": w.url,
                "sha256_prefix": re.search(r"-([0-9a-f]{8,})\.", file).group(1),
                "num_classes": len(w.meta["categories"]),
                "num_params": w.meta["num_params"],
                "metrics": w.meta["_metrics"],
                "file_size_mb": w.meta.get("_file_size"),
                "recipe": w.meta.get("recipe"),
                "source": f"torchvision {type(w).__name__}.{w.name}",
                "transforms": transforms_of(w, model),
            })
    with open(os.path.join(OUT, "torchvision_weights.json"), "w") as f:
        json.dump(sets, f, indent=1)
        f.write("\n")
    for dataset, names in categories.items():
        with open(os.path.join(OUT, f"{dataset}_classes.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
    print(f"{len(sets)} weight sets, categories: {', '.join(f'{k} {len(v)}' for k, v in categories.items())}")


if __name__ == "__main__":
    main()
