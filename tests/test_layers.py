"""Layer blocks: shapes and parameter counts in closed form, NumPy references,
serialization, training, and errors; every block over rank 1, 2 and 3."""

import inspect
import math

import keras
import numpy as np
import pytest
import reference
from helpers import trainable_count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnzoo.layers import (
    AdaptivePooling,
    BasicBlock,
    Bottleneck,
    ConnectionTableConv,
    Conv2Plus1D,
    ConvNormAct,
    DropPath,
    GlobalPooling,
    InceptionModule,
    LocalResponseNormalization,
    LPPooling,
    Pooling,
    RBFOutput,
    conv_output_length,
    midplanes,
)

RANKS = (1, 2, 3)
HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def spatial_input(rank, size, channels, batch=None):
    return (batch,) + (size,) * rank + (channels,)


@st.composite
def conv_configs(draw):
    rank = draw(st.sampled_from(RANKS))
    groups = draw(st.sampled_from([1, 2]))
    in_channels = groups * draw(st.integers(1, 3))
    filters = groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    dilated = draw(st.booleans())
    strides = (1,) * rank if dilated else tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank)) if dilated else (1,) * rank
    padding = draw(
        st.one_of(
            st.sampled_from(["same", "valid"]),
            st.integers(0, 2),
            st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2)) for _ in range(rank)]),
        )
    )
    size = draw(st.integers(max(d * (k - 1) + 1 for k, d in zip(kernel, dilation)), 9))
    norm = draw(st.sampled_from([None, "batch"]))
    use_bias = draw(st.sampled_from([None, True, False]))
    return dict(rank=rank, groups=groups, in_channels=in_channels, filters=filters, kernel=kernel,
                strides=strides, dilation=dilation, padding=padding, size=size, norm=norm,
                use_bias=use_bias)


