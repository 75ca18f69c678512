"""Inspection: MACs against the published figures, receptive fields against closed
forms, parameter conventions; classic kernels; pictures; the cnnzoo command."""

import json
import struct

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo import cli
from cnnzoo.inspect import kernels
from cnnzoo.inspect import pictures as viz
from cnnzoo.inspect.analysis import Field, count_params, receptive_field, summary
from cnnzoo.layers import ConvNormAct

# Multiply-accumulates per example, shared/REFERENCE.md section 2 (torchvision's "GFLOPS").
MACS = [
    ("resnet18", {}, 1.814e9),
    ("resnet34", {}, 3.664e9),
    ("resnet50", {}, 4.089e9),
    ("vgg16", {}, 15.47e9),
    ("alexnet", {}, 0.714e9),
    ("googlenet", {}, 1.498e9),
    # The reference CIFAR figures include 1x1 projection shortcuts (option B); option A's
    # parameter-free shortcut has no MACs, 0.26 M fewer for resnet20 (checked below).
    ("resnet20", {"shortcut": "B"}, 40.81e6),
    ("resnet32", {"shortcut": "B"}, 69.12e6),
    ("resnet44", {"shortcut": "B"}, 97.44e6),
    ("resnet56", {"shortcut": "B"}, 125.75e6),
    ("r3d_18", {}, 40.70e9),
]


@pytest.mark.parametrize("name,kwargs,expected", MACS, ids=[m[0] for m in MACS])
def test_macs_match_reference_within_half_a_percent(name, kwargs, expected):
    macs = summary(cnnzoo.get_model(name, **kwargs)).macs
    assert abs(macs - expected) / expected < 0.005, macs


def test_option_a_shortcut_has_no_macs():
    a, b = summary("resnet20").macs, summary(cnnzoo.resnet20(shortcut="B")).macs
    assert b - a == 16 * 16 * 16 * 32 + 8 * 8 * 32 * 64  # the two 1x1 stride-2 projections


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_stacked_3x3_convs_see_5_then_7(rank):
    x = keras.Input((16,) * rank + (2,))
    y1 = ConvNormAct(4, 3, name="c1")(x)
    y2 = ConvNormAct(4, 3, name="c2")(y1)
    y3 = ConvNormAct(4, 3, name="c3")(y2)
    s = summary(keras.Model(x, y3))
    sizes = {r.name: [f.size for f in r.receptive_field] for r in s.rows}
    assert sizes == {"c1": [3] * rank, "c2": [5] * rank, "c3": [7] * rank}
    one = keras.Model(x, ConvNormAct(4, 7)(x))
    assert [f.size for f in summary(one).rows[-1].receptive_field] == [7] * rank
    # same field with fewer parameters: 3 x (9 C^2) against 49 C^2 for C channels
    assert count_params(keras.Model(x, y3)) < count_params(one) * 3


def test_vgg16_receptive_fields():
    assert receptive_field("vgg16", "stage5_conv3") == (Field(196, 16, 7.5),) * 2
    assert [f.size for f in receptive_field("vgg16", "stage5_pool")] == [212, 212]


def test_receptive_field_through_strides_dilation_padding_and_merges():
    x = keras.Input((32, 3))
    y = ConvNormAct(4, 3, strides=2, padding=1, name="down")(x)  # size 3, jump 2, start 0
    y = ConvNormAct(4, 3, dilation_rate=2, padding="causal", name="causal")(y)  # +4 steps of 2 back
    f = summary(keras.Model(x, y)).rows[-1].receptive_field[0]
    assert (f.size, f.jump, f.start) == (3 + 2 * 2 * 2, 2, -4.0)
    # residual merge: the field of the longer path wins
    res = summary("resnet18", input_shape=(64, 64, 3))
    rows = {r.name: r.receptive_field for r in res.rows}
    assert rows["stem_conv"][0].size == 7 and rows["stem_pool"][0] == Field(11, 4, 0.0)
    assert rows["stage1_block1"][0].size == 11 + 2 * 2 * 4  # two 3x3 at jump 4
    assert rows["head_pool"] is None and rows["predictions"] is None
    # inception concatenation: the 5x5 branch sets the module's field
    g3 = summary(cnnzoo.googlenet(width=0.25, inception_5x5=True, input_shape=(64, 64, 3)))
    g5 = summary(cnnzoo.googlenet(width=0.25, inception_5x5=False, input_shape=(64, 64, 3)))
    f3 = {r.name: r.receptive_field for r in g3.rows}["inception3_a"][0]
    f5 = {r.name: r.receptive_field for r in g5.rows}["inception3_a"][0]
    assert f3.size - f5.size == 2 * 8  # 5x5 instead of 3x3 at jump 8


