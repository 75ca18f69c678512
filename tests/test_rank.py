"""The argument checks every block and builder shares (cnnzoo/layers/rank.py), at their full strength: what each
accepts, what it returns, and the one-line error naming the argument and the value for everything else. The
builders' own refusals are in test_bad_input.py; these run in milliseconds, so mutation testing can afford them
(docs/mutation.md)."""

import math
import re

import pytest

from cnnzoo.layers import rank as r

pytestmark = pytest.mark.keras_free


def _raises(kind, message):
    return pytest.raises(kind, match=re.escape(message))


# ---- rank ----

@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_rank_is_1_2_or_3(rank):
    assert r.check_rank(rank) == rank and type(r.check_rank(rank)) is int


@pytest.mark.parametrize("rank", [0, 4, -1, True, "2", None])
def test_any_other_rank_is_refused_by_its_name(rank):
    with _raises(ValueError, f"rank must be 1, 2 or 3. Received: rank={rank!r}"):
        r.check_rank(rank)
    with _raises(ValueError, f"conv_rank must be 1, 2 or 3. Received: conv_rank={rank!r}"):
        r.check_rank(rank, "conv_rank")


@pytest.mark.parametrize("shape, rank", [((None, 8, 3), 1), ((2, 8, 8, 3), 2), ((None, 4, 8, 8, 3), 3)])
def test_the_rank_of_a_shape_is_its_spatial_axes(shape, rank):
    assert r.rank_of_shape(shape, "Block") == rank


@pytest.mark.parametrize("shape", [(None, 3), (1, 2, 3, 4, 5, 6)])
def test_a_shape_of_no_rank_is_refused_naming_its_owner(shape):
    with _raises(ValueError, f"MyBlock expects a 3D, 4D or 5D input (batch, *spatial, channels) for rank 1, 2 or 3. "
                             f"Received: input_shape={shape}"):
        r.rank_of_shape(list(shape), "MyBlock")


# ---- per-axis ints ----

def test_normalize_tuple_spreads_an_int_and_keeps_a_sequence():
    assert r.normalize_tuple(3, 2, "kernel_size") == (3, 3)
    assert r.normalize_tuple([1, 2, 3], 3, "strides") == (1, 2, 3)
    assert r.normalize_tuple(0, 2, "padding", minimum=0) == (0, 0)
    assert r.normalize_tuple((1,), 1, "k") == (1,)


@pytest.mark.parametrize("value, rank, kwargs, kind, message", [
    (True, 2, {}, TypeError, "kernel_size must be an int or a tuple of ints. Received: kernel_size=True"),
    (2.5, 2, {}, TypeError, "kernel_size must be an int or a tuple of ints. Received: kernel_size=2.5"),
    ((3, 3), 3, {}, ValueError, "kernel_size must have 3 entries for a rank-3 layer. Received: kernel_size=(3, 3)"),
    ((3, 3.0), 2, {}, TypeError, "kernel_size must contain ints. Received: kernel_size=(3, 3.0)"),
    ((3, False), 2, {}, TypeError, "kernel_size must contain ints. Received: kernel_size=(3, False)"),
    ((3, 0), 2, {}, ValueError, "kernel_size must be positive. Received: kernel_size=(3, 0)"),
    (0, 1, {}, ValueError, "kernel_size must be positive. Received: kernel_size=0"),
    (-1, 2, dict(minimum=0), ValueError, "kernel_size must be >= 0. Received: kernel_size=-1"),
    (1, 2, dict(minimum=2), ValueError, "kernel_size must be >= 2. Received: kernel_size=1"),
])
def test_normalize_tuple_refuses_what_is_no_rank_length_tuple_of_ints(value, rank, kwargs, kind, message):
    with _raises(kind, message):
        r.normalize_tuple(value, rank, "kernel_size", **kwargs)


@pytest.mark.parametrize("value", [1, 3, (2,), (1, 2), [1, 2, 3]])
def test_check_positive_ints_takes_an_int_or_one_to_three_entries(value):
    assert r.check_positive_ints(value, "strides") is value


