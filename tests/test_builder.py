"""The one builder (cnnzoo/models/builder.py), the registry's records, and the single sources of options.

A family declares a trunk, a head, its defaults and options; the builder owns everything else. These
tests build a new family the way docs/ARCHITECTURE.md says to, and check what it gets for free.
"""

import inspect

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo import registry
from cnnzoo.layers import BasicBlock, Conv2Plus1D, ConvNormAct, Pooling
from cnnzoo.models import alexnet, lenet, vgg
from cnnzoo.models.builder import Family, ModelArgs
from cnnzoo.training import TrainConfig
from cnnzoo.training.engine import resolve
from cnnzoo.training.optim import make_optimizer


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry as it is, restored after the test (a family registered here leaves no trace)."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_INFO", dict(registry._INFO))


def _toy_trunk(x, build):
    for s, filters in enumerate(build.spec, start=1):
        x = ConvNormAct(build.scaled(filters), 3, **build.unit, name=f"stage{s}_conv")(x)
        x = Pooling("max", 2, name=f"stage{s}_pool")(x)
        build.record(f"stage{s}", x, 2**s)
    return x


def _toy_check(build):
    if build.options.depth_hint not in ("a", "b"):
        raise ValueError(f"depth_hint must be 'a' or 'b'. Received: depth_hint={build.options.depth_hint!r}")


