"""cnnzoo on the Keras backend that runs the tests (KERAS_BACKEND).

`make test-backends` runs this module under JAX and under PyTorch; `make test` runs it under TensorFlow,
where the model and block cases are skipped (test_models.py and test_layers.py cover them there, in every
rank) and the engine's input tests run. Cases: tests/backend_cases.py. TensorFlow's side of the
cross-backend comparisons runs as a subprocess (tests/backend_reference.py).
"""

import json
import os
import subprocess
import sys

import backend_cases
import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo import training
from cnnzoo.training import backend_defaults

BACKEND = keras.backend.backend()
HERE = os.path.dirname(os.path.abspath(__file__))
CASES = backend_cases.all_cases()
# Largest |difference| / largest |output| between TensorFlow's outputs and this backend's, float32.
# Measured here (2026-12-01): at most 5.9e-7 on JAX (lenet5 paper) and 6.0e-7 on PyTorch (alexnet).
TOLERANCE = 1e-5
other_backend = pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="the other-backend suite (make test-backends); on TensorFlow test_models.py/test_layers.py cover it")


def tensorflow(*args):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, os.path.join(HERE, "backend_reference.py"), *map(str, args)],
                         capture_output=True, text=True, env=env, cwd=HERE, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def exchanged(tmp_path_factory):
    """Files both ways: TensorFlow's (.keras, .weights.h5, inputs and outputs) for this backend to load,
    and this backend's weights and outputs, loaded and compared by TensorFlow (one subprocess)."""
    from_tf, from_here = tmp_path_factory.mktemp("from_tensorflow"), tmp_path_factory.mktemp(f"from_{BACKEND}")
    for case, (build, shape) in CASES.items():
        keras.utils.set_random_seed(1)
        model = build()
        x = backend_cases.case_input(case, shape)
        model.save_weights(from_here / f"{case}.weights.h5")
        np.savez(from_here / f"{case}.npz", x=x, y=backend_cases.outputs(model, x))
    tensorflow("both", from_tf, from_here)
    return from_tf, json.loads((from_here / "differences.json").read_text())