@pytest.mark.parametrize("value, kind, message", [
    (True, TypeError, "strides must be an int or a tuple of ints. Received: strides=True"),
    (2.5, TypeError, "strides must be an int or a tuple of ints. Received: strides=2.5"),
    ((), ValueError, "strides must have 1, 2 or 3 entries. Received: strides=()"),
    ((1, 1, 1, 1), ValueError, "strides must have 1, 2 or 3 entries. Received: strides=(1, 1, 1, 1)"),
    (0, ValueError, "strides must be positive. Received: strides=0"),
    ((1, 0), ValueError, "strides must be positive. Received: strides=(1, 0)"),
    ((1, "2"), TypeError, "strides must contain ints. Received: strides=(1, '2')"),
])
def test_check_positive_ints_refuses_by_name(value, kind, message):
    with _raises(kind, message):
        r.check_positive_ints(value, "strides")


def test_positive_int_takes_ints_from_one_and_none_only_when_allowed():
    assert r.positive_int(1, "classes") == 1 and r.positive_int(7, "classes") == 7
    assert r.positive_int(None, "classes", allow_none=True) is None
    for value in (0, -3, True, 2.0, "3", None):
        with _raises(ValueError, f"classes must be a positive int. Received: classes={value!r}"):
            r.positive_int(value, "classes")
    with _raises(ValueError, "classes must be a positive int or None. Received: classes=0"):
        r.positive_int(0, "classes", allow_none=True)


# ---- padding ----

@pytest.mark.parametrize("padding, expected", [
    ("SAME", "same"), ("valid", "valid"), ("Causal", "causal"), (0, 0), (2, 2), ((1,), (1,)),
    ([1, (2, 3)], (1, (2, 3))), (((0, 1), [2, 0], 3), ((0, 1), (2, 0), 3)),
])
def test_check_padding_takes_a_mode_or_explicit_sizes(padding, expected):
    assert r.check_padding(padding) == expected


@pytest.mark.parametrize("padding, kind, message", [
    ("full", ValueError, "padding must be one of ('same', 'valid', 'causal'), an int or a tuple. Received: "
                         "padding='full'"),
    (True, TypeError, "padding must be a string, an int or a tuple. Received: padding=True"),
    (1.5, TypeError, "padding must be a string, an int or a tuple. Received: padding=1.5"),
    (-1, ValueError, "padding must be non-negative. Received: padding=-1"),
    ((), ValueError, "padding must have 1, 2 or 3 entries. Received: padding=()"),
    ((1, 1, 1, 1), ValueError, "padding must have 1, 2 or 3 entries. Received: padding=(1, 1, 1, 1)"),
    (((1, 2, 3),), ValueError, "padding pairs must be (before, after). Received: padding=((1, 2, 3),)"),
    (((1,),), ValueError, "padding pairs must be (before, after). Received: padding=((1,),)"),
    ((1, -1), ValueError, "padding must contain non-negative ints. Received: padding=(1, -1)"),
    (((0, -1),), ValueError, "padding must contain non-negative ints. Received: padding=((0, -1),)"),
    ((1.0,), ValueError, "padding must contain non-negative ints. Received: padding=(1.0,)"),
    ((True,), ValueError, "padding must contain non-negative ints. Received: padding=(True,)"),
])
def test_check_padding_refuses_by_name(padding, kind, message):
    with _raises(kind, message):
        r.check_padding(padding)
    with _raises(kind, message.replace("padding", "stem_padding")):
        r.check_padding(padding, "stem_padding")


def test_explicit_padding_becomes_one_before_after_pair_per_axis():
    assert r.explicit_padding_pairs(2, 3) == ((2, 2), (2, 2), (2, 2))
    assert r.explicit_padding_pairs((1, (2, 3)), 2) == ((1, 1), (2, 3))
    with _raises(ValueError, "pad must have 2 entries for a rank-2 layer. Received: pad=(1,)"):
        r.explicit_padding_pairs((1,), 2, "pad")
    with _raises(ValueError, "padding must have 3 entries for a rank-3 layer. Received: padding=(1, 1)"):
        r.explicit_padding_pairs((1, 1), 3)


@pytest.mark.parametrize("kernel, strides, dilation, expected", [
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    ((4,), (1,), (1,), ((1, 2),)),  # an odd total puts the extra pixel after, as Keras's "same" does
    ((3, 1), (1, 1), (2, 1), ((2, 2), (0, 0))),
    ((2, 5, 1), (1, 1, 1), (3, 1, 1), ((1, 2), (2, 2), (0, 0))),
    ((3, 3), (1, 2), (1, 1), None),  # at a stride other than 1 "same" depends on the input size
])
def test_same_padding_at_stride_one_is_d_times_k_minus_one_split_before_after(kernel, strides, dilation, expected):
    assert r.same_padding_pairs(kernel, strides, dilation) == expected


# ---- the output length's closed form ----

