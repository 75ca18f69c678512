"""Pretrained weights without torch: the .pth reader (and what it refuses), the catalog,
the download cache served from 127.0.0.1, the argument checks, preprocessing and labels.
The comparisons against torchvision itself are in test_torchvision.py."""

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import pickle
import re
import struct
import threading
import zipfile

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo.layers import ConvNormAct, InceptionModule, Pooling, conv_output_length
from cnnzoo.weights import (
    Preprocessing,
    UnsafeCheckpointError,
    WeightSet,
    catalog,
    get_weights,
    list_weights,
    pretrained,
    read_state_dict,
    register_weights,
    torchvision_twins,
    unregister_weights,
)

DATA = os.path.join(os.path.dirname(__file__), "data")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ---- the .pth reader ----

@pytest.mark.parametrize("name", ["state_zip.pth", "state_legacy.pth"])
def test_reads_both_pytorch_formats_without_torch(name):
    expected = np.load(os.path.join(DATA, "state_expected.npz"))
    state = read_state_dict(os.path.join(DATA, name))
    assert list(state) == list(expected.files)  # the file's order
    for key in expected.files:
        got = np.asarray(state[key], dtype=expected[key].dtype)
        assert got.shape == expected[key].shape, key
        np.testing.assert_array_equal(got, expected[key], err_msg=key)
    assert state["bf16"].dtype.name == "bfloat16" and state["half"].dtype == np.float16


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo cnnzoo-should-never-run-this > /dev/null",))


def _zip_checkpoint(path, payload):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        archive.writestr("archive/version", "3\n")


def _legacy_checkpoint(path, payload):
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        pickle.dump(payload, f, protocol=2)
        pickle.dump([], f, protocol=2)


@pytest.mark.parametrize("writer", [_zip_checkpoint, _legacy_checkpoint])
@pytest.mark.parametrize("payload", [_Evil(), {"weight": _Evil()}, {"x": functools.partial(print, 1)}])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, writer, payload):
    path = tmp_path / "evil.pth"
    writer(path, payload)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load .*: a weights file may hold only tensors in "
                                                    "dicts and lists \\(cnnzoo never runs code from a checkpoint\\)"):
        read_state_dict(path)


