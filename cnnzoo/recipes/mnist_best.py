"""The best single model the zoo makes on MNIST, and its time to 99.2% against the
keras.io "simple MNIST convnet" trained by this same script on the same machine.

    python recipes/mnist_best.py --data-dir ../shared/data
    python recipes/mnist_best.py --smoke

Targets: >= 99.6% test accuracy (single CNNs with augmentation: ~99.6-99.7%); the
keras.io convnet reaches ~99.2% after 15 epochs (Adam, batch 128).
Measured (2 CPU cores, seed 0): ResNet-20 99.69% after 10 epochs (883 s); the keras.io convnet
99.14% after its 15 epochs. Time to 99.2% test accuracy: ResNet-20 181 s (epoch 2), keras.io
convnet 142 s (epoch 11): the zoo model is slower to 99.2% (ratio 0.79) and ends 0.55 points higher.

The zoo model: the CIFAR ResNet-20 (3x3 stem, no early pooling: MNIST's 28x28 is small)
with pad-and-crop shifts, label smoothing and a cosine schedule. No flips: digits are not
mirror-symmetric. The baseline is keras.io's example as published: conv32-conv64 (3x3,
each followed by 2x2 max pooling), dropout 0.5, dense softmax; Adam 1e-3, batch 128, 15 epochs,
no augmentation.
"""

import os
import sys

TARGET = ">= 99.6% test accuracy; its time to 99.2% against the keras.io convnet"

CONFIG = dict(
    name="mnist_best",
    model="resnet20",
    dataset="mnist",
    epochs=10,
    batch_size=128,  # images per step
    optimizer="sgd",
    lr=0.1,  # peak after 1 warm-up epoch; cosine to 0
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,  # decoupled (times lr); skips biases and norms
    schedule="cosine",
    warmup_epochs=1,
    label_smoothing=0.1,
    augment=("crop",),
    crop_padding=2,  # pixels: shifts of up to 2 px
    seed=0,
    smoke=dict(epochs=1, train_examples=512, test_examples=256, model_kwargs=dict(width=0.25)),
)
BASELINE = dict(
    CONFIG,
    name="mnist_best",  # written under <out>/keras_io_convnet
    model="keras_io_convnet",  # built by keras_io_convnet() below, not from the registry
    epochs=15,
    optimizer="adamw",
    lr=1e-3,
    weight_decay=0.0,  # plain Adam
    schedule="constant",
    warmup_epochs=0,
    label_smoothing=0.0,
    augment=(),
)
TARGET_ACCURACY = 0.992  # time to this test accuracy is compared


def keras_io_convnet(input_shape, classes):
    """keras.io/examples/vision/mnist_convnet, as published."""
    import keras

    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(classes, activation="softmax"),
    ], name="keras_io_convnet")


def main(argv=None, prog=None):
    """Runs the recipe from the command line ``argv``; returns the exit status."""
    from cnnzoo.training import recipe, results, time_to_accuracy

    args = recipe.parse(CONFIG, __doc__, argv, prog=prog)
    out = args.out or os.path.join("runs", CONFIG["name"])
    recipe.start_afresh(args, out)  # --overwrite: the baseline and this run both start afresh
    # the baseline keeps its published epochs and learning rate whatever --epochs/--lr say
    base_args = recipe.parse(BASELINE, __doc__, (argv if argv is not None else sys.argv[1:]) + [
        "--epochs", str(BASELINE["epochs"]), "--lr", str(BASELINE["lr"])], registered_model=False, prog=prog)
    baseline = recipe.train_recipe(BASELINE, base_args, model_fn=keras_io_convnet,
                                   out=os.path.join(out, "keras_io_convnet"), argv=argv)
    record = recipe.train_recipe(CONFIG, args, out=out, argv=argv)
    ours, theirs = time_to_accuracy(record, TARGET_ACCURACY), time_to_accuracy(baseline, TARGET_ACCURACY)
    record["comparison"] = {
        "target_accuracy": TARGET_ACCURACY,
        "time_to_target_s": ours,
        "keras_io_convnet_time_to_target_s": theirs,
        "keras_io_convnet_final_accuracy": baseline["final_test_accuracy"],
        "speed_ratio": (theirs / ours) if ours and theirs else None,
    }
    results.write_json(os.path.join(out, "results.json"), record)
    recipe.report(baseline, os.path.join(out, "keras_io_convnet"))
    recipe.report(record, out)
    fmt = lambda s: "never" if s is None else f"{s:.0f} s"  # noqa: E731
    ratio = record["comparison"]["speed_ratio"]
    print(f"time to {100 * TARGET_ACCURACY:.1f}%: {record['model']} {fmt(ours)}, keras.io convnet {fmt(theirs)}"
          + (f" (ratio keras.io / zoo = {ratio:.2f})" if ratio else ""))
    return 0

