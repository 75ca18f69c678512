"""Bad input gets a clear error, never a silently different model or a traceback: builders and blocks
fuzzed with wide and wrong-typed arguments (hypothesis), the readers, and every CLI subcommand."""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnzoo
from cnnzoo import cli
from cnnzoo.layers import BasicBlock, ConnectionTableConv, ConvNormAct, LPPooling, Pooling

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
BOOL_ARGS = {"resnet18": ["preact", "zero_init_residual", "stride_in_1x1", "conv_bias"],
             "googlenet": ["aux_logits", "inception_5x5"], "vgg11": [], "alexnet": [], "lenet5": [],
             "r3d_18": ["zero_init_residual"], "tcn": []}
SHAPES = {"resnet18": (32, 32, 3), "googlenet": (32, 32, 3), "vgg11": (32, 32, 3), "alexnet": (63, 63, 3),
          "lenet5": (32, 32, 1), "r3d_18": (4, 16, 16, 3), "tcn": (64, 1)}
WILD = st.one_of(st.booleans(), st.integers(-2, 3), st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from(["no", "yes", "", "1", None, (1,), [2.0]]))


def closed_form_params(model):
    """Parameters from each layer's configuration: K(F^rank C/groups + bias) for convolutions, in*out + out
    for dense layers, 4 per channel for batch norm, 2 for layer/group norm; checked against every kernel."""
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D):
            kernel = tuple(layer.kernel.shape)
            assert kernel[:-2] == tuple(layer.kernel_size) and kernel[-1] == layer.filters, layer.path
            total += math.prod(kernel) + (layer.filters if layer.use_bias else 0)
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.units + (layer.units if layer.use_bias else 0)
        elif isinstance(layer, keras.layers.BatchNormalization):
            total += 4 * layer.gamma.shape[0]
        elif isinstance(layer, keras.layers.LayerNormalization | keras.layers.GroupNormalization):
            total += 2 * layer.gamma.shape[0]
    return total


@FUZZ
@given(data=st.data())
def test_builders_build_the_closed_form_or_raise_naming_the_argument(data):
    name = data.draw(st.sampled_from(sorted(BOOL_ARGS)))
    kwargs = {"input_shape": SHAPES[name]}
    for arg in data.draw(st.lists(st.sampled_from(["width", "dropout", "classes", "include_top", "input_shape",
                                                    *BOOL_ARGS[name]]), max_size=3, unique=True)):
        if arg == "width":
            kwargs[arg] = data.draw(st.one_of(st.sampled_from([0.125, 0.25]), WILD))
        elif arg == "input_shape":
            shape = list(SHAPES[name])
            shape[-1] = data.draw(st.one_of(st.just(shape[-1]), WILD))
            kwargs[arg] = tuple(shape)
        else:
            kwargs[arg] = data.draw(WILD)
    kwargs.setdefault("width", 0.125)
    try:
        model = cnnzoo.get_model(name, **kwargs)
    except (ValueError, TypeError) as e:
        message = str(e)
        assert "Received" in message and any(k in message for k in kwargs), message
        return
    assert cnnzoo.count_params(model, "keras") == closed_form_params(model)
    for arg in BOOL_ARGS[name] + ["include_top"]:  # what built was given real booleans
        assert arg not in kwargs or isinstance(kwargs[arg], bool)
    assert not isinstance(kwargs["width"], bool) and math.isfinite(kwargs["width"]) and kwargs["width"] > 0