def test_reader_errors_name_the_file(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    for name in ("empty.pth", "text.pth"):
        with pytest.raises(ValueError, match=name):
            read_state_dict(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")
    _zip_checkpoint(tmp_path / "list.pth", [1, 2, 3])
    with pytest.raises(ValueError, match="no state dict"):
        read_state_dict(tmp_path / "list.pth")


def test_safetensors_and_dicts(tmp_path):
    from safetensors.numpy import save_file

    arrays = {"a.weight": np.arange(6, dtype="float32").reshape(2, 3), "b": np.ones(2, "int64")}
    save_file(arrays, str(tmp_path / "w.safetensors"))
    for source in (tmp_path / "w.safetensors", arrays):
        state = read_state_dict(source)
        assert set(state) == set(arrays)
        np.testing.assert_array_equal(state["a.weight"], arrays["a.weight"])


# ---- the converter against torchvision's recorded function (torch-free) ----

RECORDED = os.path.join(DATA, "torchvision_recorded.json")


@pytest.mark.parametrize("name", ["resnet18", "alexnet", "googlenet"])
def test_converted_twins_compute_torchvisions_recorded_logits(name):
    """scripts/make_torchvision_recorded.py recorded torchvision's logits for seeded weights; converted by name (conv
    and dense layouts, BatchNorm's names, AlexNet's flattened rows reordered, GoogLeNet's conv/bn names), cnnzoo's
    twin computes them without torch. The full oracle against torchvision itself, every twin, is
    tests/test_torchvision.py."""
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import load_torchvision_state

    with open(RECORDED) as f:
        case = json.load(f)[name]
    state = synthetic_torchvision_state(case["state"], case["weights_seed"])
    shape = tuple(case["input_shape"])
    model = cnnzoo.get_model(name, input_shape=shape, classifier_activation=None)
    # GoogLeNet's auxiliary heads are skipped by a model built without them (its default, as torchvision's eval)
    aux = [k for k, _, _ in case["state"] if k.startswith(("aux1.", "aux2.")) and "num_batches" not in k]
    assert load_torchvision_state(name, model, state) == aux and (name != "googlenet" or len(aux) == 18)
    x = np.random.default_rng(case["input_seed"]).standard_normal((1,) + shape).astype("float32")
    logits, expected = np.asarray(model(x, training=False))[0], np.asarray(case["logits"], "float32")
    assert np.abs(logits - expected).max() / np.abs(expected).max() < 1e-5


def test_from_torchvision_takes_a_name_or_a_built_twin_and_refuses_the_rest_by_name():
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import from_torchvision

    with open(RECORDED) as f:
        case = json.load(f)["resnet18"]
    state = synthetic_torchvision_state(case["state"], case["weights_seed"])
    x = np.random.default_rng(case["input_seed"]).standard_normal((1, 64, 64, 3)).astype("float32")
    expected = np.asarray(case["logits"], "float32")
    by_name = from_torchvision("resnet18", state, input_shape=(64, 64, 3), classifier_activation=None)
    built = from_torchvision(cnnzoo.resnet18(input_shape=(64, 64, 3), classifier_activation=None), state)
    for model in (by_name, built):
        assert np.abs(np.asarray(model(x))[0] - expected).max() / np.abs(expected).max() < 1e-5
    with pytest.raises(ValueError, match=re.escape("from_torchvision loads the weights itself. Received: "
                                                   "weights='imagenet'")):
        from_torchvision("resnet18", state, weights="imagenet")
    with pytest.raises(ValueError, match=re.escape("builder arguments need a model name, not a built model. "
                                                   "Received: ['classes']")):
        from_torchvision(by_name, state, classes=3)
    with pytest.raises(ValueError, match="model 'lenet5' is not named after a torchvision twin; pass the registered "
                                         "name \\(alexnet, googlenet, .*, wide_resnet50_2\\) instead"):
        from_torchvision(cnnzoo.lenet5(), state)
    with pytest.raises(ValueError, match="'lenet5' has no torchvision twin; these do: alexnet, googlenet, .*, "
                                         "wide_resnet50_2. Received: name='lenet5'"):
        from_torchvision("lenet5", state)
    with pytest.raises(TypeError, match="name_or_model must be a model name or a keras.Model. Received: dict"):
        from_torchvision({}, state)


def test_a_state_dict_that_fits_is_refused_whole_when_any_tensor_does_not():
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import load_torchvision_state

    with open(RECORDED) as f:
        case = json.load(f)["resnet18"]
    state = synthetic_torchvision_state(case["state"], 0)
    model = cnnzoo.resnet18(input_shape=(64, 64, 3), classes=10)  # another number of classes: a new head
    skipped = load_torchvision_state("resnet18", model, state)
    assert skipped == ["fc.weight", "fc.bias"]
    variables = {v.path: np.asarray(v) for v in model.weights}
    np.testing.assert_array_equal(variables["stage1_block1/conv1/conv/kernel"],
                                  np.transpose(state["layer1.0.conv1.weight"], (2, 3, 1, 0)))  # (O, I, k, k) -> Keras
    np.testing.assert_array_equal(variables["stage1_block1/conv1/norm/moving_variance"], state["layer1.0.bn1.running_var"])
    headless = cnnzoo.resnet18(input_shape=(64, 64, 3), include_top=False)
    assert load_torchvision_state("resnet18", headless, state) == ["fc.weight", "fc.bias"]
    broken = {k: v for k, v in state.items() if not k.startswith("layer4.")}  # 25 variables, and one below
    broken["extra.weight"] = np.zeros(3, "float32")
    broken["layer1.0.bn1.running_mean"] = np.zeros(5, "float32")
    broken["layer2.0.downsample.1.scale"] = np.zeros(128, "float32")
    before = [np.asarray(v).copy() for v in model.weights]
    with pytest.raises(ValueError) as e:
        load_torchvision_state("resnet18", model, broken)
    text = str(e.value)
    assert text.startswith("The state dict does not fit cnnzoo's resnet18 (resnet18); nothing was loaded. ")
    assert "2 torchvision tensors no cnnzoo layer takes: extra.weight, layer2.0.downsample.1.scale; 1 shapes" in text
    assert "1 shapes that differ: layer1.0.bn1.running_mean (5,) -> stage1_block1/conv1/norm/moving_mean (64,)" in text
    assert ("; 26 cnnzoo variables the state dict does not set: stage1_block1/conv1/norm/moving_mean, "
            "stage4_block1/shortcut/conv/kernel, ") in text
    assert text.endswith(", ... (14 more)")  # twelve shown, the rest counted
    assert text.rpartition("does not set: ")[2].count(", ") == 12
    assert all(np.array_equal(np.asarray(v), b) for v, b in zip(model.weights, before))  # never a partial load


def test_a_rule_may_name_a_whole_tensor_checked_for_its_shape_like_any_other():
    """SSD's learnt L2 scale (``backbone.scale_weight``) is a tensor of no module: its family's rule names the
    cnnzoo variable itself."""
    import keras

    from cnnzoo.detection.layers import L2Normalization
    from cnnzoo.weights.torchvision import torchvision_assignments

    inputs = keras.Input((2, 2, 8))
    model = keras.Model(inputs, L2Normalization(20.0, name="stage4_l2norm")(inputs))
    scale = np.arange(8, dtype="float32")
    assignments, skipped = torchvision_assignments("ssd300_vgg16", model, {"backbone.scale_weight": scale})
    assert list(assignments) == ["stage4_l2norm/scale"] and skipped == []
    np.testing.assert_array_equal(assignments["stage4_l2norm/scale"], scale)
    with pytest.raises(ValueError, match=r"nothing was loaded\. 1 torchvision tensors no cnnzoo layer takes: "
                                         r"other\.weight; 1 shapes that differ: backbone\.scale_weight \(4,\) "
                                         r"-> stage4_l2norm/scale \(8,\); 1 cnnzoo variables the state dict does "
                                         r"not set: stage4_l2norm/scale$"):  # and the tensor after it is read too
        torchvision_assignments("ssd300_vgg16", model, {"backbone.scale_weight": scale[:4], "other.weight": scale})
    with pytest.raises(ValueError, match=r"nothing was loaded\. 1 torchvision tensors no cnnzoo layer takes: "
                                         r"other\.weight$"):
        torchvision_assignments("ssd300_vgg16", model, {"backbone.scale_weight": scale, "other.weight": scale})


def test_a_tensor_for_a_variable_the_layer_lacks_and_a_head_of_other_classes_are_told_apart():
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import torchvision_assignments

    with open(RECORDED) as f:
        recorded = json.load(f)
    state = synthetic_torchvision_state(recorded["resnet18"]["state"], 0)
    model = cnnzoo.resnet18(input_shape=(64, 64, 3))
    extra = {"conv1.bias": np.zeros(64, "float32"),  # a bias for a convolution built without one
             "layer5.0.conv1.weight": np.zeros((8, 8, 3, 3), "float32")}  # a stage the model does not have
    with pytest.raises(ValueError) as e:
        torchvision_assignments("resnet18", model, {**state, **extra})
    assert str(e.value).endswith("nothing was loaded. 2 torchvision tensors whose cnnzoo variable does not exist: "
                                 "conv1.bias -> stem_conv/conv/bias, layer5.0.conv1.weight -> "
                                 "stage5_block1/conv1/conv/kernel")
    # AlexNet's classifier for 10 classes: its last dense layer keeps its init, the rest of the head is converted
    state = synthetic_torchvision_state(recorded["alexnet"]["state"], 1)
    model = cnnzoo.alexnet(input_shape=(97, 97, 3), classes=10)
    assignments, skipped = torchvision_assignments("alexnet", model, state)
    assert skipped == ["classifier.6.weight", "classifier.6.bias"]
    assert len(assignments) == len(model.weights) - 2


def test_every_tensor_is_read_and_each_problem_told_once_however_the_state_dict_is_broken():
    """A broken state dict's error names every problem in it, whatever comes first: a key of no parameter, a
    parameter no layer has, one tensor twice under two spellings; the first twelve of a kind are shown, the rest
    counted."""
    from helpers import synthetic_torchvision_state

    from cnnzoo.weights.torchvision import torchvision_assignments

    with open(RECORDED) as f:
        state = synthetic_torchvision_state(json.load(f)["resnet18"]["state"], 0)
    model = cnnzoo.resnet18(input_shape=(64, 64, 3))
    kernel = state["layer1.0.conv1.weight"]
    broken = {"fc": np.zeros(3, "float32"),  # a rule's module name as a whole key: no parameter part
              "conv1.weight_orig": np.zeros(3, "float32"),  # weight normalisation's parameter: no Keras variable
              "layer1.0.conv1.weight": kernel, "layer1.00.conv1.weight": kernel}  # the same layer spelled twice
    broken.update((k, v) for k, v in state.items() if k not in broken)
    with pytest.raises(ValueError) as e:
        torchvision_assignments("resnet18", model, broken)
    assert str(e.value).endswith("nothing was loaded. 2 torchvision tensors no cnnzoo layer takes: fc, "
                                 "conv1.weight_orig; 1 shapes that differ: layer1.00.conv1.weight -> "
                                 "stage1_block1/conv1/conv/kernel: set twice")  # and nothing after them left unread
    for extras, shown in ((12, "extra11.weight"), (13, "extra11.weight, ... (1 more)")):
        unmapped = {f"extra{i}.weight": kernel for i in range(extras)}
        with pytest.raises(ValueError) as e:
            torchvision_assignments("resnet18", model, {**unmapped, **state})
        assert str(e.value).endswith(f"{extras} torchvision tensors no cnnzoo layer takes: extra0.weight, "
                                     + ", ".join(f"extra{i}.weight" for i in range(1, 11)) + f", {shown}")


# ---- the catalog ----

def test_every_torchvision_twin_has_its_published_weights():
    assert set(torchvision_twins()) == {
        "alexnet", "googlenet", "r3d_18", "mc3_18", "r2plus1d_18",
        *(f"resnet{d}" for d in (18, 34, 50, 101, 152)), *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
        "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
        "ssd300_vgg16",
    }
    for name in torchvision_twins():
        if name == "ssd300_vgg16":  # the detector: COCO's 91 labels and box mAP (test_detection.py)
            continue
        video = name in ("r3d_18", "mc3_18", "r2plus1d_18")
        ws = get_weights(name, "kinetics400" if video else "imagenet")
        assert ws.model == name and ws.format == "torchvision"
        assert ws.url.startswith("https://download.pytorch.org/models/") and ws.url.endswith(".pth")
        assert ws.file_name.split("-")[-1].startswith(ws.sha256) and len(ws.sha256) >= 8
        assert ws.num_classes == len(ws.categories) == (400 if video else 1000)
        assert 50 < ws.top1 < 90 and ws.source.startswith("torchvision ")
        assert ws.preprocessing.kind == ("video" if video else "image")
        assert ws.default
    assert get_weights("resnet50", "imagenet").tag == "imagenet1k_v2"  # torchvision's DEFAULT
    assert get_weights("resnet50", "IMAGENET1K_V1").preprocessing.resize == (256,)
    assert get_weights("resnet50", "imagenet1k_v2").preprocessing.resize == (232,)
    assert get_weights("googlenet", "imagenet").preprocessing.mean == (0.5, 0.5, 0.5)  # transform_input folded in
    assert len(list_weights()) == 31 and catalog.categories("imagenet")[0] == "tench"


@pytest.mark.parametrize("name, weights, match", [
    ("resnet20", "imagenet", "resnet20 has no pretrained weights named 'imagenet'.*it has: none"),
    ("resnet18", "kinetics400", "it has: imagenet, imagenet1k_v1"),
    ("r3d_18", "imagenet1k_v9", "it has: kinetics400"),
])
def test_unknown_weight_names_say_what_exists(name, weights, match):
    with pytest.raises(ValueError, match=match):
        cnnzoo.get_model(name, weights=weights)


@pytest.mark.parametrize("kwargs, bad", [
    ({"stride_in_1x1": True}, "stride_in_1x1"),
    ({"width": 0.5}, "width"),
    ({"preact": True}, "preact"),
    ({"stem": "cifar"}, "stem"),
    ({"activation": "gelu"}, "activation"),
])
def test_pretrained_weights_refuse_options_that_change_the_network(kwargs, bad):
    with pytest.raises(ValueError, match=f"would change that network.*Received: {bad}="):
        cnnzoo.resnet18(weights="imagenet", **kwargs)


def test_weight_names_are_names_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    (tmp_path / "imagenet").mkdir()
    monkeypatch.chdir(tmp_path)
    assert catalog.is_weight_name("imagenet") and catalog.is_weight_name("imagenet1k_v2")
    assert not catalog.is_weight_name("imagenet/model.keras") and not catalog.is_weight_name("w.weights.h5")
    with pytest.raises(ValueError, match="resnet20 has no pretrained weights named 'imagenet'"):
        cnnzoo.resnet20(weights="imagenet")


def test_pretrained_weights_refuse_other_inputs_and_variants():
    with pytest.raises(ValueError, match="inception_5x5"):
        cnnzoo.googlenet(weights="imagenet", inception_5x5=True)
    with pytest.raises(ValueError, match="variant"):
        cnnzoo.alexnet(weights="imagenet", variant="paper")
    with pytest.raises(ValueError, match="norm"):
        cnnzoo.vgg16_bn(weights="imagenet", norm=None)


# ---- downloading and the cache, offline: a server on 127.0.0.1 ----

@pytest.fixture
def weight_server(tmp_path, monkeypatch):
    """Serves tmp_path/served over HTTP on 127.0.0.1; KERAS_HOME points into tmp_path."""
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("CNNZOO_WEIGHTS_URL", raising=False)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state = {"served": served, "url": f"http://127.0.0.1:{server.server_address[1]}", "server": server}
    yield state
    server.shutdown()
    server.server_close()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def resnet20_weight_set(weight_server):
    """A cnnzoo-format (.weights.h5) weight set for resnet20, published on the local server."""
    source = cnnzoo.resnet20()
    for v in source.weights:
        rng = np.random.default_rng(len(v.path))
        value = rng.uniform(0.5, 1.5, v.shape) if v.path.endswith("moving_variance") else rng.normal(size=v.shape) * 0.1
        v.assign(value.astype("float32"))
    path = weight_server["served"] / "resnet20-test.weights.h5"
    source.save_weights(path)
    ws = WeightSet(model="resnet20", tag="test_cifar", url=f"{weight_server['url']}/{path.name}", sha256=_sha(path),
                   format="keras", dataset="cifar10", num_classes=10, class_names=CIFAR10,
                   preprocessing=Preprocessing("image", (36,), (32, 32), (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)))
    register_weights(ws)
    yield ws, source, path
    unregister_weights("resnet20", "test_cifar")


def test_download_checks_the_hash_and_caches_for_offline_use(weight_server, resnet20_weight_set, capsys):
    ws, source, path = resnet20_weight_set
    model = cnnzoo.resnet20(weights="test_cifar")
    assert "downloading" in capsys.readouterr().out
    for a, b in zip(model.weights, source.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert model.pretrained is ws
    cached = os.path.join(pretrained.cache_dir(), path.name)
    assert os.path.exists(cached) and str(pretrained.cache_dir()).startswith(os.environ["KERAS_HOME"])
    # Offline from now on: the server is gone and the cache serves.
    weight_server["server"].shutdown()
    path.unlink()
    again = cnnzoo.resnet20(weights="test_cifar", include_top=False, pooling="avg", input_shape=(40, 40, 3))
    assert "downloading" not in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(again.get_layer("stem_conv").weights[0]),
                                  np.asarray(source.get_layer("stem_conv").weights[0]))
    assert "predictions" not in [layer.name for layer in again.layers]


def test_a_wrong_checksum_is_refused_and_the_file_removed(weight_server, resnet20_weight_set):
    ws, _, path = resnet20_weight_set
    unregister_weights("resnet20", "test_cifar")
    register_weights(dataclasses.replace(ws, sha256="0" * 64))
    with pytest.raises(ValueError, match="SHA-256 .* publishes 0000.*deleted"):
        cnnzoo.resnet20(weights="test_cifar")
    assert not os.path.exists(os.path.join(pretrained.cache_dir(), path.name))


def test_an_unreachable_server_says_what_to_do(weight_server, resnet20_weight_set, monkeypatch):
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", "http://127.0.0.1:9/nothing-listens-here")
    with pytest.raises(OSError, match="Could not download.*CNNZOO_WEIGHTS_URL"):
        cnnzoo.resnet20(weights="test_cifar")
    assert not [f for f in os.listdir(pretrained.cache_dir()) if f.endswith(".part")]


def test_other_classes_keep_the_body_and_start_a_new_head(weight_server, resnet20_weight_set):
    _, source, _ = resnet20_weight_set
    model = cnnzoo.resnet20(weights="test_cifar", classes=3)
    assert model.get_layer("predictions").units == 3
    np.testing.assert_array_equal(np.asarray(model.get_layer("stage3_block3").weights[0]),
                                  np.asarray(source.get_layer("stage3_block3").weights[0]))


def test_pretrained_needs_rgb_inputs_of_the_right_rank(weight_server, resnet20_weight_set):
    with pytest.raises(ValueError, match=r"take \(H, W, 3\) RGB inputs.*Received: input_shape=\(32, 32, 1\)"):
        cnnzoo.resnet20(weights="test_cifar", input_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="RGB inputs"):
        cnnzoo.resnet20(weights="test_cifar", input_shape=(8, 32, 32, 3))


# ---- preprocessing and labels ----

def test_preprocess_input_resizes_the_shorter_side_crops_and_normalizes():
    image = np.full((300, 400, 3), 255, "uint8")
    out = cnnzoo.preprocess_input(image)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
                               rtol=1e-5)
    batch = cnnzoo.preprocess_input([image, np.zeros((500, 260, 3), "uint8")])
    assert batch.shape == (2, 224, 224, 3)
    np.testing.assert_allclose(cnnzoo.preprocess_input(np.ones((2, 256, 256, 3), "float32"), scale=1.0),
                               batch[:1].repeat(2, 0), rtol=1e-6)
    gnet = cnnzoo.preprocess_input(image, model="googlenet")
    np.testing.assert_allclose(gnet, 1.0, rtol=1e-6)  # (1 - 0.5) / 0.5
    clip = cnnzoo.preprocess_input(np.zeros((16, 240, 320, 3), "uint8"), weights="kinetics400")
    assert clip.shape == (16, 112, 112, 3)
    np.testing.assert_allclose(clip[0, 0, 0], -np.array([0.43216, 0.394666, 0.37645]) / np.array([0.22803, 0.22145, 0.216989]), rtol=1e-5)


def test_preprocess_input_centre_crop_is_central():
    image = np.zeros((256, 300, 3), "uint8")
    image[128 - 112:128 + 112, 150 - 112:150 + 112] = 255  # the 224 square in the middle
    out = cnnzoo.preprocess_input(image, scale=255.0)
    assert np.all(out[..., 0] > 0)  # every pixel of the crop came from the bright square


@pytest.mark.parametrize("call, match", [
    (lambda: cnnzoo.preprocess_input(np.zeros((10, 10))), r"x must be \(H, W, 3\).*Received: shape=\(10, 10\)"),
    (lambda: cnnzoo.preprocess_input(np.zeros((10, 10, 4))), "3 channels"),
    (lambda: cnnzoo.preprocess_input(np.zeros((224, 224, 3)), weights="cifar"), "weights must be 'imagenet'"),
    (lambda: cnnzoo.preprocess_input(np.zeros((224, 224, 3)), model=cnnzoo.lenet5()), "not built with pretrained"),
    (lambda: cnnzoo.decode_predictions(np.zeros((2, 10))), r"\(N, 1000\)"),
    (lambda: cnnzoo.decode_predictions(np.zeros((1, 1000)), top=0), "top must be"),
])
def test_preprocessing_errors_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_decode_predictions_uses_the_weight_sets_class_names():
    preds = np.zeros((2, 1000), "float32")
    preds[0, 1], preds[0, 281], preds[1, 999] = 0.2, 0.7, 1.0
    top = cnnzoo.decode_predictions(preds, top=2)
    assert top[0] == [(281, "tabby", pytest.approx(0.7)), (1, "goldfish", pytest.approx(0.2))]
    assert top[1][0][:2] == (999, "toilet tissue")
    video = cnnzoo.decode_predictions(np.eye(400)[[5]], weights="kinetics400", top=1)
    assert video == [[(5, catalog.categories("kinetics400")[5], 1.0)]]


# ---- what GoogLeNet needed to be exact: a per-model norm epsilon, ceil-mode pooling ----

def test_norm_epsilon_and_momentum_reach_the_layer_and_survive_saving(tmp_path):
    block = ConvNormAct(4, 3, norm_epsilon=1e-3, norm_momentum=0.99)
    model = keras.Sequential([keras.Input((8, 8, 2)), block])
    assert block.norm_layer.epsilon == 1e-3 and block.norm_layer.momentum == 0.99
    inception = InceptionModule(2, 2, 2, 2, 2, 2, norm_epsilon=2e-3)
    inception.build((None, 8, 8, 4))
    assert inception.branch3.norm_layer.epsilon == 2e-3
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[-1].norm_layer.epsilon == 1e-3 and loaded.layers[-1].norm_layer.momentum == 0.99
    with pytest.raises(ValueError, match="norm_epsilon must be a number in \\(0, 1\\).*Received: norm_epsilon=0"):
        ConvNormAct(4, 3, norm_epsilon=0)


def test_googlenet_norms_keep_torchvisions_epsilon_through_a_keras_file(tmp_path):
    model = cnnzoo.googlenet(width=0.125, input_shape=(33, 33, 3), classes=5)
    path = tmp_path / "g.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    norms = [l for l in loaded._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    assert norms and {n.epsilon for n in norms} == {1e-3}
    x = np.random.default_rng(0).normal(size=(1, 33, 33, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("n, k, s, p", [(7, 3, 2, 0), (8, 3, 2, 0), (5, 2, 2, 0), (9, 3, 2, 1), (6, 4, 3, 1), (2, 3, 2, 0)])
def test_ceil_mode_pooling_shapes_follow_the_closed_form(rank, n, k, s, p):
    x = keras.Input((n,) * rank + (2,))
    for mode in ("max", "avg"):
        y = Pooling(mode, k, s, padding=p, ceil_mode=True)(x)
        expected = conv_output_length(n, k, s, (p, p), ceil_mode=True)
        assert tuple(y.shape[1:-1]) == (expected,) * rank
        assert expected == -(-(n + 2 * p - k) // s) + 1 - ((-(-(n + 2 * p - k) // s)) * s >= n + p)


def test_ceil_mode_pooling_values_by_hand():
    x = np.array([1, 5, 2, 7, 3], "float32").reshape(1, 5, 1)
    assert np.asarray(Pooling("max", 2, 2, ceil_mode=True)(x)).ravel().tolist() == [5, 7, 3]
    assert np.asarray(Pooling("avg", 2, 2, ceil_mode=True)(x)).ravel().tolist() == [3, 4.5, 3]  # last window: 1 value
    assert np.asarray(Pooling("max", 2, 2)(x)).ravel().tolist() == [5, 7]
    with pytest.raises(ValueError, match="ceil_mode=True needs padding='valid'"):
        Pooling("max", 3, 2, padding="same", ceil_mode=True)
    with pytest.raises(ValueError, match="leaves no output"):
        Pooling("max", 3, 2, ceil_mode=True)(keras.Input((1, 1, 2)))


def test_googlenet_pools_round_up_at_odd_sizes():
    model = cnnzoo.googlenet(width=0.125, input_shape=(97, 97, 3), features_only=True)
    shapes = {k: tuple(v.shape[1:3]) for k, v in model.output.items()}
    # torchvision: 97 -> conv 49 -> pool 24 (ceil((49-3)/2)+1) -> pool 12 -> pool 6 -> pool 3
    assert shapes == {"stem": (12, 12), "inception3": (12, 12), "inception4": (6, 6), "inception5": (3, 3)}
    with pytest.raises(ValueError, match=">= 15"):
        cnnzoo.googlenet(input_shape=(14, 14, 3))


def _image_folder(root, classes=("a", "b"), per_class=4, size=(40, 48)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, size=size + (3,), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_finetune_and_predict_start_from_a_weight_set(weight_server, resnet20_weight_set, tmp_path, capsys):
    from cnnzoo import cli

    ws, source, _ = resnet20_weight_set
    folder = _image_folder(tmp_path / "images")
    out = tmp_path / "ft"
    assert cli.main(["finetune", "--model", "resnet20", "--weights", "cifar10", "--data-dir", str(folder),
                     "--val-split", "0.5", "--epochs-head", "1", "--epochs-finetune", "0", "--batch-size", "4",
                     "--out", str(out), "--verbose", "0"]) == 0
    settings = json.loads((out / "preprocessing.json").read_text())
    assert settings["mean"] == list(ws.preprocessing.mean) and settings["std"] == list(ws.preprocessing.std)
    saved = keras.saving.load_model(out / "model.keras")
    # The head phase trains only the new classifier: the body is the weight set's.
    np.testing.assert_array_equal(np.asarray(saved.get_layer("stage2_block1").weights[0]),
                                  np.asarray(source.get_layer("stage2_block1").weights[0]))
    capsys.readouterr()
    image = str(next((folder / "a").iterdir()))
    assert cli.main(["predict", str(out / "model.keras"), image, "--top-k", "1"]) == 0
    assert cli.main(["predict", "resnet20", image, "--weights", "test_cifar", "--top-k", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("%") == 4 and any(name in printed for name in CIFAR10)
    assert cli.main(["predict", "lenet5", image]) == 2
    assert "no pretrained weights" in capsys.readouterr().err


# ---- the .pth reader's checks at their full strength, on hand-written pickles (docs/mutation.md) ----

def _op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _op(value):
    """A plain value's pickle opcodes (protocol 2, without its header and STOP)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _op_tensor(key, numel, offset, size, stride, persistent=None):
    pid = persistent if persistent is not None else (
        b"(" + _op("storage") + _op_global("torch", "FloatStorage") + _op(key) + _op("cpu") + _op(numel) + b"t")
    return (_op_global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q" + _op(offset) + _op(tuple(size))
            + _op(tuple(stride)) + b"tR")


def _hand_checkpoint(path, tensors, storages, byteorder=None, wrap=None, extra=None):
    """A zip checkpoint of ``{name: tensor opcodes}`` and float32 ``storages`` ({key: values}); ``wrap`` nests the
    state dict under that key (as training checkpoints do), ``extra`` adds plain entries beside the tensors."""
    entries = b"".join(_op(name) + ops for name, ops in tensors.items())
    entries += b"".join(_op(name) + _op(value) for name, value in (extra or {}).items())
    body = b"}(" + entries + b"u"
    if wrap is not None:
        body = b"}(" + _op(wrap) + body + _op("epoch") + _op(3) + b"u"
    body = b"\x80\x02" + body + b"."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", body)
        for key, values in storages.items():
            archive.writestr(f"archive/data/{key}", np.asarray(values, ">f4" if byteorder == "big" else "<f4").tobytes())
        if byteorder:
            archive.writestr("archive/byteorder", byteorder)
    return path


@pytest.mark.parametrize("byteorder", [None, "little", "big"])
def test_hand_written_tensors_read_exactly_what_their_strides_say(tmp_path, byteorder):
    storage = np.arange(7, dtype="float32") + 0.5
    path = _hand_checkpoint(tmp_path / "t.pth", {
        "fits": _op_tensor("0", 7, 1, (2, 3), (3, 1)),  # offset 1: elements 1..6, the last one exactly
        "transposed": _op_tensor("0", 7, 0, (3, 2), (1, 3)),
        "row": _op_tensor("0", 7, 2, (1, 3), (3, 1)),  # a size-1 axis holds data too
        "empty": _op_tensor("0", 7, 0, (0, 3), (3, 1)),
    }, {"0": storage}, byteorder)
    state = read_state_dict(path)
    np.testing.assert_array_equal(state["fits"], storage[1:7].reshape(2, 3))
    np.testing.assert_array_equal(state["transposed"], storage[:6].reshape(2, 3).T)
    np.testing.assert_array_equal(state["row"], storage[2:5][None])
    assert state["empty"].shape == (0, 3) and state["empty"].dtype == np.float32


@pytest.mark.parametrize("offset,size,stride", [(2, (2, 3), (3, 1)), (0, (3, 3), (3, 1)), (0, (2, 4), (4, 1)),
                                                (0, (3, 2), (3, 2))])
def test_a_tensor_one_element_past_its_storage_is_refused(tmp_path, offset, size, stride):
    path = _hand_checkpoint(tmp_path / "t.pth", {"w": _op_tensor("0", 7, offset, size, stride)},
                            {"0": np.zeros(7)})
    with pytest.raises(ValueError, match=r"tensor of shape .* runs past the end of storage '0'"):
        read_state_dict(path)


@pytest.mark.parametrize("pid,match", [
    (b"(t", "unexpected persistent id in the checkpoint: \\(\\)"),
    (b"(" + pickle.dumps("other", protocol=2)[2:-1] + b"t", "unexpected persistent id"),
    (b"(" + pickle.dumps("storage", protocol=2)[2:-1] + b"c" + b"torch\nsave\n" + b"t", "refusing to load torch.save"),
])
def test_only_storages_and_torch_storage_types_are_resolved(tmp_path, pid, match):
    path = _hand_checkpoint(tmp_path / "t.pth", {"w": _op_tensor("0", 1, 0, (1,), (1,), persistent=pid)}, {})
    with pytest.raises(UnsafeCheckpointError, match=match):
        read_state_dict(path)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "model_state_dict"])
def test_a_training_checkpoint_gives_the_state_dict_it_nests(tmp_path, wrap):
    path = _hand_checkpoint(tmp_path / "t.pth", {"w": _op_tensor("0", 2, 0, (2,), (1,))}, {"0": [1.5, 2.5]},
                            wrap=wrap)
    state = read_state_dict(path)
    assert list(state) == ["w"] and state["w"].tolist() == [1.5, 2.5]


def test_a_mapping_with_entries_that_are_not_tensors_is_no_state_dict(tmp_path):
    path = _hand_checkpoint(tmp_path / "t.pth", {"w": _op_tensor("0", 2, 0, (2,), (1,))}, {"0": [1.5, 2.5]},
                            extra={"note": "not a tensor"})
    with pytest.raises(ValueError, match="t.pth.*holds no state dict"):
        read_state_dict(path)



def _op_storage_pid(key, numel, storage_type=None, view=None):
    kind = storage_type if storage_type is not None else _op_global("torch", "FloatStorage")
    return (b"(" + _op("storage") + kind + _op(key) + _op("cpu") + _op(numel)
            + (b"" if view is None else _op(view)) + b"t")


def _hand_legacy(path, tensors, storages, sys_info=None, big=False, keys=None, magic=0x1950A86A20F9469CFC6C,
                 protocol=1001, header=None, truncate=0):
    """A legacy-format checkpoint: three header pickles, the state dict of ``{name: tensor opcodes}``, the list of
    storage keys, then each float32 storage as its element count and bytes, in the byte order the header says."""
    info = {"little_endian": not big} if sys_info is None else sys_info
    entries = b"".join(_op(name) + ops for name, ops in tensors.items())
    with open(path, "wb") as f:
        if header is not None:
            f.write(header)
        else:
            for value in (magic, protocol, info):
                pickle.dump(value, f, protocol=2)
        f.write(b"\x80\x02}(" + entries + b"u.")
        f.write(keys if isinstance(keys, bytes) else pickle.dumps(list(storages if keys is None else keys), protocol=2))
        for key, values in storages.items():
            data = np.asarray(values, ">f4" if big else "<f4").tobytes()
            f.write(struct.pack(">q" if big else "<q", len(values)) + data[:len(data) - truncate])
    return path


@pytest.mark.parametrize("sys_info, big", [(None, False), (None, True), ({}, False), ("not a dict", False),
                                           ({"little_endian": True, "type_sizes": {}}, False)])
def test_legacy_files_are_read_in_the_byte_order_their_header_says(tmp_path, sys_info, big):
    storage = np.arange(6, dtype="float32") - 2.25
    path = _hand_legacy(tmp_path / "t.pth", {"w": _op_tensor("0", 6, 0, (2, 3), (3, 1)),
                                             "b": _op_tensor("1", 2, 1, (1,), (1,))},
                        {"0": storage, "1": [7.5, -1.0]}, sys_info=sys_info, big=big)
    state = read_state_dict(path)
    assert list(state) == ["w", "b"]
    np.testing.assert_array_equal(state["w"], storage.reshape(2, 3))
    assert state["b"].tolist() == [-1.0] and state["w"].dtype == np.float32


def _legacy_header_naming_a_storage():
    return b"\x80\x02" + _op_storage_pid("0", 1) + b"Q."


@pytest.mark.parametrize("case, match", [
    (dict(magic=12345), "t.pth' is not a PyTorch checkpoint \\(no zip archive, no legacy magic number\\)"),
    (dict(protocol=1002), "t.pth': unsupported legacy checkpoint protocol 1002"),
    (dict(keys=["0", "9"]), "t.pth' lists storage '9' that no tensor uses"),
    (dict(keys=[]), "the checkpoint names storage '0' but holds no data for it"),
    (dict(truncate=1), "t.pth' is truncated: storage '0' is incomplete"),
    (dict(header=_legacy_header_naming_a_storage()), "t.pth' is not a PyTorch checkpoint"),
    (dict(keys=b"\x80\x02]" + _op_storage_pid("0", 2) + b"Qa."), "t.pth' lists storage <"),
    (dict(tensors={"w": _op_tensor("0", 2, 0, (2,), (1,), persistent=_op_storage_pid("0", 2, view=("v", 0)))}),
     "t.pth' uses storage views \\(PyTorch < 0.4\\): re-save it with a current PyTorch"),
])
def test_a_malformed_legacy_file_is_refused_by_name_and_reason(tmp_path, case, match):
    case = dict(case)
    tensors = case.pop("tensors", {"w": _op_tensor("0", 2, 0, (2,), (1,))})
    path = _hand_legacy(tmp_path / "t.pth", tensors, {"0": [1.0, 2.0]}, **case)
    with pytest.raises(ValueError, match=match):
        read_state_dict(path)


@pytest.mark.parametrize("writer", ["zip", "legacy"])
def test_a_storage_of_no_torch_type_is_refused(tmp_path, writer):
    ops = _op_tensor("0", 2, 0, (2,), (1,), persistent=_op_storage_pid("0", 2, storage_type=_op("FloatStorage")))
    path = tmp_path / "t.pth"
    if writer == "zip":
        _hand_checkpoint(path, {"w": ops}, {"0": [1.0, 2.0]})
    else:
        _hand_legacy(path, {"w": ops}, {"0": [1.0, 2.0]})
    with pytest.raises(UnsafeCheckpointError, match="unexpected storage type 'FloatStorage'"):
        read_state_dict(path)


def test_a_tensor_not_backed_by_a_storage_is_refused(tmp_path):
    ops = (_op_global("torch._utils", "_rebuild_tensor_v2") + b"(" + _op(5) + _op(0) + _op((1,)) + _op((1,)) + b"tR")
    path = _hand_checkpoint(tmp_path / "t.pth", {"w": ops}, {})
    with pytest.raises(UnsafeCheckpointError, match="a tensor in the checkpoint is not backed by a storage"):
        read_state_dict(path)


def test_zip_archives_are_read_by_their_data_pkl_wherever_it_lies_and_refused_without_one(tmp_path):
    body = b"\x80\x02}(" + _op("w") + _op_tensor("0", 2, 0, (2,), (1,)) + b"u."
    with zipfile.ZipFile(tmp_path / "flat.pth", "w") as archive:  # no folder, and other entries first
        archive.writestr("version", "3\n")
        archive.writestr("data/0", np.asarray([1.5, 2.5], "<f4").tobytes())
        archive.writestr("data.pkl", body)
    assert read_state_dict(tmp_path / "flat.pth")["w"].tolist() == [1.5, 2.5]
    with zipfile.ZipFile(tmp_path / "nodata.pth", "w") as archive:
        archive.writestr("archive/data.pkl", body)
    with pytest.raises(ValueError, match="nodata.pth' names storage '0' but the archive has no 'archive/data/0'"):
        read_state_dict(tmp_path / "nodata.pth")
    with zipfile.ZipFile(tmp_path / "other.pth", "w") as archive:
        archive.writestr("archive/weights.pkl", body)
    with pytest.raises(ValueError, match="other.pth' is a zip archive without a data.pkl: not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "other.pth")


def test_what_is_no_state_dict_is_refused_naming_the_file(tmp_path):
    nested = _hand_checkpoint(tmp_path / "nested.pth", {"w": _op_tensor("0", 2, 0, (2,), (1,))}, {"0": [1.5, 2.5]},
                              wrap="state_dict", extra={"note": "not a tensor"})
    with pytest.raises(ValueError, match="nested.pth' holds no state dict"):
        read_state_dict(nested)
    _legacy_checkpoint(tmp_path / "list.pth", [1, 2, 3])
    with pytest.raises(ValueError, match="list.pth' holds no state dict"):
        read_state_dict(tmp_path / "list.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(ValueError, match="bad.safetensors' is not a readable .safetensors file"):
        read_state_dict(tmp_path / "bad.safetensors")
    with pytest.raises(TypeError, match="state_dict_or_path must be a path or a dict of arrays. Received: int"):
        read_state_dict(5)


def test_a_dict_of_torch_tensors_that_require_grad_is_read_as_arrays():
    torch = pytest.importorskip("torch")
    weight = torch.nn.Parameter(torch.arange(4, dtype=torch.float32).reshape(2, 2))
    state = read_state_dict({"w": weight, "b": np.ones(2)})
    assert type(state["w"]) is np.ndarray and state["w"].tolist() == [[0.0, 1.0], [2.0, 3.0]]