def pad_pairs_of(padding, rank, kernel, strides, dilation, sizes):
    if padding == "valid":
        return ((0, 0),) * rank
    if padding == "same":
        pairs = []
        for n, k, s, d in zip(sizes, kernel, strides, dilation):
            out = -(-n // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)
    if isinstance(padding, int):
        return ((padding, padding),) * rank
    return padding


@HYPOTHESIS
@given(cfg=conv_configs())
def test_conv_norm_act_shape_and_params_closed_form(cfg):
    rank = cfg["rank"]
    layer = ConvNormAct(
        cfg["filters"], cfg["kernel"], strides=cfg["strides"], padding=cfg["padding"],
        dilation_rate=cfg["dilation"], groups=cfg["groups"], norm=cfg["norm"],
        use_bias=cfg["use_bias"],
    )
    shape = spatial_input(rank, cfg["size"], cfg["in_channels"])
    out = layer(keras.KerasTensor(shape))
    pairs = pad_pairs_of(cfg["padding"], rank, cfg["kernel"], cfg["strides"], cfg["dilation"],
                         (cfg["size"],) * rank)
    expected = tuple(
        math.floor((cfg["size"] + sum(p) - d * (k - 1) - 1) / s) + 1
        for p, k, s, d in zip(pairs, cfg["kernel"], cfg["strides"], cfg["dilation"])
    )
    assert tuple(out.shape) == (None,) + expected + (cfg["filters"],)
    has_bias = (cfg["norm"] is None) if cfg["use_bias"] is None else cfg["use_bias"]
    kernel_volume = math.prod(cfg["kernel"])
    params = cfg["filters"] * (kernel_volume * cfg["in_channels"] // cfg["groups"] + has_bias)
    if cfg["norm"] == "batch":
        params += 2 * cfg["filters"]
    assert trainable_count(layer) == params


@pytest.mark.parametrize("n,k,s,p,d", [(7, 3, 2, (1, 1), 1), (10, 3, 1, "valid", 2), (9, 4, 3, "same", 1), (5, 3, 1, "causal", 2)])
def test_conv_output_length_helper(n, k, s, p, d):
    pad = {"valid": 0, "same": None, "causal": d * (k - 1)}.get(p, None) if isinstance(p, str) else sum(p)
    if p == "same":
        assert conv_output_length(n, k, s, p, d) == -(-n // s)
    else:
        assert conv_output_length(n, k, s, p, d) == math.floor((n + pad - d * (k - 1) - 1) / s) + 1


@HYPOTHESIS
@given(cfg=conv_configs(), seed=st.integers(0, 1000))
def test_conv_without_norm_matches_numpy(cfg, seed):
    rank = cfg["rank"]
    layer = ConvNormAct(
        cfg["filters"], cfg["kernel"], strides=cfg["strides"], padding=cfg["padding"],
        dilation_rate=cfg["dilation"], groups=cfg["groups"], norm=None, activation=None,
        use_bias=True, kernel_initializer="glorot_uniform",
    )
    rng = np.random.default_rng(seed)
    x = rng.normal(size=spatial_input(rank, cfg["size"], cfg["in_channels"], batch=2)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.conv.kernel)
    bias = rng.normal(size=cfg["filters"]).astype("float32")
    layer.conv.bias.assign(bias)
    y = keras.ops.convert_to_numpy(layer(x))
    pairs = pad_pairs_of(cfg["padding"], rank, cfg["kernel"], cfg["strides"], cfg["dilation"],
                         (cfg["size"],) * rank)
    expected = reference.conv(x.astype("float64"), kernel, bias, cfg["strides"], cfg["dilation"],
                              pairs, cfg["groups"])
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("p,normalize,padding,size", [
    (2.0, False, "valid", 7), (3.0, True, "same", 7), (1.5, False, 1, 7),
    (3.0, False, "same", 8),  # 'same' pads 0 before and 1 after here: an asymmetric rule's side matters
])
def test_lp_pooling_matches_numpy(rank, p, normalize, padding, size):
    rng = np.random.default_rng(rank)
    x = rng.normal(size=spatial_input(rank, size, 3, batch=2)).astype("float32")
    layer = LPPooling(p, pool_size=3, strides=2, padding=padding, normalize=normalize)
    y = keras.ops.convert_to_numpy(layer(x))
    pairs = pad_pairs_of(padding, rank, (3,) * rank, (2,) * rank, (1,) * rank, (size,) * rank)
    expected = reference.lp_pool(x.astype("float64"), p, (3,) * rank, (2,) * rank, pairs, normalize)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_lp_pooling_p2_is_l2_norm_and_gradient_is_finite_at_zero():
    x = np.zeros((1, 4, 4, 1), "float32")
    x[0, 0, 0, 0], x[0, 0, 1, 0] = 3.0, 4.0
    layer = LPPooling(2, pool_size=2)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y[0, 0, 0, 0] == pytest.approx(5.0)
    assert y[0, 1, 1, 0] == 0.0
    import tensorflow as tf

    xv = tf.Variable(np.zeros((1, 4, 4, 1), "float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(xv))
    assert np.all(np.isfinite(tape.gradient(loss, xv).numpy()))


@pytest.mark.parametrize("rank", RANKS)
def test_pooling_explicit_padding_uses_minus_inf_for_max(rank):
    x = -np.ones(spatial_input(rank, 4, 1, batch=1), "float32")
    y = keras.ops.convert_to_numpy(Pooling("max", 3, strides=2, padding=1)(x))
    assert y.shape == spatial_input(rank, 2, 1, batch=1)
    assert np.all(y == -1.0)


@pytest.mark.parametrize("rank", RANKS)
def test_global_and_adaptive_pooling(rank):
    rng = np.random.default_rng(0)
    x = rng.normal(size=spatial_input(rank, 6, 2, batch=2)).astype("float32")
    axes = tuple(range(1, rank + 1))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(GlobalPooling("avg")(x)), x.mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(GlobalPooling("max", keepdims=True)(x)), x.max(axis=axes, keepdims=True))
    y = keras.ops.convert_to_numpy(AdaptivePooling(3)(x))
    assert y.shape == spatial_input(rank, 3, 2, batch=2)
    # 6 -> 3 is an exact 2x2 average.
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(Pooling("avg", 2)(x)), rtol=1e-5, atol=1e-6)
    up = keras.ops.convert_to_numpy(AdaptivePooling(4)(x[(slice(None),) + (slice(0, 1),) * rank]))
    assert up.shape == spatial_input(rank, 4, 2, batch=2)


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("kernel_5x5", [5, 3])
def test_inception_module_shape_and_params(rank, kernel_5x5):
    c = 6
    layer = InceptionModule(4, 3, 5, 2, 3, 2, kernel_size_5x5=kernel_5x5)
    out = layer(keras.KerasTensor(spatial_input(rank, 8, c)))
    assert tuple(out.shape) == spatial_input(rank, 8, 4 + 5 + 3 + 2)
    k3, k5 = 3**rank, kernel_5x5**rank
    convs = 4 * c + 3 * c + 5 * 3 * k3 + 2 * c + 3 * 2 * k5 + 2 * c
    bn = 2 * (4 + 3 + 5 + 2 + 3 + 2)
    assert trainable_count(layer) == convs + bn


BLOCK_CASES = [
    # block, filters, strides, shortcut, in_channels -> out_channels
    (BasicBlock, 4, 1, "B", 4, 4),
    (BasicBlock, 8, 2, "A", 4, 8),
    (BasicBlock, 8, 2, "B", 4, 8),
    (Bottleneck, 2, 1, "B", 4, 8),
    (Bottleneck, 2, 2, "B", 8, 8),
]


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("block,filters,strides,shortcut,cin,cout", BLOCK_CASES)
@pytest.mark.parametrize("preact", [False, True])
def test_residual_block_shapes_and_params(rank, block, filters, strides, shortcut, cin, cout, preact):
    layer = block(filters, strides=strides, shortcut=shortcut, preact=preact)
    out = layer(keras.KerasTensor(spatial_input(rank, 8, cin)))
    assert tuple(out.shape) == spatial_input(rank, 8 // strides, cout)
    k3 = 3**rank
    if block is BasicBlock:
        convs = cin * filters * k3 + filters * filters * k3
        norms = [filters, filters] if not preact else [cin, filters]
    else:
        convs = cin * filters + filters * filters * k3 + filters * cout
        norms = [filters, filters, cout] if not preact else [cin, filters, filters]
    projects = strides != 1 or cin != cout
    if projects and shortcut == "B":
        convs += cin * cout
        if not preact:
            norms.append(cout)
    assert trainable_count(layer) == convs + 2 * sum(norms)


@pytest.mark.parametrize("rank", RANKS)
def test_bottleneck_stride_placement(rank):
    shape = spatial_input(rank, 8, 8)
    v15 = Bottleneck(2, strides=2)
    v15(keras.KerasTensor(shape))
    paper = Bottleneck(2, strides=2, stride_in_1x1=True)
    paper(keras.KerasTensor(shape))
    assert v15.units[0].conv.strides == (1,) * rank and v15.units[1].conv.strides == (2,) * rank
    assert paper.units[0].conv.strides == (2,) * rank and paper.units[1].conv.strides == (1,) * rank


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("preact", [False, True])
def test_zero_init_residual_starts_as_identity(rank, preact):
    rng = np.random.default_rng(0)
    x = rng.normal(size=spatial_input(rank, 5, 4, batch=2)).astype("float32")
    y = keras.ops.convert_to_numpy(BasicBlock(4, zero_init_residual=True, preact=preact)(x, training=False))
    np.testing.assert_allclose(y, x if preact else np.maximum(x, 0), atol=1e-6)


def test_option_a_shortcut_subsamples_and_zero_pads():
    layer = BasicBlock(8, strides=2, shortcut="A", zero_init_residual=True)
    x = np.random.default_rng(0).uniform(size=(1, 4, 4, 4)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(y[..., 2:6], x[:, ::2, ::2, :], atol=1e-6)
    assert np.all(y[..., :2] == 0) and np.all(y[..., 6:] == 0)


def test_drop_path_drops_whole_examples_and_is_identity_at_inference():
    layer = DropPath(0.5, seed=1)
    x = np.ones((64, 3, 3, 2), "float32")
    assert np.all(keras.ops.convert_to_numpy(layer(x, training=False)) == 1)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    per_example = y.reshape(64, -1)
    assert set(np.unique(per_example)) <= {0.0, 2.0}
    assert np.all(per_example.min(axis=1) == per_example.max(axis=1))
    assert 0 < (per_example[:, 0] == 0).sum() < 64


def test_lrn_matches_formula():
    x = np.random.default_rng(0).uniform(size=(1, 2, 7)).astype("float32")
    y = keras.ops.convert_to_numpy(LocalResponseNormalization(size=3, alpha=0.1, beta=0.5, k=1.0)(x))
    sq = np.pad(x**2, [(0, 0), (0, 0), (1, 1)])
    window = sq[..., :-2] + sq[..., 1:-1] + sq[..., 2:]
    np.testing.assert_allclose(y, x / (1.0 + 0.1 * window) ** 0.5, rtol=1e-5)


@pytest.mark.parametrize("rank", RANKS)
def test_connection_table_conv_reads_only_its_table(rank):
    from cnnzoo.layers.connection_table import LENET5_C3_TABLE

    layer = ConnectionTableConv(LENET5_C3_TABLE, 3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=spatial_input(rank, 5, 6, batch=1)).astype("float32")
    base = keras.ops.convert_to_numpy(layer(x))
    assert base.shape == spatial_input(rank, 3, 16, batch=1)
    # LeNet-5's C3: 6x3 + 6x4 + 3x4 + 1x6 inputs of 3^rank weights, plus 16 biases.
    assert trainable_count(layer) == (6 * 3 + 6 * 4 + 3 * 4 + 6) * 3**rank + 16
    for channel in range(6):
        bumped = x.copy()
        bumped[..., channel] += 1.0
        changed = np.any(keras.ops.convert_to_numpy(layer(bumped)) != base, axis=tuple(range(rank + 1)))
        expected = np.array([channel in row for row in LENET5_C3_TABLE])
        np.testing.assert_array_equal(changed, expected)


def test_rbf_output_is_negative_squared_distance():
    layer = RBFOutput(3)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    w = keras.ops.convert_to_numpy(layer.centers)
    expected = -((x[:, :, None] - w[None]) ** 2).sum(axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cin,cout,strides", [(4, 8, 1), (8, 8, 2), (3, 6, (1, 2, 2))])
def test_conv2plus1d_factorizes_with_torchvision_mid_channels(cin, cout, strides):
    layer = Conv2Plus1D(cout, strides=strides)
    out = layer(keras.KerasTensor((None, 8, 8, 8, cin)))
    st, sh, sw = (strides,) * 3 if isinstance(strides, int) else strides
    assert tuple(out.shape) == (None, 8 // st, 8 // sh, 8 // sw, cout)
    mid = (cin * cout * 27) // (cin * 9 + 3 * cout)
    assert midplanes(cin, cout) == mid
    assert layer.spatial.conv.kernel_size == (1, 3, 3) and layer.temporal.conv.kernel_size == (3, 1, 1)
    # spatial conv + its BatchNorm + temporal conv, no biases
    assert trainable_count(layer) == cin * mid * 9 + 2 * mid + mid * cout * 3
    with pytest.raises(ValueError, match="5D input"):
        Conv2Plus1D(4)(keras.KerasTensor((None, 8, 8, 3)))


def test_basic_block_2plus1d_and_spatial_only_kernels():
    x = keras.KerasTensor((None, 4, 8, 8, 4))
    block = BasicBlock(8, strides=2, conv_layer=Conv2Plus1D)
    assert tuple(block(x).shape) == (None, 2, 4, 4, 8)
    mid = midplanes(4, 8)  # torchvision: both units use the block's first mid-channels
    assert block.units[0].conv.spatial.filters == block.units[1].conv.spatial.filters == mid
    mc = BasicBlock(8, strides=(1, 2, 2), kernel_size=(1, 3, 3))
    assert tuple(mc(x).shape) == (None, 4, 4, 4, 8) and mc.units[0].conv.kernel_size == (1, 3, 3)
    with pytest.raises(ValueError, match="conv_layer.*Received: conv_layer='3d'"):
        BasicBlock(8, conv_layer="3d")


def block_factories():
    return {
        "ConvNormAct": lambda: ConvNormAct(4, 3, strides=2, padding=1, activation="leaky_relu"),
        "ConvNormAct_group_norm": lambda: ConvNormAct(4, 3, norm="group", activation="gelu"),
        "ConvNormAct_layer_norm_preact": lambda: ConvNormAct(4, 3, norm="layer", preact=True),
        "InceptionModule": lambda: InceptionModule(2, 2, 3, 1, 2, 2),
        "BasicBlock": lambda: BasicBlock(6, strides=2, shortcut="A", drop_path_rate=0.1),
        "Bottleneck": lambda: Bottleneck(2, strides=2, stride_in_1x1=True),
        "Bottleneck_preact": lambda: Bottleneck(2, preact=True, groups=2, base_width=32),
        "LPPooling": lambda: LPPooling(2, 2, padding="same"),
        "Pooling": lambda: Pooling("avg", 3, strides=1, padding=1),
        "LocalResponseNormalization": lambda: LocalResponseNormalization(),
        "ConnectionTableConv": lambda: ConnectionTableConv([(0, 1), (1, 2), (3,)], 3, padding="same"),
    }


@pytest.mark.parametrize("name", list(block_factories()))
def test_config_covers_every_constructor_argument(name):
    layer = block_factories()[name]()
    config = layer.get_config()
    params = set(inspect.signature(type(layer).__init__).parameters) - {"self", "kwargs"}
    assert params <= set(config), params - set(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def small_model(rank, factory):
    inputs = keras.Input(spatial_input(rank, 8, 4)[1:])
    x = factory()(inputs)
    x = GlobalPooling()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("name", list(block_factories()))
def test_keras_save_load_gives_identical_outputs(rank, name, tmp_path):
    model = small_model(rank, block_factories()[name])
    x = np.random.default_rng(0).normal(size=spatial_input(rank, 8, 4, batch=2)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(loaded(x))
    )


@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("name", ["ConvNormAct", "InceptionModule", "BasicBlock", "Bottleneck", "Bottleneck_preact", "ConvNormAct_group_norm"])
def test_one_training_step_changes_every_trainable_weight(rank, name):
    model = small_model(rank, block_factories()[name])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=spatial_input(rank, 8, 4, batch=8)).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for w, old in zip(model.trainable_weights, before):
        assert not np.array_equal(keras.ops.convert_to_numpy(w), old), w.path


# ---- errors: each names the argument and what was received ----

@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ConvNormAct(0, 3), "filters.*Received: filters=0"),
        (lambda: ConvNormAct(4, 0), "kernel_size.*Received: kernel_size=0"),
        (lambda: ConvNormAct(4, (3, -1)), "kernel_size.*Received"),
        (lambda: ConvNormAct(4, 3, norm="instance"), "norm.*Received: norm='instance'"),
        (lambda: ConvNormAct(4, 3, activation="relux"), "activation.*Received: activation='relux'"),
        (lambda: ConvNormAct(4, 3, rank=4), "rank.*Received: rank=4"),
        (lambda: ConvNormAct(4, 3, padding="full"), "padding.*Received: padding='full'"),
        (lambda: ConvNormAct(6, 3, groups=4), "divisible by groups"),
        (lambda: InceptionModule(0, 1, 1, 1, 1, 1), "filters_1x1.*Received"),
        (lambda: BasicBlock(4, shortcut="C"), "shortcut.*Received: shortcut='C'"),
        (lambda: Bottleneck(4, drop_path_rate=1.5), "drop_path_rate.*Received"),
        (lambda: LPPooling(p=0), "p must be.*Received: p=0"),
        (lambda: Pooling("median"), "mode.*Received: mode='median'"),
        (lambda: DropPath(1.0), "rate.*Received: rate=1.0"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize(
    "layer,shape,match",
    [
        (lambda: ConvNormAct(4, 3, rank=2), (None, 8, 4), "rank 2.*Received: input_shape"),
        (lambda: ConvNormAct(4, 3), (None, 8, 8, 8, 8, 4), "input_shape"),
        (lambda: ConvNormAct(4, 5, padding="valid"), (None, 3, 3, 4), "larger than the padded input"),
        (lambda: ConvNormAct(4, 7, padding=1), (None, 4, 4), "larger than the padded input"),
        (lambda: ConvNormAct(4, 3, groups=2), (None, 8, 8, 3), "divisible by groups"),
        (lambda: BasicBlock(4, rank=3), (None, 8, 8, 4), "rank 3"),
        (lambda: Pooling("max", 5), (None, 3, 3, 2), "larger than the padded input"),
        (lambda: ConvNormAct(4, 3, strides=2, dilation_rate=2), (None, 8, 8, 2), "dilation_rate"),
        (lambda: BasicBlock(2, shortcut="A"), (None, 8, 8, 4), "cannot reduce"),
    ],
)
def test_bad_inputs_raise_at_build_time(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer()(keras.KerasTensor(shape))


def test_batch_norm_layers_are_cnnzoo_and_save(tmp_path):
    from cnnzoo.layers.normalization import BatchNormalization, make_norm

    model = keras.Sequential([keras.Input((4, 4, 2)), make_norm("batch", 2)])
    assert isinstance(model.layers[0], BatchNormalization)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[0]) is BatchNormalization and loaded.layers[0].epsilon == 1e-5
