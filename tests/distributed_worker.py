"""One worker of the 2-process tests in test_distribute.py (run as a subprocess).

    python distributed_worker.py MODE INDEX PORT0,PORT1 OUT
MODE: "cnnzoo" trains LeNet-5 with cnnzoo.training.fit under the multi_worker strategy;
"plain" calls keras fit under an unmodified MultiWorkerMirroredStrategy (Keras #20585).
"mirrored" ignores INDEX/PORTS: 2 logical CPUs, MirroredStrategy, cnnzoo.training.fit.
"jax" ignores INDEX/PORTS: KERAS_BACKEND=jax with 2 forced host devices, the recipes' "mirrored" strategy
(keras.distribution.DataParallel); writes each device's copy of the weights (weights_jax_<device>.npz).
"""

import json
import os
import sys

mode, index, ports, out = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
if mode == "jax":
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
elif mode != "mirrored":
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    })

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cnnzoo.training import distribute  # noqa: E402

if mode == "mirrored":
    distribute.split_cpu(2)

import keras  # noqa: E402

import cnnzoo  # noqa: E402
from cnnzoo import data, training  # noqa: E402

if mode == "plain":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
    x = np.ones((32, 4), "float32")
    try:
        model.fit(tf.data.Dataset.from_tensor_slices((x, x[:, :2])).batch(8, drop_remainder=True), epochs=1, verbose=0)
        print("PLAIN_FIT_OK")
    except Exception as e:  # the Keras bug this project works around
        print("PLAIN_FIT_FAILED", type(e).__name__)
    sys.exit(0)

training.seed_everything(0)
strategy = distribute.make_strategy("multi_worker" if mode in ("cnnzoo", "plain") else "mirrored")
sample = os.path.join(os.path.dirname(cnnzoo.__file__), "data", "samples", "mnist")
train = data.load_arrays("mnist", "train", data_dir=sample)
test = data.load_arrays("mnist", "test", data_dir=sample)
train_ds = data.make_pipeline(train, 64, training=True, seed=0)
test_ds = data.make_pipeline(test, 500, training=False)
with strategy.scope():
    model = cnnzoo.lenet5(input_shape=(28, 28, 1))
config = training.TrainConfig(epochs=2, batch_size=64, lr=2e-3, sync_batch_norm=True)
record = training.fit(model, train_ds, test_ds, config, out, verbose=0, strategy=strategy)
if mode == "jax":  # every device's copy of every variable
    for device in range(strategy.num_replicas_in_sync):
        np.savez(os.path.join(out, f"weights_jax_{device}.npz"),
                 *[np.asarray(v.value.addressable_shards[device].data) for v in model.weights])
else:
    np.savez(os.path.join(out, f"weights_{mode}_{index}.npz"), *model.get_weights())
with open(os.path.join(out, f"losses_{mode}_{index}.json"), "w") as f:
    json.dump({"loss": record["history"]["loss"], "replicas": strategy.num_replicas_in_sync}, f)
print("DONE", index)