def relative_difference(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


@other_backend
@pytest.mark.parametrize("case", list(CASES))
def test_files_saved_on_tensorflow_load_here_with_the_same_outputs(case, exchanged):
    from_tf = exchanged[0]
    saved = np.load(from_tf / f"{case}.npz")
    loaded = keras.saving.load_model(from_tf / f"{case}.keras")  # the whole model, no custom_objects
    assert relative_difference(backend_cases.outputs(loaded, saved["x"]), saved["y"]) < TOLERANCE
    build, _ = CASES[case]
    model = build()
    model.load_weights(from_tf / f"{case}.weights.h5")  # the weights into a model built here
    assert relative_difference(backend_cases.outputs(model, saved["x"]), saved["y"]) < TOLERANCE


@other_backend
@pytest.mark.parametrize("case", list(CASES))
def test_weights_saved_here_load_on_tensorflow_with_the_same_outputs(case, exchanged):
    assert exchanged[1][case] < TOLERANCE


TRAINED = [c for c in CASES if c.startswith("block_") or c[len("model_"):] in backend_cases.TRAINED_MODELS]


@other_backend
@pytest.mark.parametrize("case", TRAINED)
def test_a_training_step_reaches_every_weight_and_the_model_round_trips(case, tmp_path):
    build, shape = CASES[case]
    model = build()
    x = backend_cases.case_input(case, shape, batch=4)
    y = np.random.default_rng(0).normal(size=(4,) + tuple(model.output_shape[1:])).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    unchanged = [w.path for w, old, new in zip(model.trainable_weights, before, after) if np.array_equal(old, new)]
    assert not unchanged, unchanged
    assert all(np.all(np.isfinite(w)) for w in after)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(backend_cases.outputs(model, x), backend_cases.outputs(loaded, x))


def _loss_and_gradients(loss_fn, tensors):
    """``(loss, aux, gradients of loss with respect to each of tensors)`` on the running backend."""
    if BACKEND == "jax":
        import jax

        (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=tuple(range(len(tensors))), has_aux=True)(*tensors)
        return loss, aux, list(grads)
    if BACKEND == "torch":
        import torch

        tensors = [torch.as_tensor(t).detach().requires_grad_(True) for t in tensors]
        loss, aux = loss_fn(*tensors)
        return loss, aux, list(torch.autograd.grad(loss, tensors))
    import tensorflow as tf

    tensors = [tf.constant(t) for t in tensors]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        loss, aux = loss_fn(*tensors)
    return loss, aux, tape.gradient(loss, tensors)


@pytest.mark.parametrize("shape,scale,center", [((6, 5), True, True), ((1, 5), True, True), ((4, 7, 3), True, False),
                                                ((3, 5, 4, 6), True, True), ((2, 3, 4, 5, 3), False, True)])
def test_batch_norm_kernel_of_this_backend_matches_keras_in_training(shape, scale, center):
    """cnnzoo's BatchNormalization (the backend's kernel in training: TensorFlow's fused op, JAX's closed-form
    gradient, Keras's own ops elsewhere) against Keras's layer: outputs, gradients with respect to the input and
    the weights, and the moving statistics after two training steps, then inference."""
    from cnnzoo import backends
    from cnnzoo.layers.normalization import BatchNormalization

    # the kernel is there where it pays (the speed this test does not time depends on it)
    assert backends.batch_norm_training() is not None
    rng = np.random.default_rng(0)
    layers = [cls(momentum=0.9, epsilon=1e-5, scale=scale, center=center)
              for cls in (BatchNormalization, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.build(shape)
    values = [rng.uniform(0.5, 2, shape[-1]).astype("float32") for _ in layers[0].weights]
    for layer in layers:
        for v, value in zip(layer.weights, values):
            v.assign(value if "variance" in v.path or "gamma" in v.path else value - 1)
    results = []
    for layer in layers:
        outs = []
        trainable = [keras.ops.convert_to_numpy(v) for v in layer.trainable_variables]
        moving = [keras.ops.convert_to_numpy(v) for v in layer.non_trainable_variables]
        for step in range(2):
            x = (np.random.default_rng(step).standard_normal(shape) * 3 + 1).astype("float32")

            def loss_fn(x, *weights):
                y, new_moving = layer.stateless_call(list(weights), moving, x, training=True)
                return keras.ops.sum(y * keras.ops.cos(x)), (y, new_moving)

            _, (y, moving), grads = _loss_and_gradients(loss_fn, [x, *trainable])
            moving = [keras.ops.convert_to_numpy(v) for v in moving]
            outs += [keras.ops.convert_to_numpy(t) for t in (y, *grads)]
        outs += moving
        y, _ = layer.stateless_call(trainable, moving, x, training=False)
        outs.append(keras.ops.convert_to_numpy(y))
        results.append(outs)
    assert len(results[0]) == len(results[1]) == 2 * (2 + len(layers[0].trainable_variables)) + 3
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs, rtol=2e-4, atol=2e-4)
    assert not np.allclose(results[0][-3], values[-2] - 1)  # the moving mean did move


@pytest.mark.parametrize("shape,kernel,strides,padding,dilation,groups,by_kernel", [
    ((2, 9, 8, 6), 3, 1, "same", 1, 1, "torch"), ((2, 9, 8, 6), 3, 2, "valid", 1, 3, "torch"),
    ((2, 10, 9, 4), 4, 2, "same", 1, 1, ""),  # 'same' pads 3 on the second axis: one side more, Keras's path
    ((1, 11, 10, 4), (3, 1), 1, "same", 2, 2, "torch"), ((2, 5, 7, 7, 4), (3, 1, 3), (1, 2, 2), "same", 1, 1, "torch"),
    ((1, 6, 9, 8, 4), 2, 1, "valid", (1, 2, 1), 4, "torch"),
    ((2, 7, 5, 6), 1, 1, "same", 1, 1, "torch jax"), ((2, 3, 7, 5, 6), 1, 1, "valid", 1, 1, "torch jax"),  # pointwise
    ((2, 7, 5, 6), 1, 2, "valid", 1, 1, "torch"), ((2, 7, 5, 6), 1, 1, "valid", 1, 2, "torch")])
def test_convolution_kernel_of_this_backend_matches_keras(shape, kernel, strides, padding, dilation, groups,
                                                          by_kernel, monkeypatch):
    """cnnzoo's Conv2D/Conv3D (the backend's kernel where it has one: PyTorch's, without Keras's layout copies; on
    JAX's CPU a pointwise convolution as a matrix product) against Keras's layer with the same weights: outputs and
    gradients with respect to the input and the weights, for strides, dilation, groups, 'valid' and both kinds of
    'same' (the kernel leaves a one-sided one to Keras), and which cases each kernel takes."""
    from cnnzoo import backends
    from cnnzoo.layers import convolution

    rank = len(shape) - 2
    kernel_of_backend, used = backends.convolution(), []
    assert (kernel_of_backend is not None) == (BACKEND in ("torch", "jax"))
    if kernel_of_backend is not None:
        monkeypatch.setattr(backends, "convolution", lambda: lambda *a: used.append(kernel_of_backend(*a)) or used[-1])
    arguments = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    mine = {2: convolution.Conv2D, 3: convolution.Conv3D}[rank](12, kernel, **arguments)
    theirs = {2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[rank](12, kernel, **arguments)
    rng = np.random.default_rng(0)
    for layer in (mine, theirs):
        layer.build(shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in mine.weights]
    x = rng.standard_normal(shape).astype("float32")
    results = []
    for layer in (mine, theirs):
        def loss_fn(x, *weights):
            y, _ = layer.stateless_call(list(weights), [], x)
            return keras.ops.sum(y * keras.ops.sin(y)), y

        _, y, grads = _loss_and_gradients(loss_fn, [x, *weights])
        results.append([keras.ops.convert_to_numpy(t) for t in (y, *grads)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert [u is not None for u in used] == ([] if kernel_of_backend is None else [BACKEND in by_kernel.split()])


@pytest.mark.parametrize("training,frozen", [(True, False), (False, False), (True, True)])
def test_inception_modules_batch_norms_as_one_compute_what_each_branchs_own_does(training, frozen, monkeypatch):
    """In training, an Inception module normalizes its four branches with their four batch norms side by side, and
    computes branches 2 and 3's 1x1 reductions as one convolution and one batch norm
    (`normalization.merged_batch_norm`: fewer kernels of distinct shapes to compile): the same outputs, gradients with
    respect to the input and every weight, and moving statistics of each branch's layer as when each layer computes
    its own channels; with frozen batch norms (fine-tuning with ``train_bn=False``) a training step normalizes with the
    moving statistics, merged too. Inference is computed branch by branch, as before."""
    from cnnzoo import compat
    from cnnzoo.layers import inception, normalization

    merged = []
    def spy(*args):
        merged.append(normalization.merged_batch_norm(*args))
        return merged[-1]

    results = []
    for together in (True, False):
        monkeypatch.setattr(inception, "merged_batch_norm", spy if together else lambda *a: None)
        keras.utils.set_random_seed(4)
        module = inception.InceptionModule(5, 3, 6, 2, 4, 3, kernel_size_5x5=3, norm_epsilon=1e-3,
                                           norm_momentum=0.0 if frozen else 0.8)
        module.build((2, 7, 6, 4))
        rng = np.random.default_rng(1)
        for w in module.non_trainable_weights:  # moving statistics away from their start
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        x = rng.standard_normal((2, 7, 6, 4)).astype("float32")
        if frozen:  # statistics of a trained network (activations of the scale training gives), then frozen
            module(x, training=True)
            for layer in compat.flatten_layers(module):
                if isinstance(layer, normalization.BatchNormalization):
                    layer.trainable = False
        start = [keras.ops.convert_to_numpy(w) for w in module.non_trainable_weights]

        def loss_fn(x, *weights):
            y, moving = module.stateless_call(list(weights), [w.value for w in module.non_trainable_weights], x,
                                              training=training)
            return keras.ops.sum(y * keras.ops.sin(y)), (y, moving)

        _, (y, moving), grads = _loss_and_gradients(loss_fn, [x, *[w.value for w in module.trainable_weights]])
        results.append([keras.ops.convert_to_numpy(t) for t in (y, *grads, *moving)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert len(merged) == 2 * (1 + frozen) * training and None not in merged  # the merged paths ran (also in the
    # frozen case's warm-up step), compared with the branches'
    moving = results[0][-len(start):]
    assert all(np.allclose(m, s) != (training and not frozen) for m, s in zip(moving, start))  # moved in training


def test_batch_norms_of_different_settings_are_not_merged():
    from cnnzoo.layers import normalization

    x = keras.ops.ones((2, 3, 3, 5))
    a, b = normalization.make_norm("batch", 2), normalization.make_norm("batch", 3, epsilon=1e-3)
    c = normalization.make_norm("batch", 3)
    for layer, channels in ((a, 2), (b, 3), (c, 3)):
        layer.build((2, 3, 3, channels))
    assert normalization.merged_batch_norm([a, b], x, training=True) is None  # two epsilons
    assert normalization.merged_batch_norm([a, b], x, training=False) is None
    assert normalization.merged_batch_norm([a, c, c], x, training=False) is None  # 8 channels for an input of 5
    assert normalization.merged_batch_norm([a, c], x, training=False) is not None
    c.trainable = False
    assert normalization.merged_batch_norm([a, c], x, training=False) is None  # one frozen, one not


@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((2, 9, 11, 5), 3, 2, "valid"), ((2, 8, 8, 4), 3, 1, "same"), ((1, 7, 7, 3), 2, 2, "valid"),
    ((2, 10, 9, 3), 3, 2, "same"), ((2, 9, 8, 3), (3, 2), (2, 1), "valid"), ((3, 11, 4), 3, 2, "same"),
    ((1, 5, 7, 6, 2), 3, (1, 2, 2), "same")])
def test_max_pooling_kernel_of_this_backend_matches_keras(shape, pool, strides, padding, monkeypatch):
    """cnnzoo's MaxPooling1D/2D/3D (on JAX's CPU, the gradient of slices) against Keras's layer: outputs and the
    gradient with respect to the input, where every window has ties (small integers): each window's gradient goes to
    its first maximum, as XLA's and PyTorch's do."""
    from cnnzoo import backends
    from cnnzoo.layers import convolution

    rank = len(shape) - 2
    kernel_of_backend, used = backends.max_pool(), []
    assert (kernel_of_backend is not None) == (BACKEND == "jax")
    if kernel_of_backend is not None:
        monkeypatch.setattr(backends, "max_pool", lambda: lambda *a: used.append(1) or kernel_of_backend(*a))
    arguments = dict(pool_size=pool, strides=strides, padding=padding)
    mine = {1: convolution.MaxPooling1D, 2: convolution.MaxPooling2D, 3: convolution.MaxPooling3D}[rank](**arguments)
    theirs = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D, 3: keras.layers.MaxPooling3D}[rank](
        **arguments)
    x = np.random.default_rng(0).integers(0, 3, shape).astype("float32")
    results = []
    for layer in (mine, theirs):
        def loss_fn(x):
            y = layer(x)
            return keras.ops.sum(y * keras.ops.cos(y + keras.ops.arange(y.shape[-1], dtype="float32"))), y

        _, y, grads = _loss_and_gradients(loss_fn, [x])
        results.append([keras.ops.convert_to_numpy(t) for t in (y, *grads)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert results[0][1].sum() != 0 and len(used) == (BACKEND == "jax")


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile (Keras's jit_compile=True on PyTorch)")
def test_a_compiled_pytorch_step_uses_keras_ops_and_takes_the_eager_steps_values():
    """The PyTorch kernels are for eager steps: under torch.compile (shapes symbolic, which they branch on) the layers
    use Keras's own ops, and a compiled training step computes what an eager one does (ResNet-18: its strided 1x1
    shortcuts and every batch norm)."""
    def build():
        keras.utils.set_random_seed(3)
        return cnnzoo.resnet18(input_shape=(32, 32, 3), classes=2)

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 32, 32, 3)).astype("float32"), rng.standard_normal((4, 2)).astype("float32")
    losses, weights = [], []
    for jit in (False, True):
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=jit)
        losses.append(float(model.train_on_batch(x, y)))
        weights.append([keras.ops.convert_to_numpy(w) for w in model.weights])
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)  # measured: 7.6e-6 apart
    for eager, compiled in zip(*weights):  # one SGD step on each: the same gradients
        np.testing.assert_allclose(eager, compiled, rtol=1e-4, atol=1e-5)


@other_backend
def test_lp_pooling_trains_through_all_zero_windows():
    """The p-th root's gradient at 0 is infinite; cnnzoo's LPPooling keeps it finite on every backend."""
    build, shape = CASES["block_LPPooling"]
    model = build()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(np.zeros((2,) + shape, "float32"), np.ones((2, 3), "float32"), epochs=1, verbose=0)
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)


@other_backend
def test_strategies_on_this_backend(monkeypatch):
    """--strategy: JAX's is keras.distribution.DataParallel (trained in test_distribute.py); PyTorch has the
    default strategy only; each refusal names the strategy and the backend."""
    from cnnzoo.training import distribute

    monkeypatch.setenv("TF_CONFIG", "{}")
    with pytest.raises(ValueError, match=f"Received: strategy='multi_worker' with KERAS_BACKEND={BACKEND}"):
        distribute.make_strategy("multi_worker")
    assert distribute.make_strategy("auto").num_replicas_in_sync == 1  # one CPU device here
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="Received: strategy='mirrored' with KERAS_BACKEND=torch"):
            distribute.make_strategy("mirrored")


# ---- the training engine: its defaults on this backend, and every input kind it accepts ----

def brightness_data(n=192, size=16, seed=0):
    """A learnable two-class problem: bright or dark images (uint8 pixels, integer labels)."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 1), dtype=np.uint8)
    return images, (images.reshape(n, -1).mean(1) > 127.5).astype(np.int64)


class BrightnessBatches(keras.utils.PyDataset):
    def __init__(self, images, labels, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels, self.batch_size = images.astype("float32") / 255, labels, batch_size

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.images[part], self.labels[part]


def feeds(kind, images, labels, batch_size):
    from cnnzoo import data

    if kind == "tf_data":
        ds = data.Dataset("synthetic", "train", images, labels, 2, "test")
        return (data.make_pipeline(ds, batch_size, training=True, seed=0),
                data.make_pipeline(ds, 64, training=False))
    scaled = images.astype("float32") / 255
    if kind == "arrays":
        return (scaled, labels), (scaled, np.eye(2, dtype="float32")[labels])  # integer and one-hot labels
    return BrightnessBatches(images, labels, batch_size), BrightnessBatches(images, labels, 64)


@pytest.mark.parametrize("kind", ["tf_data", "arrays", "pydataset"])
def test_the_engine_trains_on_every_input_kind_with_this_backends_defaults(kind, tmp_path):
    """PyTorch refused the engine's old default steps_per_execution, JAX ran uncompiled, and arrays failed
    with "'tuple' object has no attribute 'cardinality'" on every backend."""
    training.seed_everything(0)
    images, labels = brightness_data()
    train, test = feeds(kind, images, labels, 32)
    model = cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2)
    config = training.TrainConfig(epochs=3, batch_size=32, lr=3e-3, seed=0)
    record = training.fit(model, train, test, config, str(tmp_path / "run"), verbose=0)
    measured = backend_defaults.MEASURED[BACKEND]
    assert record["environment"]["keras_backend"] == BACKEND
    assert record["config"]["jit_compile"] == measured["jit_compile"]
    assert record["steps_per_execution_used"] == (1 if measured["max_steps_per_execution"] == 1 else 6)
    assert record["epochs_run"] == 3 and len(record["test_accuracy_per_epoch"]) == 3
    losses = record["history"]["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert (tmp_path / "run" / "final.keras").exists() and not (tmp_path / "run" / "backup").exists()


@pytest.mark.parametrize("kind", ["arrays", "pydataset"])
def test_the_engine_feeds_named_outputs_from_integer_labels(kind, tmp_path):
    """A model with named outputs (as GoogLeNet's auxiliary heads) gets the same one-hot labels on each."""
    images, labels = brightness_data(64)
    inputs = keras.Input((16, 16, 1))
    features = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, {"main": keras.layers.Dense(2, activation="softmax")(features),
                                 "aux1": keras.layers.Dense(2, activation="softmax")(features)})
    train, test = feeds(kind, images, labels, 16)
    record = training.fit(model, train, test, training.TrainConfig(epochs=1, batch_size=16), str(tmp_path),
                          verbose=0)
    assert record["final_test_accuracy"] is not None and "val_main_accuracy" in record["history"]


@pytest.mark.parametrize("make,error,match", [
    (lambda x, y: iter([(x, y)]), TypeError, r"train_ds must be a tf.data.Dataset.*Received: train_ds=a list_iterator"),
    (lambda x, y: x, TypeError, r"Received: train_ds=a ndarray"),
    (lambda x, y: (x, y, y), TypeError, r"Received: train_ds=a tuple of length 3"),
    (lambda x, y: (x, y[:-1]), ValueError, r"same length. Received: 64 images and 63 labels"),
    (lambda x, y: (x, y + 2), ValueError, r"class indices in \[0, 2\).*Received: label [23]"),
    (lambda x, y: (x, np.eye(3)[y]), ValueError, r"one-hot rows of shape \(n, 2\). Received: labels of shape \(64, 3\)"),
    (lambda x, y: (x, y.astype("float32")), ValueError, r"must be integers. Received: labels of dtype float32"),
    (lambda x, y: (x[:0], y[:0]), ValueError, r"must not be empty"),
])
def test_the_engine_names_the_argument_for_data_it_cannot_use(make, error, match, tmp_path):
    images, labels = brightness_data(64)
    x = images.astype("float32") / 255
    with pytest.raises(error, match=match):
        training.fit(cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2), make(x, labels), (x, labels),
                     training.TrainConfig(epochs=1, batch_size=16), str(tmp_path), verbose=0)


