"""Model zoo: every registered model in 1D/2D/3D, training, serialization,
features; exact parameter counts; registry and argument errors."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import trainable_count

import cnnzoo
from cnnzoo import compat
from cnnzoo.models import alexnet as alexnet_module
from cnnzoo.models import lenet as lenet_module
from cnnzoo.models import vgg as vgg_module
from cnnzoo.registry import model_ranks
from cnnzoo.training import run_folder

ALL_MODELS = cnnzoo.list_models(task="classification")  # the detectors: tests/test_detection.py
TINY_WIDTH = 1 / 16
MODEL_RANKS = [(name, rank) for name in ALL_MODELS for rank in model_ranks(name)]


def main_rank(name):
    return 2 if 2 in model_ranks(name) else model_ranks(name)[0]


def tiny_kwargs(name, rank, size=None):
    """A small but architecture-complete configuration of each family."""
    if size is None:
        size = {"lenet5": 16, "alexnet": alexnet_module.MIN_SIZE, "googlenet": 16}.get(name, 32)
    channels = 1 if name == "lenet5" else 3
    return dict(input_shape=(size,) * rank + (channels,), width=TINY_WIDTH, classes=5)


@pytest.mark.parametrize("name,rank", MODEL_RANKS)
def test_builds_in_every_rank(name, rank):
    model = cnnzoo.get_model(name, **tiny_kwargs(name, rank))
    assert model.output_shape == (None, 5)
    assert model.input_shape == (None,) + tiny_kwargs(name, rank)["input_shape"]


# The 100-plus-layer depth variants of a family run in make test-slow: their 50-layer rows take the same
# code path in make test (which has to stay under 8 minutes on 2 cores); so do the deeper CIFAR ResNets,
# rows of resnet20's and resnet32's code with more blocks a stage.
DEEP = {"resnet101", "resnet152", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet101_2", "resnet44", "resnet56",
        "resnet110"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n for n in ALL_MODELS])
def test_training_step_reaches_every_weight_and_save_load_round_trips(name, tmp_path):
    model = cnnzoo.get_model(name, **tiny_kwargs(name, main_rank(name)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4,) + model.input_shape[1:]).astype("float32")
    y = np.eye(5, dtype="float32")[[0, 1, 2, 3]]
    with tf.GradientTape() as tape:
        loss = keras.losses.categorical_crossentropy(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None or not np.any(g.numpy())]
    assert not missing, missing
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    # every layer's config plain data (an initializer object in R(2+1)D-18's once made its run identity differ every
    # build), and the same run identity after the round trip
    for layer in compat.flatten_layers(model):
        json.dumps(layer.get_config())
    assert run_folder.architecture_fingerprint(loaded) == run_folder.architecture_fingerprint(model)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_features_only_outputs_match_recorded_channels_and_reductions(name):
    size = 64
    kwargs = tiny_kwargs(name, main_rank(name), size=size)
    kwargs.pop("classes")  # features_only has no classifier: passing classes too is now an error (issue 18)
    model = cnnzoo.get_model(name, features_only=True, **kwargs)
    assert isinstance(model.output, dict)
    assert [f.name for f in model.feature_info] == list(model.output)
    reductions = [f.reduction for f in model.feature_info]
    assert reductions == sorted(reductions)
    for info in model.feature_info:
        shape = model.output[info.name].shape
        assert shape[-1] == info.channels
        spatial = tuple(shape[1:-1])
        spatial = spatial[1:] if len(spatial) == 3 else spatial  # video: height and width (time has its own)
        if name in ("lenet5", "alexnet"):
            # unpadded kernels trim a few pixels: the size is n/reduction less a border
            assert all(0 < d <= size // info.reduction for d in spatial)
        else:
            assert all(d == size // info.reduction for d in spatial)


# Trainable parameters, counted the PyTorch way (conv/dense kernels and biases,
# norm gamma/beta; no BatchNorm moving statistics): shared/REFERENCE.md section 1.
PARAMS = [
    ("lenet5", {}, 61_706),
    ("lenet5", {"input_shape": (28, 28, 1)}, 61_706),
    ("lenet5", {"variant": "paper"}, 60_840),
    ("lenet5", {"variant": "paper", "input_shape": (28, 28, 1)}, 60_840),
    ("alexnet", {}, 61_100_840),
    ("alexnet", {"variant": "paper"}, 60_965_224),
    ("vgg11", {}, 132_863_336),
    ("vgg13", {}, 133_047_848),
    ("vgg16", {}, 138_357_544),
    ("vgg19", {}, 143_667_240),
    ("vgg11_bn", {}, 132_868_840),
    ("vgg13_bn", {}, 133_053_736),
    ("vgg16_bn", {}, 138_365_992),
    ("vgg19_bn", {}, 143_678_248),
    ("vgg11", {"include_top": False}, 9_220_480),
    ("vgg13", {"include_top": False}, 9_404_992),
    ("vgg16", {"include_top": False}, 14_714_688),
    ("vgg19", {"include_top": False}, 20_024_384),
    ("googlenet", {}, 6_624_904),
    ("googlenet", {"inception_5x5": True, "norm": None}, 6_998_552),
    ("googlenet", {"inception_5x5": True, "norm": None, "aux_logits": True}, 13_378_280),
    ("googlenet", {"inception_5x5": True}, 7_005_832),
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnet101", {}, 44_549_160),
    ("resnet152", {}, 60_192_808),
    ("resnet50", {"stride_in_1x1": True}, 25_557_032),
    # ResNeXt and Wide ResNet: rows of the ResNet table (torchvision's counts)
    ("resnext50_32x4d", {}, 25_028_904),
    ("resnext101_32x8d", {}, 88_791_336),
    ("resnext101_64x4d", {}, 83_455_272),
    ("wide_resnet50_2", {}, 68_883_240),
    ("wide_resnet101_2", {}, 126_886_696),
    ("resnet20", {}, 269_722),
    ("resnet32", {}, 464_154),
    ("resnet44", {}, 658_586),
    ("resnet56", {}, 853_018),
    ("resnet110", {}, 1_727_962),
    ("resnet20", {"shortcut": "B"}, 272_474),
    ("resnet32", {"shortcut": "B"}, 466_906),
    ("resnet44", {"shortcut": "B"}, 661_338),
    ("resnet56", {"shortcut": "B"}, 855_770),
    ("resnet110", {"shortcut": "B"}, 1_730_714),
    # torchvision's video ResNets, 400 classes, 16x112x112x3
    ("r3d_18", {}, 33_371_472),
    ("mc3_18", {}, 11_695_440),
    ("r2plus1d_18", {}, 31_505_325),
]


# The largest networks (60-127 M parameters) are built in make test-slow; make test checks their recorded
# counts (model_table.json, which the slow suite checks against every built model) against the references.
BIG = {"resnet152", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"}


@pytest.mark.parametrize("name,kwargs,expected", [
    pytest.param(n, k, e, marks=pytest.mark.slow) if n in BIG and not k else (n, k, e) for n, k, e in PARAMS],
    ids=[f"{n}-{k}" for n, k, _ in PARAMS])
def test_trainable_parameter_counts_match_reference(name, kwargs, expected):
    assert trainable_count(cnnzoo.get_model(name, **kwargs)) == expected


def test_the_recorded_parameter_counts_match_reference():
    from cnnzoo.inspect import model_table

    recorded = {r["name"]: r["params"] for r in model_table.read_table()}
    defaults = [(n, e) for n, k, e in PARAMS if not k]
    assert BIG <= {n for n, _ in defaults}
    for name, expected in defaults:
        assert recorded[name] == expected, name


def _flat_layers(model, kind):
    return [l for l in model._flatten_layers(include_self=False) if isinstance(l, kind)]


def test_resnet50_paper_layout_matches_keras_applications():
    ours = cnnzoo.resnet50(stride_in_1x1=True, conv_bias=True)
    theirs = keras.applications.ResNet50(weights=None)
    # Keras's count_params() counts BatchNorm moving statistics too.
    assert ours.count_params() == theirs.count_params() == 25_636_712
    for kind in (keras.layers.Conv2D, keras.layers.BatchNormalization, keras.layers.Dense):
        assert len(_flat_layers(ours, kind)) == len(_flat_layers(theirs, kind))
    shapes = lambda m: sorted(tuple(w.shape) for w in m.weights)  # noqa: E731
    assert shapes(ours) == shapes(theirs)
    strided = lambda m: sorted(  # noqa: E731
        (l.kernel_size, l.strides) for l in _flat_layers(m, keras.layers.Conv2D) if l.strides != (1, 1)
    )
    assert strided(ours) == strided(theirs)


def test_layer_names_follow_the_scheme():
    names = [l.name for l in cnnzoo.resnet18().layers]
    assert names[:3] == ["input", "stem_conv", "stem_pool"]
    assert "stage4_block2" in names and names[-2:] == ["head_pool", "predictions"]
    vgg = [l.name for l in cnnzoo.vgg11(input_shape=(32, 32, 3), width=TINY_WIDTH).layers]
    assert vgg[1:4] == ["stage1_conv1", "stage1_pool", "stage2_conv1"]
    g = [l.name for l in cnnzoo.googlenet(width=TINY_WIDTH, input_shape=(32, 32, 3)).layers]
    assert "inception4_e" in g and "stem_conv3" in g
    weights = [w.path for w in cnnzoo.resnet20(width=TINY_WIDTH).weights]
    assert "stage2_block1/conv1/norm/gamma" in weights


def test_googlenet_aux_outputs_and_inference_model():
    model = cnnzoo.googlenet(aux_logits=True, width=TINY_WIDTH, input_shape=(64, 64, 3), classes=7)
    assert set(model.output) == {"main", "aux1", "aux2"}
    assert cnnzoo.AUX_LOSS_WEIGHT == 0.3
    infer = cnnzoo.without_aux(model)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(infer.predict(x, verbose=0), model.predict(x, verbose=0)["main"], rtol=1e-6)


def test_resnet_options_change_the_network():
    base = cnnzoo.resnet18(input_shape=(64, 64, 3), width=TINY_WIDTH, features_only=True)
    os8 = cnnzoo.resnet18(input_shape=(64, 64, 3), width=TINY_WIDTH, features_only=True, output_stride=8)
    assert base.output["stage4"].shape[1] == 2 and os8.output["stage4"].shape[1] == 8
    assert [f.reduction for f in os8.feature_info] == [4, 4, 8, 8, 8]
    cifar = cnnzoo.resnet18(stem="cifar", input_shape=(32, 32, 3), features_only=True, width=TINY_WIDTH)
    assert cifar.output["stage4"].shape[1] == 4
    pre = cnnzoo.resnet18(preact=True, width=TINY_WIDTH, input_shape=(32, 32, 3))
    assert "head_norm" in [l.name for l in pre.layers]
    dp = cnnzoo.resnet20(drop_path_rate=0.2)
    rates = [l.drop_path_rate for l in dp.layers if l.name.startswith("stage")]
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.2) and rates == sorted(rates)


def test_input_tensor_and_unknown_spatial_dims():
    inp = keras.Input((None, None, 3))
    model = cnnzoo.resnet18(input_tensor=inp, width=TINY_WIDTH, classes=4)
    assert model.output_shape == (None, 4)
    x = np.zeros((1, 40, 56, 3), "float32")
    assert model.predict(x, verbose=0).shape == (1, 4)
    with pytest.raises(ValueError, match="static spatial"):
        cnnzoo.vgg16(input_shape=(None, None, 3), width=TINY_WIDTH)
    assert cnnzoo.vgg16(input_shape=(None, None, 3), include_top=False, pooling="avg", width=TINY_WIDTH).output_shape == (None, 32)


@pytest.mark.parametrize("name,module", [("lenet5", lenet_module), ("alexnet", alexnet_module), ("vgg11", vgg_module)])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_minimum_input_size_is_exact(name, module, rank):
    channels = 1 if name == "lenet5" else 3
    ok = cnnzoo.get_model(name, input_shape=(module.MIN_SIZE,) * rank + (channels,), width=TINY_WIDTH)
    assert ok.output_shape[-1] > 0
    with pytest.raises(ValueError, match=f">= {module.MIN_SIZE}.*Received: input_shape"):
        cnnzoo.get_model(name, input_shape=(module.MIN_SIZE - 1,) * rank + (channels,), width=TINY_WIDTH)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_paper_lenet5_builds_trains_and_round_trips(rank, tmp_path):
    model = cnnzoo.lenet5(variant="paper", input_shape=(28,) * rank + (1,))
    x = np.random.default_rng(0).normal(size=(2,) + model.input_shape[1:]).astype("float32")
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(model(x, training=True)[:, 0])
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.any(g.numpy()) for g in grads)
    model.save(tmp_path / "p.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "p.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)


def test_weights_from_file_and_mismatch_error(tmp_path):
    model = cnnzoo.resnet20(width=0.25)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    for path in (tmp_path / "w.weights.h5", tmp_path / "m.keras"):
        if path.suffix == ".keras":
            model.save(path)
        else:
            model.save_weights(path)
        again = cnnzoo.resnet20(width=0.25, weights=str(path))
        np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))
        with pytest.raises(ValueError, match="does not fit.*layer 'stem_conv'"):
            cnnzoo.resnet20(width=0.5, weights=str(path))
    with pytest.raises(ValueError, match="layer 'stage2_block1'"):
        cnnzoo.resnet20(width=0.25, shortcut="B", weights=str(tmp_path / "m.keras"))
    with pytest.raises(FileNotFoundError, match="Received: weights"):
        cnnzoo.resnet20(weights=str(tmp_path / "nope.weights.h5"))


def test_registry():
    assert cnnzoo.list_models("resnet1*") == ["resnet101", "resnet110", "resnet152", "resnet18"]
    assert set(ALL_MODELS) >= {"lenet5", "alexnet", "googlenet", "vgg16_bn", "resnet20", "resnet152"}
    with pytest.raises(ValueError, match="Did you mean.*resnet18"):
        cnnzoo.get_model("resnet19")
    with pytest.raises(ValueError, match="already registered.*resnet18"):
        cnnzoo.register_model(lambda: None, name="resnet18")


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: cnnzoo.resnet18(stem="tiny"), ValueError, "stem.*Received: stem='tiny'"),
        (lambda: cnnzoo.resnet18(shortcut="C"), ValueError, "shortcut.*Received"),
        (lambda: cnnzoo.resnet50(output_stride=4), ValueError, "output_stride.*Received: output_stride=4"),
        (lambda: cnnzoo.resnet18(pooling="median"), ValueError, "pooling.*Received"),
        (lambda: cnnzoo.resnet18(classes=0), ValueError, "classes.*Received: classes=0"),
        (lambda: cnnzoo.resnet18(norm="instance"), ValueError, "norm.*Received"),
        (lambda: cnnzoo.resnet18(activation="relux"), ValueError, "activation.*Received"),
        (lambda: cnnzoo.resnet18(width=0), ValueError, "width.*Received: width=0"),
        (lambda: cnnzoo.resnet20(weights="imagenet"), ValueError, "no pretrained weights named .imagenet.*Received"),
        (lambda: cnnzoo.resnet18(weights=3), TypeError, "weights must be None, a weight set name.*Received: weights=3"),
        (lambda: cnnzoo.resnet18(input_shape=(32, 32, 32, 32, 3)), ValueError, "input_shape"),
        (lambda: cnnzoo.resnet18(bogus=1), TypeError, "bogus"),
        (lambda: cnnzoo.alexnet(variant="2014"), ValueError, "variant.*Received"),
        (lambda: cnnzoo.vgg16_bn(norm=None), ValueError, "vgg16_bn fixes norm='batch'.*Received: norm=None"),
        (lambda: cnnzoo.vgg16(norm="batch"), ValueError, "vgg16 fixes norm=None"),
        (lambda: cnnzoo.googlenet(aux_logits=True, include_top=False), ValueError, "aux_logits"),
        (lambda: cnnzoo.vgg16(input_shape=(16, 16, 3)), ValueError, ">= 32.*Received: input_shape=\\(16, 16, 3\\)"),
        (lambda: cnnzoo.lenet5(pool="median"), ValueError, "pool.*Received"),
        (lambda: cnnzoo.r3d_18(input_shape=(112, 112, 3)), ValueError, "video network.*Received: input_shape"),
        (lambda: cnnzoo.lenet5(variant="1989"), ValueError, "variant.*Received: variant='1989'"),
        (lambda: cnnzoo.lenet5(variant="paper", width=2), ValueError, "width must be 1"),
        (lambda: cnnzoo.lenet5(variant="paper", input_shape=(27, 27, 1)), ValueError, ">= 28"),
    ],
)
def test_bad_options_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
