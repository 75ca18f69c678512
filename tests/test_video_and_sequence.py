"""Moving digits, the video clip pipeline on tfds mock data, and the causal TCN."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import SAMPLE_MNIST, run_recipe

import cnnzoo
from cnnzoo.data import idx, moving_digits, video
from cnnzoo.layers import LastTimeStep


@pytest.fixture(scope="module")
def digits():
    return idx.read_idx_split(SAMPLE_MNIST, "train")[0][..., 0]


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
        assert train.options().autotune.enabled is False  # fit deletes an iterator every epoch: no autotune wait
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


def write_video(path, frames):
    """An MPEG-4 video file of ``frames`` ((T, H, W, 3) uint8), as a user's camera would leave it."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def bar_video(t=12, direction=1):
    """A white bar sweeping right (1) or left (-1) over a black 48x64 frame."""
    frames = np.zeros((t, 48, 64, 3), np.uint8)
    for i in range(t):
        x = 4 * i if direction > 0 else 60 - 4 * i
        frames[i, :, x : x + 4] = 255
    return frames


def test_decode_video_file_and_frame_folder_give_the_frames(tmp_path):
    from PIL import Image

    frames = bar_video()
    write_video(tmp_path / "clip.avi", frames)
    decoded = video.decode_video(str(tmp_path / "clip.avi"))
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames).mean() < 8  # lossy codec, same picture
    assert [int(f[24].mean(axis=-1).argmax()) // 4 for f in decoded] == list(range(12))  # the bar moves right
    (tmp_path / "frames").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "frames" / f"{i:04d}.png")
    np.testing.assert_array_equal(video.decode_video(str(tmp_path / "frames")), frames)  # lossless, in order
    (tmp_path / "bad.avi").write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="cannot decode .*bad.avi"):
        video.decode_video(str(tmp_path / "bad.avi"))


def make_clip_folder(root, per_class=4):
    """root/left|right/: videos and one frame folder per class, plus a corrupt video and a stray file."""
    from PIL import Image

    for cls, direction in (("left", -1), ("right", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(per_class - 1):
            write_video(root / cls / f"v{i}.mp4", bar_video(10 + i, direction))
        (root / cls / "frames_clip").mkdir()
        for i, f in enumerate(bar_video(8, direction)):
            Image.fromarray(f).save(root / cls / "frames_clip" / f"{i}.jpg")
    (root / "left" / "broken.avi").write_bytes(b"\x00" * 100)
    (root / "right" / "notes.txt").write_text("not a clip")


def test_folder_clips_streams_videos_and_frame_folders(tmp_path, capfd):
    make_clip_folder(tmp_path / "clips")
    paths, labels, classes = video.list_clips(str(tmp_path / "clips"), "train", holdout=0.25)
    test_paths, test_labels, _ = video.list_clips(str(tmp_path / "clips"), "test", holdout=0.25)
    assert classes == ["left", "right"] and not set(paths) & set(test_paths)
    assert len(paths) + len(test_paths) == 9 and sorted(test_labels) == [0, 1]  # every class held out
    assert "notes.txt" in capfd.readouterr().err
    ds, classes = video.folder_clips(str(tmp_path / "clips"), "train", frames=4, stride=2, size=32, batch_size=2,
                                     holdout=0.25)
    batches = list(ds)
    assert all(b[0].shape[1:] == (4, 32, 32, 3) and b[1].shape[1:] == (2,) for b in batches)
    seen = sum(b[0].shape[0] for b in batches)
    broken_in_train = any("broken" in p for p in paths)
    # The corrupt video is reported and the next clip takes its place: not fatal, and the epoch keeps its
    # known length (the training engine needs it; dropping it left the pipeline's length unknown).
    assert seen == 2 * (len(paths) // 2)
    if broken_in_train:
        assert "broken.avi" in capfd.readouterr().err
    test = video.folder_clips(str(tmp_path / "clips"), "test", frames=4, stride=2, size=32, batch_size=8,
                              holdout=0.25)[0]
    a, b = next(iter(test))[0].numpy(), next(iter(test))[0].numpy()
    np.testing.assert_array_equal(a, b)  # centre clips: deterministic evaluation


def test_folder_clips_uses_ucf101_official_lists(tmp_path):
    root = tmp_path / "UCF101"
    make_clip_folder(root / "UCF-101", per_class=2)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 right\n2 left\n")  # the file's order, not alphabetical
    (lists / "trainlist01.txt").write_text("right/v0.mp4 1\nleft/frames_clip 2\n")
    (lists / "testlist01.txt").write_text("left/v0.mp4\nright/frames_clip\n")
    paths, labels, classes = video.list_clips(str(root), "test")
    assert classes == ["right", "left"] and labels == [1, 0] and paths[0].endswith("UCF-101/left/v0.mp4")
    with pytest.raises(Exception, match="testlist02.txt is missing"):
        video.list_clips(str(root), "test", fold=2)
    (lists / "trainlist01.txt").write_text("right/v9.mp4 1\n")
    with pytest.raises(Exception, match="1 of the 1 videos listed .* missing"):
        video.list_clips(str(root), "train")


def test_folder_clips_bad_input_names_the_argument(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'. Received: split='val'"):
        video.list_clips(str(tmp_path), "val")
    with pytest.raises(ValueError, match="not a folder. Received: data_dir="):
        video.list_clips(str(tmp_path / "nowhere"))
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="at least two; found 1"):
        (tmp_path / "only" / "one").mkdir()
        video.list_clips(str(tmp_path / "only"))
    write_video(tmp_path / "only" / "one" / "a.mp4", bar_video())
    (tmp_path / "only" / "two").mkdir()
    with pytest.raises(ValueError, match="two has no videos or frame folders"):
        video.list_clips(str(tmp_path / "only"))
    (tmp_path / "only" / "two" / "b.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="the train split of .* has no clips"):
        video.list_clips(str(tmp_path / "only"), "train", holdout=0.5)
    for cls in ("one", "two"):
        (tmp_path / "only" / cls / "c.mp4").write_bytes(b"")
    monkeypatch.setitem(__import__("sys").modules, "av", None)  # PyAV not installed
    with pytest.raises(ImportError, match="pip install av"):
        video.folder_clips(str(tmp_path / "only"), holdout=0.5)


@pytest.mark.slow
def test_ucf101_recipe_trains_on_a_local_folder_of_videos(tmp_path):

    make_clip_folder(tmp_path / "clips")
    result = run_recipe("video_ucf101", "--smoke", "--data-dir", str(tmp_path / "clips"), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on clips: test accuracy" in result.stdout and "MOCK" not in result.stdout
    import json

    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["dataset"]["classes"] == 2 and record["dataset"]["folder"] == str(tmp_path / "clips")
    both = run_recipe("video_ucf101", "--data-dir", "a", "--tfds-dir", "b")
    assert both.returncode == 2 and "exclusive" in both.stderr