def test_constants_and_draws_made_on_the_host_are_kerass_own_values():
    """`cnnzoo.backends`' host-made arrays (what a JAX build uses to compile fewer programs) hold exactly what Keras's
    own initializers and draws give, of the same dtype and array type, on every backend."""
    from cnnzoo import backends

    zeros, ones = keras.initializers.Zeros, keras.initializers.Ones
    calls = (zeros.__call__, ones.__call__)
    cases = [(cls, shape, dtype) for cls in (zeros, ones) for shape in [(3,), (5, 7), (2, 3, 1, 4)]
             for dtype in (None, "float32", "bfloat16", "float16", "int32")]
    expected = [cls()(shape, dtype) for cls, shape, dtype in cases]
    with backends.constants_on_host():
        with backends.constants_on_host():  # nested: the outer one still holds after the inner one ends
            pass
        assert (zeros.__call__ != calls[0]) == (BACKEND == "jax")  # only JAX needs it
        for (cls, shape, dtype), want in zip(cases, expected):
            got = cls()(shape, dtype)
            assert keras.ops.is_tensor(got) and type(got) is type(want), (cls, shape, dtype, type(got))
            assert keras.backend.standardize_dtype(got.dtype) == keras.backend.standardize_dtype(want.dtype)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want))
    assert (zeros.__call__, ones.__call__) == calls  # Keras's own again
    for length in (1, 5, 16, 17, 32, 100, 128, 2048, 4097, 8192, 2**17):
        for seed in (0, 7, 2**32 - 1):
            want = keras.ops.convert_to_numpy(keras.random.truncated_normal((length,), dtype="float32", seed=seed))
            got = backends.standard_truncated_normal(length, seed)
            assert got.dtype == np.float32 and got.tobytes() == want.tobytes(), (length, seed)
    host = np.arange(6, dtype="float32").reshape(2, 3)
    handed = backends.from_host(host)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(handed), host)
    assert BACKEND != "jax" or keras.ops.is_tensor(handed)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX compiles a program for every new shape of an eager operation")