@pytest.mark.parametrize("n, k, s, padding, d, expected", [
    (32, 5, 1, "valid", 1, 28), (32, 5, 2, "valid", 1, 14), (33, 5, 2, "valid", 1, 15),
    (32, 3, 2, "same", 1, 16), (33, 3, 2, "same", 1, 17), (33, 7, 1, "same", 3, 33),
    (10, 3, 1, "causal", 2, 10), (10, 3, 2, "causal", 1, 5),
    (32, 5, 1, (2, 2), 1, 32), (32, 5, 1, (0, 3), 1, 31), (9, 3, 2, (1, 0), 2, 3),
])
def test_conv_output_length_is_the_closed_form(n, k, s, padding, d, expected):
    assert r.conv_output_length(n, k, s, padding, dilation=d) == expected
    if isinstance(padding, tuple):
        assert expected == math.floor((n + sum(padding) - d * (k - 1) - 1) / s) + 1


@pytest.mark.parametrize("n, k, s, padding, floor_, ceil_", [
    (5, 2, 2, (0, 0), 2, 3),  # ceil mode keeps the partial window
    (6, 3, 2, (1, 1), 3, 4),
    (2, 2, 3, (1, 1), 1, 1),  # the extra window would start in the trailing padding: PyTorch drops it
    (7, 3, 3, (1, 1), 3, 3),  # (8 - 3 + 2) / 3: the last window would start at 9 >= 7 + 1, so it is not added
    (112, 3, 2, (0, 0), 55, 56),  # GoogLeNet's pools
    (4, 1, 2, "valid", 2, 2),  # the third window would start at 4, past the input: not added
    (6, 1, 2, "valid", 3, 3),
    (4, 1, 2, (1, 0), 3, 3),  # leading padding moves where the windows may start: the third starts at 4 - 1
])
def test_ceil_mode_rounds_up_unless_the_last_window_starts_past_the_input(n, k, s, padding, floor_, ceil_):
    assert r.conv_output_length(n, k, s, padding) == floor_
    assert r.conv_output_length(n, k, s, padding, ceil_mode=True) == ceil_


def test_an_unknown_length_stays_unknown():
    assert r.conv_output_length(None, 3, 2, "same") is None
    assert r.conv_output_length(None, 3, 2, (1, 1), ceil_mode=True) is None


# ---- arguments typed by their defaults ----

def _block(units, preact=False, width=1.0, blocks=2, strides=1, name=None, mode="fast", ceil_mode=False):
    return None


def test_check_arguments_types_each_argument_by_its_default():
    r.check_arguments(_block, dict(units=object(), preact=True, width=0.5, blocks=3, strides=(1, 2), name=5,
                                   mode=None))
    r.check_arguments(_block, dict(width=2, blocks=2.5, strides=[2, 2], other=object()))


@pytest.mark.parametrize("arguments, kind, message", [
    (dict(preact="no"), TypeError, "preact must be True or False. Received: preact='no'"),
    (dict(preact=1), TypeError, "preact must be True or False. Received: preact=1"),
    (dict(width=True), TypeError, "width must be a number. Received: width=True"),
    (dict(blocks="2"), TypeError, "blocks must be a number. Received: blocks='2'"),
    (dict(width=float("nan")), ValueError, "width must be finite. Received: width=nan"),
    (dict(strides=float("inf")), ValueError, "strides must be finite. Received: strides=inf"),
    (dict(blocks=-float("inf")), ValueError, "blocks must be finite. Received: blocks=-inf"),
    (dict(strides=(1, 2), ceil_mode="yes"), TypeError, "ceil_mode must be True or False. Received: ceil_mode='yes'"),
])
def test_check_arguments_refuses_by_name(arguments, kind, message):
    with _raises(kind, message):
        r.check_arguments(_block, dict(units=4, **arguments))


def test_check_data_format_takes_either_layout_and_none_follows_keras():
    import keras

    assert r.check_data_format("channels_first") == "channels_first"
    assert r.check_data_format("channels_last") == "channels_last"
    before = keras.config.image_data_format()
    try:
        keras.config.set_image_data_format("channels_first")
        assert r.check_data_format(None) == "channels_first"
    finally:
        keras.config.set_image_data_format(before)
    assert r.check_data_format(None) == before
    for bad in ("NCHW", "channels-first", 1):
        with _raises(ValueError, f"data_format must be 'channels_last' or 'channels_first'. "
                                 f"Received: data_format={bad!r}"):
            r.check_data_format(bad)
