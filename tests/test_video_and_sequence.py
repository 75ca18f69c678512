"""Moving digits, the video clip pipeline on tfds mock data, and the causal TCN."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import cnnzoo
from cnnzoo.data import moving_digits, native, video
from cnnzoo.layers import LastTimeStep
from test_recipes import SAMPLE_MNIST


@pytest.fixture(scope="module")
def digits():
    return native.read_idx_split(SAMPLE_MNIST, "train")[0][..., 0]


def test_moving_digits_shapes_balance_and_determinism(digits):
    clips, labels = moving_digits.generate(digits, 50, seed=3)
    assert clips.shape == (50, 16, 64, 64, 1) and clips.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [5] * 10
    again, labels2 = moving_digits.generate(digits, 50, seed=3)
    np.testing.assert_array_equal(clips, again)
    np.testing.assert_array_equal(labels, labels2)
    assert not np.array_equal(clips, moving_digits.generate(digits, 50, seed=4)[0])
    assert all(clips[i].max() > 0 for i in range(50))  # the digit is on screen


def centroid(frame):
    ys, xs = np.nonzero(frame > 64)
    return np.array([ys.mean(), xs.mean()]), (frame > 64).sum()


@pytest.mark.parametrize("motion,check", [
    (0, lambda d, a: d[1] < -5), (1, lambda d, a: d[1] > 5), (2, lambda d, a: d[0] < -5),
    (3, lambda d, a: d[0] > 5), (4, lambda d, a: d[0] > 3 and d[1] > 3), (5, lambda d, a: d[0] < -3 and d[1] < -3),
    (8, lambda d, a: a > 1.5), (9, lambda d, a: a < 0.67),
])
def test_motions_move_the_digit_the_way_their_name_says(digits, motion, check):
    rng = np.random.default_rng(0)
    for i in range(5):
        clip = moving_digits.render_clip(digits[i], motion, rng)
        (c0, a0), (c1, a1) = centroid(clip[0]), centroid(clip[-1])
        assert check(c1 - c0, a1 / a0), (motion, c1 - c0, a1 / a0)


def test_circles_turn_in_opposite_directions(digits):
    rng = np.random.default_rng(0)
    turns = {}
    for motion in (6, 7):
        clip = moving_digits.render_clip(digits[0], motion, rng)
        pts = np.array([centroid(f)[0] for f in clip])
        centre = pts.mean(axis=0)
        angles = np.unwrap(np.arctan2(pts[:, 0] - centre[0], pts[:, 1] - centre[1]))
        turns[motion] = angles[-1] - angles[0]
    assert turns[6] > 1 and turns[7] < -1  # clockwise on screen: y down, angle grows


def test_moving_digits_dataset_from_real_digits():
    ds = moving_digits.load("test", 20, data_dir=SAMPLE_MNIST, frames=8, size=32)
    assert ds.images.shape == (20, 8, 32, 32, 1) and ds.num_classes == 10 and "generated" in ds.source


def test_ucf101_clip_pipeline_on_mock_data():
    with tfds.testing.mock_data(num_examples=6):
        train = video.ucf101("train", frames=4, stride=2, size=32, batch_size=3, seed=0)
        clips, labels = next(iter(train))
        assert clips.shape == (3, 4, 32, 32, 3) and labels.shape == (3, 101)
        test = video.ucf101("test", frames=4, stride=2, size=32, batch_size=2)
        a = next(iter(test))[0].numpy()
        b = next(iter(video.ucf101("test", frames=4, stride=2, size=32, batch_size=2)))[0].numpy()
        np.testing.assert_array_equal(a, b)  # centre clips and crops: deterministic


def test_clip_sampling_strides_and_loops():
    vid = tf.reshape(tf.cast(tf.range(10), tf.uint8), (10, 1, 1, 1))
    centre = video.sample_clip(vid, 4, 2, training=False, seed=tf.constant([0, 0], tf.int64))
    assert centre.numpy().ravel().tolist() == [1, 3, 5, 7]
    short = video.sample_clip(vid[:3], 5, 1, training=False, seed=tf.constant([0, 0], tf.int64))
    assert short.numpy().ravel().tolist() == [0, 1, 2, 0, 1]


def test_tcn_is_causal_and_reads_the_last_step():
    model = cnnzoo.tcn(input_shape=(64, 1), levels=3, channels=8, kernel_size=3, include_top=False)
    x = np.random.default_rng(0).normal(size=(1, 64, 1)).astype("float32")
    y = model.predict(x, verbose=0)
    x2 = x.copy()
    x2[0, 40:] += 5.0  # change only the future of step 39
    y2 = model.predict(x2, verbose=0)
    np.testing.assert_allclose(y[0, :40], y2[0, :40], atol=1e-5)
    assert not np.allclose(y[0, 40:], y2[0, 40:])
    field = cnnzoo.summary(model).rows[-1].receptive_field[0]
    assert field.size == 3 + 2 * 2 * (2**3 - 1) and field.start == -(field.size - 1) / 2  # ends at the present
    assert LastTimeStep()(keras.KerasTensor((None, 5, 3))).shape == (None, 3)
    with pytest.raises(ValueError, match="sequence network"):
        cnnzoo.tcn(input_shape=(28, 28, 1))
