"""Every builder follows ``keras.config.image_data_format()``, as keras.applications' do, and takes
``data_format=`` to override it: the same network in either layout (the same weights, the same outputs for the
transposed input), torchvision's and Keras's weights loading into both, ``.keras`` files keeping the layout.

TensorFlow's CPU kernels have no channels-first convolution, so on TensorFlow (`make test`) the models are built
and loaded, not run; `make test-backends` runs the forward cases on JAX and PyTorch.
"""

import json
import os

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.models.builder import layout

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, "data", "torchvision_recorded.json")
runs_channels_first = pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="TensorFlow's CPU kernels have no channels-first convolution: make test-backends runs these on JAX and "
           "PyTorch")

# one model of each family and block kind, at small inputs (channels-last shapes)
CASES = {
    "lenet5": {}, "lenet5 paper": dict(variant="paper"), "alexnet": dict(input_shape=(97, 97, 3), width=0.25),
    "alexnet paper": dict(input_shape=(227, 227, 3), variant="paper", width=0.25),
    "vgg11_bn": dict(input_shape=(64, 64, 3), width=0.25),
    "googlenet": dict(input_shape=(64, 64, 3), aux_logits=True, width=0.25),
    "resnet18": dict(input_shape=(64, 64, 3), width=0.25), "resnet50": dict(input_shape=(64, 64, 3), width=0.25),
    "resnet20": {}, "r2plus1d_18": dict(input_shape=(8, 32, 32, 3), width=0.25),
    "mc3_18": dict(input_shape=(8, 32, 32, 3), width=0.25), "tcn": dict(input_shape=(100, 1)),
    "ssd300_vgg16": dict(width=0.25),
}


def _first(shape):
    return (shape[-1],) + tuple(shape[:-1])


def _pair(case):
    """The case's model channels-last and channels-first, the second with the first's weights."""
    name, _, variant = case.partition(" ")
    kwargs = dict(CASES[case])
    last = cnnzoo.get_model(name, **kwargs)
    if "input_shape" in kwargs:
        kwargs["input_shape"] = _first(kwargs["input_shape"])
    first = cnnzoo.get_model(name, data_format="channels_first", **kwargs)
    first.set_weights(last.get_weights())
    return last, first


def _layouts(model):
    return {layer.data_format for layer in model._flatten_layers() if hasattr(layer, "data_format")}


@pytest.mark.parametrize("case", list(CASES))
def test_each_family_builds_the_same_network_channels_first(case):
    last, first = _pair(case)
    assert first.input_shape[1:] == _first(last.input_shape[1:])
    assert [tuple(w.shape) for w in first.weights] == [tuple(w.shape) for w in last.weights]
    assert [(f.name, f.channels, f.reduction) for f in first.feature_info] == \
        [(f.name, f.channels, f.reduction) for f in last.feature_info]
    assert _layouts(first) == {"channels_first"} and _layouts(last) == {"channels_last"}


def test_the_builders_follow_keras_image_data_format_and_data_format_overrides_it():
    before = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        model = cnnzoo.resnet18()
        assert model.input_shape == (None, 3, 224, 224) and _layouts(model) == {"channels_first"}
        assert cnnzoo.lenet5(data_format="channels_last").input_shape == (None, 32, 32, 1)
        assert cnnzoo.r3d_18(input_shape=(3, 8, 32, 32)).output_shape == (None, 400)
    finally:
        keras.config.set_image_data_format(before)
    assert keras.config.image_data_format() == before == "channels_last"
    with layout("channels_first"):  # the build restores what it found
        cnnzoo.lenet5()
        assert keras.config.image_data_format() == "channels_first"


@pytest.mark.parametrize("kwargs, message", [
    (dict(data_format="channels_first", input_shape=(64, 64, 3)),
     r"input_shape looks channels-last: this model is channels-first \(\(C, H, W\), \(C, T, H, W\); "
     r"data_format='channels_first'\)\. Write \(3, 64, 64\) \(or 3x64x64 on a command line\), or build with "
     r"data_format='channels_last'\. Received: input_shape=\(64, 64, 3\)"),
    (dict(input_shape=(3, 64, 64)), r"input_shape looks channels-first: this model is channels-last .*"
                                    r"Write \(64, 64, 3\) .*or build with data_format='channels_first'"),
    (dict(data_format="NCHW"), r"data_format must be 'channels_last' or 'channels_first'\. "
                               r"Received: data_format='NCHW'"),
])
def test_a_shape_of_the_other_layout_and_a_bad_data_format_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cnnzoo.resnet18(**kwargs)
    with pytest.raises(ValueError, match=r"alexnet needs every spatial dimension >= 63 .*"
                                         r"Received: input_shape=\(3, 62, 64\)"):  # the spatial sizes, not C
        cnnzoo.alexnet(data_format="channels_first", input_shape=(3, 62, 64))
    with pytest.raises(ValueError, match=r"input_shape must have positive sizes and known channels"):
        cnnzoo.alexnet(data_format="channels_first", input_shape=(None, 64, 64))


