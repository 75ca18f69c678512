"""Writes tests/data/torchvision_recorded.json: torchvision's own logits for seeded synthetic weights, so the
converter (cnnzoo.weights.torchvision) is checked against torchvision's function without torch installed.

For each model: its state dict's names, shapes and dtypes; the weights are drawn by
tests/helpers.py's `synthetic_torchvision_state` from a seed; the input from another; the logits are what
torchvision's model (eval mode) computes from them.

    python scripts/make_torchvision_recorded.py   (needs torch and torchvision)
"""

import json
import os
import sys

import numpy as np
import torch  # before anything that imports TensorFlow
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from helpers import synthetic_torchvision_state  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "data", "torchvision_recorded.json")
# resnet18: convolutions, BatchNorm, projection shortcuts, a dense head; alexnet: a dense layer reading a Flatten;
# googlenet: the conv/bn names of its BasicConv2d, and auxiliary heads a model without them skips
CASES = {"resnet18": (64, 64, 3), "alexnet": (97, 97, 3), "googlenet": (64, 64, 3)}


def main():
    record = {}
    for seed, (name, shape) in enumerate(CASES.items()):
        model = torchvision.models.get_model(name).eval()
        spec = [(k, list(v.shape), str(v.numpy().dtype)) for k, v in model.state_dict().items()]
        state = synthetic_torchvision_state(spec, seed)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        x = np.random.default_rng(100 + seed).standard_normal((1,) + shape).astype("float32")
        with torch.no_grad():
            logits = model(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).numpy()[0]
        record[name] = {"input_shape": list(shape), "weights_seed": seed, "input_seed": 100 + seed,
                        "torchvision": torchvision.__version__, "state": spec,
                        "logits": [float(v) for v in logits]}
    with open(OUT, "w") as f:
        json.dump(record, f)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
