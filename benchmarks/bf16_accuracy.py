"""What bf16 costs in accuracy: the same short training in float32 and in Keras's mixed_bfloat16, same seed.

    python benchmarks/bf16_accuracy.py --data-dir DATA [--epochs 3] [--out benchmarks/results/bf16_accuracy]

LeNet-5 and ResNet-20 (the recipes' networks) on real MNIST, read from its IDX files (DATA/mnist/*.gz) with
NumPy, trained with ``model.fit`` on arrays (no TensorFlow needed: runs on JAX or PyTorch, the machine a
GPU has), AdamW 1e-3 with a cosine decay, batch 128; test accuracy after each run. Each (model, precision)
runs in its own process, so the global precision policy is its own. Results: one JSON line per run.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np


def read_idx(path):
    """An IDX file (gzipped) as a NumPy array: magic, dimensions, then the bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def one_run(model_name, precision, data_dir, epochs, seed):
    import keras

    import cnnzoo

    keras.utils.set_random_seed(seed)
    if precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    folder = os.path.join(data_dir, "mnist")
    x_train = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))[..., None].astype("float32") / 255
    y_train = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz")).astype("int64")
    x_test = read_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))[..., None].astype("float32") / 255
    y_test = read_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")).astype("int64")
    if model_name == "resnet20":
        model = cnnzoo.resnet20(input_shape=(28, 28, 1), classes=10)
    else:
        model = cnnzoo.lenet5(input_shape=(28, 28, 1), classes=10)
    steps = epochs * -(-len(x_train) // 128)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    return dict(model=model_name, precision=precision, epochs=epochs, seed=seed, test_accuracy=float(accuracy),
                train_seconds=seconds, backend=keras.backend.backend(), keras=keras.__version__,
                policy=keras.mixed_precision.global_policy().name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="lenet5,resnet20")
    parser.add_argument("--out", default="benchmarks/results/bf16_accuracy")
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)  # MODEL:PRECISION, in a worker process
    args = parser.parse_args()
    if args.run:
        model_name, precision = args.run.split(":")
        print(json.dumps(one_run(model_name, precision, args.data_dir, args.epochs, args.seed)))
        return 0
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for model_name in args.models.split(","):
        for precision in ("fp32", "bf16"):
            out = subprocess.run([sys.executable, __file__, "--data-dir", args.data_dir, "--epochs", str(args.epochs),
                                  "--seed", str(args.seed), "--run", f"{model_name}:{precision}"],
                                 capture_output=True, text=True)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if not lines:
                failed += 1
                print(f"{model_name} {precision}: failed: {out.stderr.strip()[-500:]}", flush=True)
                continue
            with open(os.path.join(args.out, "runs.jsonl"), "a") as f:
                f.write(lines[-1] + "\n")
            print(lines[-1], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