def test_on_jax_a_build_and_its_training_compile_no_program_per_weight_shape(tmp_path, caplog):
    """GoogLeNet's JAX build compiled 95 programs (4.2 s) and its first step's optimizer slots 49 more (2 s): one per
    new shape for host arrays handed over, constant initializers, and initializer draws. Now: the draws' few."""
    import logging
    import re

    import jax

    def compiled(run):
        jax.clear_caches()  # what earlier tests compiled would hide a shape compiled again
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="jax"), jax.log_compiles():
            result = run()
        names = re.findall(r"Finished XLA compilation of (\S+)", caplog.text)
        return result, [n for n in names if n not in ("jit(train_step)", "jit(test_step)", "jit(predict_step)")]

    model, names = compiled(lambda: cnnzoo.resnet18(input_shape=(32, 32, 3), classes=10))
    assert "jit(multiply)" not in names and "jit(add)" not in names, names  # Keras's scale and shift: per length
    assert names.count("jit(_truncated_normal)") <= 6 and len(names) <= 10, names  # the draws: per power of 4
    images, labels = brightness_data(16, size=32)
    x = np.repeat(images, 3, axis=-1).astype("float32") / 255
    _, names = compiled(lambda: training.fit(model, (x, labels), (x, labels), training.TrainConfig(
        epochs=1, batch_size=8, optimizer="sgd", momentum=0.9), str(tmp_path), verbose=0))
    assert "jit(broadcast_in_dim)" not in names and len(names) <= 8, names  # the slots: 0 where 30 were