def test_a_new_family_is_a_trunk_and_a_register_line(scratch_registry):
    toy = Family(trunk=_toy_trunk, check=_toy_check, defaults=dict(classes=7, norm=None), options=dict(depth_hint="a"),
                 default_shape=(16, 16, 1), min_size=4)

    @toy.register((4, 8), fixed={"activation": "relu"})
    def toy_net(*args, **kwargs):
        """A toy network."""
        return toy.build("toy_net", args, kwargs)

    build_toy = toy_net
    assert build_toy.__doc__.startswith("A toy network.") and inspect.getsourcefile(build_toy) == __file__
    assert "toy_net" in cnnzoo.list_models() and cnnzoo.model_info("toy_net").classes == 7
    params = inspect.signature(build_toy).parameters
    assert params["classes"].default == 7 and params["depth_hint"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "depth_hint" in build_toy.__doc__ and "Fixed to `'relu'`" in build_toy.__doc__
    model = cnnzoo.get_model("toy_net")
    assert model.name == "toy_net" and model.output_shape == (None, 7)
    assert [f.name for f in model.feature_info] == ["stage1", "stage2"] and model.feature_info[1].reduction == 4
    features = build_toy(features_only=True, input_shape=(8, 8, 8, 2))  # every rank, from the shape
    assert tuple(features.output["stage2"].shape) == (None, 2, 2, 2, 8)
    assert build_toy(include_top=False, pooling="avg").output_shape == (None, 8)
    assert build_toy(width=0.5).get_layer("stage2_conv").filters == 4
    for call, error, match in [
        (lambda: build_toy(width=0), ValueError, "width.*Received: width=0"),
        (lambda: build_toy(depth_hint="c"), ValueError, "depth_hint.*Received: depth_hint='c'"),
        (lambda: build_toy(activation="gelu"), ValueError, "toy_net fixes activation='relu'"),
        (lambda: build_toy(input_shape=(3, 3, 1)), ValueError, ">= 4.*Received: input_shape"),
        (lambda: build_toy(bogus=1), TypeError, "toy_net.*bogus"),
    ]:
        with pytest.raises(error, match=match):
            call()


def test_model_args_are_validated_once_in_one_typed_object():
    with pytest.raises(ValueError, match="dropout must be in \\[0, 1\\). Received: dropout=1"):
        ModelArgs(dropout=1)
    with pytest.raises(TypeError, match="include_top must be a bool"):
        ModelArgs(include_top="yes")
    assert ModelArgs(width=2).width == 2


def test_the_registry_records_ranks_and_defaults():
    for name in cnnzoo.list_models():
        info = cnnzoo.model_info(name)
        assert info.name == name and info.ranks and info.input_shape and info.classes
    assert cnnzoo.model_info("r3d_18").ranks == (3,) and cnnzoo.model_info("tcn").ranks == (1,)
    assert cnnzoo.model_info("resnet20").input_shape == (32, 32, 3) and cnnzoo.model_info("resnet20").classes == 10
    assert cnnzoo.model_info("lenet5").min_size == lenet.MIN_SIZE
    assert cnnzoo.model_info("alexnet").min_size == alexnet.MIN_SIZE and cnnzoo.model_info("vgg11").min_size == vgg.MIN_SIZE
    for name in ("lenet5", "resnet20", "tcn"):  # the recorded default is what the builder builds
        assert tuple(cnnzoo.get_model(name, width=0.25).input_shape[1:]) == cnnzoo.model_info(name).input_shape
    with pytest.raises(ValueError, match="Did you mean"):
        cnnzoo.model_info("resnet19")


def test_resnext_and_wide_resnet_are_rows_of_the_resnet_table():
    from cnnzoo.models.resnet import SPECS

    assert SPECS["resnext50_32x4d"]._replace(groups=1, base_width=64) == SPECS["resnet50"]
    model = cnnzoo.resnext50_32x4d(width=0.125, input_shape=(32, 32, 3), classes=3)
    conv2 = model.get_layer("stage1_block1").units[1].conv
    assert conv2.groups == 32 and conv2.filters == 32  # 8 base channels * 4/64 < 1: one channel a group


def test_video_blocks_take_the_convolution_layer_and_norm_none_means_none():
    block = BasicBlock(4, conv_layer=Conv2Plus1D)
    config = block.get_config()
    assert config["conv_layer"] == "cnnzoo>Conv2Plus1D"
    assert BasicBlock.from_config(config).conv_layer is Conv2Plus1D
    model = cnnzoo.r2plus1d_18(norm=None, width=1 / 16, input_shape=(4, 16, 16, 3), classes=2)
    layers = [la for la in model._flatten_layers() if isinstance(la, keras.layers.BatchNormalization)]
    assert layers == []  # before: the (2+1)D convolutions kept a batch norm inside whatever norm said
    spatial = model.get_layer("stage2_block1").units[0].conv.spatial
    assert spatial.norm is None and spatial.activation == "relu"


def test_each_option_has_one_source():
    googlenet = cnnzoo.googlenet(aux_logits=True, width=0.0625, input_shape=(48, 48, 3), classes=2)
    config = resolve(TrainConfig(), googlenet)  # the family's declaration is the one source of the weight
    from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT

    assert config.aux_loss_weight == AUX_LOSS_WEIGHT
    assert resolve(TrainConfig(aux_loss_weight=1.0), googlenet).aux_loss_weight == 1
    with pytest.raises(ValueError, match="aux_loss_weight must be a number >= 0 or None. Received: aux_loss_weight=-1"):
        TrainConfig(aux_loss_weight=-1)
    optimizer = make_optimizer("adamw", 1e-3, ema_momentum=TrainConfig.ema_momentum)
    assert optimizer.use_ema and np.isclose(optimizer.ema_momentum, TrainConfig.ema_momentum)
    assert not make_optimizer("sgd", 1e-3).use_ema


def test_configs_saved_before_the_conv_layer_argument_still_load():
    block = BasicBlock.from_config({**BasicBlock(4).get_config(), "conv_layer": None, "conv_type": "2plus1d"})
    assert block.conv_layer is Conv2Plus1D
    old = {**ConvNormAct(4, 3).get_config(), "conv_type": "2plus1d", "mid_filters": 7, "activation": None}
    del old["conv_layer"], old["conv_kwargs"]
    unit = ConvNormAct.from_config(old)
    unit.build((None, 4, 6, 6, 3))
    assert isinstance(unit.conv, Conv2Plus1D) and unit.conv.spatial.filters == 7 and unit.conv.activation == "relu"