@pytest.mark.parametrize("name, shape", [("resnet18", (64, 64, 3)), ("alexnet", (97, 97, 3)),
                                         ("googlenet", (64, 64, 3))])
def test_torchvision_weights_load_into_either_layout_alike(name, shape):
    """Keras's kernels are the same in both layouts, and its Flatten reads a channels-first map in channels-last
    order: AlexNet's first dense layer gets the same rows in both."""
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import torchvision_assignments

    with open(RECORDED) as f:
        case = json.load(f)[name]
    state = synthetic_torchvision_state(case["state"], case["weights_seed"])
    last = torchvision_assignments(name, cnnzoo.get_model(name, input_shape=shape), state)
    first = torchvision_assignments(name, cnnzoo.get_model(name, input_shape=_first(shape),
                                                           data_format="channels_first"), state)
    assert last[1] == first[1] and list(last[0]) == list(first[0])
    assert all(np.array_equal(last[0][k], first[0][k]) for k in last[0])


def test_a_saved_channels_first_model_keeps_its_layout(tmp_path):
    model = cnnzoo.googlenet(input_shape=(3, 64, 64), data_format="channels_first", classes=5, width=0.25)
    model.save(tmp_path / "m.keras")
    loaded = cnnzoo.load_model(tmp_path / "m.keras")
    assert loaded.input_shape == (None, 3, 64, 64) and _layouts(loaded) == {"channels_first"}
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))


@runs_channels_first
@pytest.mark.parametrize("case", list(CASES))
def test_each_family_computes_the_same_outputs_channels_first(case):
    last, first = _pair(case)
    x = np.random.default_rng(0).standard_normal((2,) + tuple(last.input_shape[1:])).astype("float32")
    expected, got = last(x, training=False), first(np.moveaxis(x, -1, 1), training=False)
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        expected, got = expected["main"], got["main"]
    expected, got = keras.ops.convert_to_numpy(expected), keras.ops.convert_to_numpy(got)
    # float32 sums in another order through the network: measured at most 1.5e-5 (ResNet-50 on JAX, 2026-12-05)
    assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-4


@runs_channels_first
@pytest.mark.parametrize("name", ["resnet18", "alexnet", "googlenet"])
def test_converted_twins_compute_torchvisions_recorded_logits_channels_first(name):
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import load_torchvision_state

    with open(RECORDED) as f:
        case = json.load(f)[name]
    state = synthetic_torchvision_state(case["state"], case["weights_seed"])
    shape = tuple(case["input_shape"])
    model = cnnzoo.get_model(name, input_shape=_first(shape), classifier_activation=None,
                             data_format="channels_first")
    load_torchvision_state(name, model, state)
    x = np.random.default_rng(case["input_seed"]).standard_normal((1,) + shape).astype("float32")
    logits = keras.ops.convert_to_numpy(model(np.moveaxis(x, -1, 1), training=False))[0]
    expected = np.asarray(case["logits"], "float32")
    assert np.abs(logits - expected).max() / np.abs(expected).max() < 1e-5


# one twin of each kind of block and head (tests/test_torchvision.py runs every twin channels-last; the deeper ones
# repeat these blocks): the flatten heads with and without BatchNorm, basic and bottleneck blocks, groups and width,
# Inception, and the three video stems and blocks
LAYOUT_TWINS = ["alexnet", "vgg11", "vgg11_bn", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2",
                "googlenet", "r3d_18", "mc3_18", "r2plus1d_18"]


@runs_channels_first
@pytest.mark.parametrize("name", LAYOUT_TWINS)
def test_twins_compute_torchvisions_function_channels_first(name):
    """The torchvision oracle (tests/test_torchvision.py, channels-last on TensorFlow) channels-first: torchvision's
    own model with random weights and BatchNorm statistics, converted by name into a channels-first twin, at an odd
    size (ceil-mode pools, adaptive pooling of uneven bins), given the same NCHW / NCTHW input."""
    torch = pytest.importorskip("torch", reason="the oracle needs the optional extra: pip install torch==2.14.1 "
                                                "torchvision==0.29.1")
    pytest.importorskip("torchvision", reason="pip install torch==2.14.1 torchvision==0.29.1")
    from helpers import torchvision_model

    from cnnzoo.weights.torchvision import load_torchvision_state

    tmodel = torchvision_model(name)
    shape = (3, 3, 43, 45) if len(cnnzoo.model_info(name).input_shape) == 4 else (3, 67, 65)
    model = cnnzoo.get_model(name, input_shape=shape, classifier_activation=None, data_format="channels_first")
    assert load_torchvision_state(name, model, tmodel.state_dict()) == []
    x = np.random.default_rng(len(name)).standard_normal((1,) + shape).astype("float32")
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(logits - expected).max() / np.abs(expected).max() < 1e-5
