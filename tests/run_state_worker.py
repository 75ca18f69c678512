"""A short deterministic training run for tests/test_run_state.py: python run_state_worker.py OUT"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import cnnzoo  # noqa: E402
from cnnzoo import data  # noqa: E402
from cnnzoo.training.engine import TrainConfig, fit, seed_everything  # noqa: E402


def main(out):
    seed_everything(0, deterministic=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(192, 16, 16, 1), dtype=np.uint8)
    labels = (images.reshape(192, -1).mean(1) > 127.5).astype(np.int64)  # learnable: brightness
    train = data.Dataset("synthetic", "train", images, labels, 2, "test")
    model = cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2)
    config = TrainConfig(epochs=3, batch_size=32, lr=2e-3, steps_per_execution=1, deterministic=True, seed=0)
    fit(model, data.make_pipeline(train, 32, training=True, augment=("crop",), crop_padding=2, seed=0),
        data.make_pipeline(train, 64, training=False), config, out, verbose=0)


if __name__ == "__main__":
    main(sys.argv[1])