@pytest.mark.parametrize("make, match", [
    (lambda: ConvNormAct(4, 3, preact="no"), "preact must be True or False"),
    (lambda: ConvNormAct(4, 3, zero_init=1), "zero_init must be True or False"),
    (lambda: BasicBlock(4, zero_init_residual="no"), "zero_init_residual must be True or False"),
    (lambda: Pooling("max", 2, ceil_mode="yes"), "ceil_mode must be True or False"),
    (lambda: LPPooling(float("nan")), "p must be a positive number"),
    (lambda: ConnectionTableConv([[True, False], [False, True]], 3), "indices \\(ints\\).*not a mask"),
    (lambda: ConnectionTableConv([[0.0, 1.5]], 3), "not a mask or floats"),
    (lambda: cnnzoo.resnet18(features_only=True, pooling="avg"), "features_only=True .* pooling='avg' would be ignored"),
    (lambda: cnnzoo.resnet18(width=float("nan")), "width must be finite. Received: width=nan"),
    (lambda: cnnzoo.resnet18(input_shape=(32.5, 32, 3)), "input_shape must hold ints"),
])
def test_blocks_and_builders_refuse_what_they_used_to_accept(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_lp_pooling_at_infinity_is_max_pooling_and_large_p_does_not_overflow():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32") * 50
    inf = np.asarray(LPPooling(float("inf"), 2)(x))
    np.testing.assert_allclose(inf, np.asarray(keras.layers.MaxPooling2D(2)(np.abs(x))), rtol=1e-6)
    big = np.asarray(LPPooling(200.0, 2)(x))
    assert np.all(np.isfinite(big)) and np.allclose(big, inf, rtol=0.01)


def test_alexnet_paper_variant_takes_any_width():
    model = cnnzoo.alexnet(variant="paper", width=0.3)
    assert model.output_shape == (None, 1000)


def test_readers_refuse_out_of_range_labels_and_wrong_dtypes(tmp_path):
    import gzip
    import pickle

    from cnnzoo.data import cifar, files
    from cnnzoo.data import idx as idx_format

    def idx(path, array, code):
        header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        with gzip.open(path, "wb") as f:
            f.write(header + array.tobytes())

    idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8), 0x08)
    idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 12, 3], np.uint8), 0x08)
    with pytest.raises(files.DatasetFileError, match=r"1 labels outside 0..9 \(the first, 12, at record 1\)"):
        idx_format.read_idx_split(str(tmp_path), "train")
    batch = {b"data": np.random.default_rng(0).uniform(size=(2, 3072)), b"labels": [0, 1]}
    (tmp_path / "batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(files.DatasetFileError, match="bytes 0..255; this batch holds float64"):
        cifar.read_cifar_pickle(str(tmp_path / "batch"), "labels")


def test_unreadable_weight_files_name_the_file(tmp_path):
    for name, content in (("empty.weights.h5", b""), ("junk.keras", b"not a zip")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}.* not a readable"):
            cnnzoo.resnet20(weights=str(tmp_path / name))


def _bad_cli_calls(tmp_path):
    model = tmp_path / "m.keras"
    cnnzoo.lenet5(input_shape=(28, 28, 1), classes=3).save(model)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(folder / c / f"{i}.png")
    (tmp_path / "short.json").write_text('["only one"]')
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "dir.keras").mkdir()
    return [
        ["list", "nothing*"],
        ["summary", "resnet19"],
        ["summary", str(tmp_path / "dir.keras")],
        ["viz", "filters", "--out", str(tmp_path / "f.png")],
        ["viz", "kernels", "--out", str(tmp_path)],
        ["viz", "receptive-field", "--model", "lenet5", "--out", str(tmp_path / "r.png")],
        ["predict", str(tmp_path / "missing.keras"), str(image)],
        ["predict", str(tmp_path / "dir.keras"), str(image)],
        ["predict", str(model), str(image), "--labels", str(tmp_path / "nope.json")],
        ["predict", str(model), str(image), "--labels", str(tmp_path / "short.json")],
        ["predict", "lenet5", str(image)],
        ["predict", "resnet18", str(image), "--weights", "imagenet1k_v9"],
        ["finetune", "--model", "lenet5", "--data-dir", str(folder), "--out", str(tmp_path / "a_file")],
        ["finetune", "--model", "lenet5", "--data-dir", str(folder), "--val-split", "0.99", "--out",
         str(tmp_path / "ft")],
        ["finetune", "--model", str(tmp_path / "dir.keras"), "--data-dir", str(folder)],
        ["finetune", "--model", "lenet5", "--data-dir", str(tmp_path / "nowhere")],
        ["finetune", "--model", "lenet5", "--data-dir", str(folder), "--batch-size", "0"],
        ["export", str(tmp_path / "missing.keras"), "--format", "tflite", "--out", str(tmp_path / "x.tflite")],
        ["export", str(model), "--format", "tflite", "--out", str(tmp_path / "no" / "such" / "\0bad")],
        ["conv", "--input", "8x8x3", "--layers", "conv 9x9 4"],
        ["bench", "--models", "lenet5", "--steps", "0"],
        ["bench", "--models", "lenet5", "--repeats", "-1"],
    ]


def test_every_subcommand_answers_bad_input_with_one_line_and_exit_2(tmp_path, capsys):
    for argv in _bad_cli_calls(tmp_path):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse's own usage errors
            code = e.code
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert "Traceback" not in err and err.strip(), (argv, err)
        assert err.startswith(("cnnzoo: error:", "usage:", "cnnzoo bench: error:")), (argv, err)


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(cli.CommandError, match="not a folder"):
        cli.main(["--debug", "finetune", "--model", "lenet5", "--data-dir", str(tmp_path / "nowhere")])


@FUZZ
@given(data=st.data())
def test_blocks_build_the_closed_form_or_raise_naming_the_argument(data):
    rank = data.draw(st.sampled_from([1, 2, 3]))
    channels = data.draw(st.sampled_from([2, 4]))
    kwargs = {}
    for arg in data.draw(st.lists(st.sampled_from(["filters", "kernel_size", "strides", "groups", "use_bias", "preact",
                                                    "zero_init", "norm_epsilon", "dilation_rate"]),
                                  max_size=3, unique=True)):
        kwargs[arg] = data.draw(st.one_of(st.sampled_from([1, 2, 3]), WILD))
    filters, kernel = kwargs.pop("filters", 4), kwargs.pop("kernel_size", 3)
    try:
        layer = ConvNormAct(filters, kernel, **kwargs)
        out = layer(keras.Input((6,) * rank + (channels,)))
    except (ValueError, TypeError) as e:
        message = str(e)
        assert "Received" in message and any(k in message for k in (*kwargs, "filters", "kernel_size", "input")), message
        return
    groups = kwargs.get("groups", 1)
    bias = layer.use_bias
    volume = int(np.prod(np.broadcast_to(np.asarray(kernel), (rank,))))
    expected = filters * (volume * channels // groups + int(bias))
    norm_channels = channels if kwargs.get("preact") else filters
    expected += 4 * norm_channels  # batch norm: gamma, beta and the two moving statistics
    assert layer.count_params() == expected and out.shape[-1] == filters