def test_parameter_conventions_and_rows(tmp_path):
    model = cnnzoo.resnet18()
    assert count_params(model, "torch") == 11_689_512
    assert count_params(model, "keras") == model.count_params() == 11_699_112
    s = summary(model)
    assert s.params("torch") == 11_689_512 and s.params("keras") == 11_699_112
    assert [r.name for r in s.rows] == [l.name for l in model.layers[1:]]
    assert "multiply-accumulates per example: 1,814,073,344" in str(s)
    assert json.loads(json.dumps(s.to_dict()))["macs"] == s.macs
    with pytest.raises(ValueError, match="convention.*Received: convention='tf'"):
        count_params(model, "tf")
    # the replay leaves the model as it was
    assert len(model.layers[1]._inbound_nodes) == 1
    model.save(tmp_path / "after_summary.keras")
    assert keras.saving.load_model(tmp_path / "after_summary.keras").count_params() == model.count_params()


def test_summary_in_3d_and_of_a_model_with_unknown_sizes():
    s3 = summary("resnet18", input_shape=(16, 112, 112, 3))
    assert len(s3.rows[0].receptive_field) == 3 and s3.macs > 0
    model = cnnzoo.resnet18(input_shape=(None, None, 3), width=0.25)
    assert summary(model, input_shape=(64, 64, 3)).macs == summary(cnnzoo.resnet18(input_shape=(64, 64, 3), width=0.25)).macs


@pytest.mark.parametrize("name", list(kernels.KERNELS))
def test_kernels_match_their_definitions(name):
    k = kernels.get(name)
    assert k.shape == (3, 3)
    sums = {"identity": 1, "sobel_x": 0, "sobel_y": 0, "laplacian": 0, "box_blur": 1, "gaussian_blur": 1,
            "sharpen": 1, "emboss": 1}
    assert k.sum() == pytest.approx(sums[name])
    image = np.random.default_rng(0).uniform(size=(1, 8, 8, 3)).astype("float32")
    conv = keras.layers.Conv2D(1, 3, padding="valid", use_bias=False, kernel_initializer=kernels.FixedKernel(name))
    out = keras.ops.convert_to_numpy(conv(image))[0, ..., 0]
    grey = image[0].mean(axis=-1)
    expected = sum(k[a, b] * grey[a : a + 6, b : b + 6] for a in range(3) for b in range(3))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_specific_kernel_values():
    np.testing.assert_array_equal(kernels.get("sobel_x"), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(kernels.get("sobel_y"), kernels.get("sobel_x").T)
    np.testing.assert_array_equal(kernels.get("laplacian"), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert kernels.gaussian(5, 1.0).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Received: name='blur'"):
        kernels.get("blur")


def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_pictures_are_pngs_of_the_expected_size(tmp_path):
    model = cnnzoo.lenet5(input_shape=(28, 28, 1))
    image, _ = viz.sample_image()
    assert png_size(viz.plot_filters(model, tmp_path / "f.png")) == (360, 240)  # 6 filters: 3x2 grid of 1.2-inch cells at 100 dpi
    assert png_size(viz.plot_feature_maps(model, image, tmp_path / "m.png")) == (1170, 420)
    assert png_size(viz.plot_receptive_field(model, image, "stage2_conv", tmp_path / "r.png")) == (400, 400)
    assert png_size(viz.plot_kernels(image[..., 0], tmp_path / "k.png")) == (1280, 340)
    assert png_size(viz.plot_curves({"loss": [2, 1], "accuracy": [0.5, 0.9]}, tmp_path / "c.png")) == (1000, 400)
    for rank in (1, 3):
        m = cnnzoo.resnet20(input_shape=(16,) * rank + (3,), width=0.25)
        assert png_size(viz.plot_filters(m, tmp_path / f"f{rank}.png"))[0] > 0


def test_cli_summary_list_and_errors(capsys, tmp_path):
    assert cli.main(["summary", "lenet5", "--input-shape", "28,28,1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params_torch"] == 61_706 and data["input_shape"] == [28, 28, 1]
    assert cli.main(["summary", "resnet20"]) == 0
    assert "40,551,040" in capsys.readouterr().out
    assert cli.main(["list", "resnet2*"]) == 0
    out = capsys.readouterr().out
    assert "resnet20" in out and "269,722" in out and "40,551,040" in out
    assert cli.main(["summary", "resnet19"]) == 2
    assert "Did you mean" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["summary", "lenet5", "--input-shape", "28xtwenty"])  # 28x28 and 28,28 both say a shape
    assert "224x224x3 or 224,224,3" in capsys.readouterr().err
    assert cli.main(["viz", "receptive-field", "--model", "lenet5", "--out", str(tmp_path / "x.png")]) == 2
    assert cli.main(["viz", "kernels", "--out", str(tmp_path / "k.png")]) == 0
    assert png_size(tmp_path / "k.png")[0] > 0
