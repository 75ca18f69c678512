"""Helpers the test modules share (a test module never imports another): data written in each dataset's
own format, real digits in class folders, a recipe run in a subprocess, the trainable-parameter count.
"""

import gzip
import os
import pickle
import subprocess
import sys

import numpy as np

from cnnzoo.data import cifar, idx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_MNIST = os.path.join(ROOT, "cnnzoo", "data", "samples", "mnist")


def write_mnist(folder, n=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for split in ("train", "test"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        image_stem, label_stem = idx.IDX_FILES[split]
        for stem, arr in ((image_stem, images), (label_stem, labels)):
            path = os.path.join(folder, stem + (".gz" if gz else ""))
            header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
            opener = gzip.open if gz else open
            with opener(path, "wb") as f:
                f.write(header + arr.tobytes())
        arrays[split] = (images, labels)
    return arrays


def write_cifar(root, name, fmt, n_per_file=4, seed=0):
    rng = np.random.default_rng(seed)
    classes = 10 if name == "cifar10" else 100
    if fmt == "pickle":
        folder, train, test, key, _ = cifar.CIFAR_PICKLE[name]
    else:
        folder, train, test, label_bytes, label_index = cifar.CIFAR_BINARY[name]
    os.makedirs(os.path.join(root, folder), exist_ok=True)
    written = {}
    for split, files in (("train", train), ("test", test)):
        imgs, labs = [], []
        for fname in files:
            flat = rng.integers(0, 256, size=(n_per_file, 3072), dtype=np.uint8)
            labels = rng.integers(0, classes, size=n_per_file)
            path = os.path.join(root, folder, fname)
            if fmt == "pickle":
                with open(path, "wb") as f:
                    pickle.dump({b"data": flat, key.encode(): labels.tolist()}, f)
            else:
                prefix = np.zeros((n_per_file, label_bytes), np.uint8)
                prefix[:, label_index] = labels
                with open(path, "wb") as f:
                    f.write(np.concatenate([prefix, flat], axis=1).tobytes())
            imgs.append(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labs.append(labels)
        written[split] = (np.concatenate(imgs), np.concatenate(labs))
    return written


def write_png(path, array, mode=None):
    from PIL import Image

    Image.fromarray(array, mode=mode).save(path)


def digits_folder(root, split, digits, per_class):
    images, labels = idx.read_idx_split(SAMPLE_MNIST, split)
    for d in digits:
        (root / str(d)).mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(labels == d)[:per_class]):
            write_png(root / str(d) / f"{i}.png", images[index, ..., 0])


def run_recipe(name, *args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "recipes", f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def trainable_count(model_or_layer):
    """Trainable parameters, the PyTorch convention (no BatchNorm statistics)."""
    return sum(int(np.prod(w.shape)) for w in model_or_layer.trainable_weights)


def synthetic_torchvision_state(spec, seed):
    """A state dict of NumPy arrays for ``spec`` (``[(key, shape, dtype)]``, in torchvision's names and layouts),
    drawn from ``seed`` so a recorded oracle (tests/data/torchvision_recorded.json) can be rebuilt without torch:
    weights scaled by 1/sqrt(fan-in) so activations stay in range, BatchNorm statistics and scales randomized."""
    import numpy as np

    rng = np.random.default_rng(seed)
    norms = {key.rpartition(".")[0] for key, _, _ in spec if key.endswith("running_var")}
    state = {}
    for key, shape, dtype in spec:
        module, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            state[key] = np.zeros(shape, dtype)
        elif module in norms and param in ("weight", "running_var"):
            state[key] = rng.uniform(0.5, 1.5, shape).astype(dtype)
        elif module in norms:
            state[key] = (0.2 * rng.standard_normal(shape)).astype(dtype)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            state[key] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)
    return state


def torchvision_model(name, **kwargs):
    """A torchvision model with random weights and randomized BatchNorm statistics, in eval mode (the oracle of
    tests/test_torchvision.py and the channels-first one of tests/test_data_format.py; needs torchvision)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    if name == "googlenet":
        kwargs = {"aux_logits": False, "init_weights": True, "transform_input": False, **kwargs}
    model = torchvision.models.get_model(name, **kwargs)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
    return model.eval()
