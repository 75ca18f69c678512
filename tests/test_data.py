"""Loaders on files written in each dataset's native format, truncated and corrupt
ones included; pipelines; the bundled sample; the offline error."""

import os

import numpy as np
import pytest
from helpers import write_cifar, write_mnist

from cnnzoo import data
from cnnzoo.data import cifar


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    ds = data.load_arrays("mnist", "test", data_dir=str(tmp_path))
    np.testing.assert_array_equal(ds.images[..., 0], arrays["test"][0])
    np.testing.assert_array_equal(ds.labels, arrays["test"][1])
    assert ds.source.startswith("data_dir:") and ds.images.shape == (20, 28, 28, 1)


def test_idx_truncated_and_corrupt_files_are_named(tmp_path):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    with pytest.raises(data.DatasetFileError, match="t10k-images-idx3-ubyte.*truncated"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))
    path.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(data.DatasetFileError, match="t10k-images-idx3-ubyte.*magic"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))
    gz = tmp_path / "g" / "train-images-idx3-ubyte.gz"
    write_mnist(tmp_path / "g")
    gz.write_bytes(gz.read_bytes()[:50])
    with pytest.raises(data.DatasetFileError, match="train-images-idx3-ubyte.gz"):
        data.load_arrays("mnist", "train", data_dir=str(tmp_path / "g"))


def _idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (">i2", 0x0B), (">i4", 0x0C),
                                        (">f4", 0x0D), (">f8", 0x0E)])
def test_read_idx_reads_every_type_and_unequal_dimensions(tmp_path, dtype, code):
    from cnnzoo.data.idx import read_idx

    array = (np.arange(3 * 5 * 7) % 100).astype(dtype).reshape(3, 5, 7)  # every dimension different
    (tmp_path / "a").write_bytes(_idx_bytes(array, code))
    out = read_idx(str(tmp_path / "a"), expected_ndim=3)
    assert out.shape == (3, 5, 7) and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("header,match", [
    (b"\x01\x00\x08\x01", "magic number 01000801"),  # each magic byte checked on its own
    (b"\x00\x01\x08\x01", "magic number 00010801"),
    (b"\x00\x00\x07\x01", "magic number 00000701"),
    (b"\x00\x00\x08", "magic number 000008"),  # fewer than 4 bytes
])
def test_read_idx_names_each_bad_magic_number(tmp_path, header, match):
    from cnnzoo.data.idx import read_idx

    (tmp_path / "f").write_bytes(header + (bytes(4 + 3) if len(header) == 4 else b""))
    with pytest.raises(data.DatasetFileError, match=f"f: not an IDX file \\(bad {match}\\)"):
        read_idx(str(tmp_path / "f"))


def test_read_idx_checks_the_header_length_and_dimensions_to_the_byte(tmp_path):
    from cnnzoo.data.idx import read_idx

    path = tmp_path / "labels"
    empty = np.zeros((0,), np.uint8)
    path.write_bytes(_idx_bytes(empty))  # a header of exactly 4 + 4 bytes and no records: valid
    assert read_idx(str(path), expected_ndim=1).shape == (0,)
    path.write_bytes(_idx_bytes(empty)[:-1])  # one byte short of the header
    with pytest.raises(data.DatasetFileError, match="labels: truncated header"):
        read_idx(str(path))
    path.write_bytes(_idx_bytes(np.zeros((2, 3), np.uint8)))
    with pytest.raises(data.DatasetFileError, match="labels: expected 1 dimensions, the header says 2"):
        read_idx(str(path), expected_ndim=1)
    path.write_bytes(bytes([0, 0, 0x0B, 1]) + (4).to_bytes(4, "big") + bytes(6))  # 4 int16 records need 8 bytes
    with pytest.raises(data.DatasetFileError, match=r"header announces 4 records \(8 bytes\) but the file holds 6"):
        read_idx(str(path))
    path.write_bytes(bytes([0, 0, 0x08, 0]))  # a 4-byte file, no dimensions: refused, not an IndexError
    with pytest.raises(data.DatasetFileError, match="labels: the header declares no dimensions"):
        read_idx(str(path))
    path.write_bytes(bytes([0, 0, 0x08, 3]) + bytes(4 * 3 - 1))  # three dimensions need 12 bytes after the magic
    with pytest.raises(data.DatasetFileError, match="labels: truncated header"):
        read_idx(str(path))
    # each dimension is all four of its big-endian bytes (2**24 has only the first set); no records: valid
    path.write_bytes(bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in (2**24, 0, 2**24)))
    assert read_idx(str(path)).shape == (2**24, 0, 2**24)


def test_read_idx_split_checks_both_files_and_their_dimensions(tmp_path):
    from cnnzoo.data.idx import read_idx_split

    write_mnist(tmp_path, n=4, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").rename(tmp_path / "kept")
    with pytest.raises(FileNotFoundError, match="no t10k-images-idx3-ubyte\\[.gz\\] / t10k-labels-idx1-ubyte"):
        read_idx_split(str(tmp_path), "test")  # one of the two missing is enough
    with pytest.raises(data.DatasetNotFoundError, match="holds no mnist test split"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))
    (tmp_path / "kept").rename(tmp_path / "t10k-labels-idx1-ubyte")
    images = tmp_path / "t10k-images-idx3-ubyte"
    kept = images.read_bytes()
    images.write_bytes(_idx_bytes(np.zeros((4, 784), np.uint8)))  # images flattened: two dimensions
    with pytest.raises(data.DatasetFileError, match="expected 3 dimensions, the header says 2"):
        read_idx_split(str(tmp_path), "test")
    images.write_bytes(kept)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros((4, 1), np.uint8)))
    with pytest.raises(data.DatasetFileError, match="expected 1 dimensions, the header says 2"):
        read_idx_split(str(tmp_path), "test")


def test_labels_outside_0_to_9_are_named_with_the_first_one(tmp_path):
    write_mnist(tmp_path, n=20)
    from cnnzoo.data.idx import read_idx

    labels = read_idx(str(tmp_path / "t10k-labels-idx1-ubyte.gz"))
    bad = labels.copy()
    bad[[4, 9]] = [10, 10]  # 10: the first value past the range
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(bad))
    with pytest.raises(data.DatasetFileError, match=r"t10k-labels-idx1-ubyte: 2 labels outside 0..9 \(the first, 10, "
                                                    r"at record 4\)"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))


def test_mnist_images_must_be_bytes(tmp_path):
    write_mnist(tmp_path, n=4, gz=False)
    images = np.zeros((4, 28, 28), ">i2")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(images, 0x0B))
    with pytest.raises(data.DatasetFileError, match="t10k-images-idx3-ubyte: MNIST-format images are unsigned bytes, "
                                                    "this file holds >i2"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))


def test_idx_label_count_mismatch(tmp_path):
    write_mnist(tmp_path, n=20)
    other = tmp_path / "other"
    write_mnist(other, n=21)
    os.replace(other / "t10k-labels-idx1-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(data.DatasetFileError, match="20 images but.*21 labels"):
        data.load_arrays("mnist", "test", data_dir=str(tmp_path))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("fmt", ["pickle", "binary"])
def test_cifar_native_formats(tmp_path, name, fmt):
    written = write_cifar(str(tmp_path), name, fmt)
    for split in ("train", "test"):
        images, labels = cifar.read_cifar_split(str(tmp_path), name, split, check_count=False)
        np.testing.assert_array_equal(images, written[split][0])
        np.testing.assert_array_equal(labels, written[split][1])
    # Real files hold 50,000 / 10,000 records: a short file is caught by the count check.
    with pytest.raises(data.DatasetFileError, match="should have 10000 records"):
        data.load_arrays(name, "test", data_dir=str(tmp_path))


def test_cifar_corrupt_files_are_named(tmp_path):
    write_cifar(str(tmp_path), "cifar10", "binary")
    path = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(data.DatasetFileError, match="test_batch.bin.*whole number"):
        cifar.read_cifar_split(str(tmp_path), "cifar10", "test", check_count=False)
    write_cifar(str(tmp_path / "p"), "cifar10", "pickle")
    bad = tmp_path / "p" / "cifar-10-batches-py" / "test_batch"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(data.DatasetFileError, match="test_batch.*not a CIFAR python batch"):
        cifar.read_cifar_split(str(tmp_path / "p"), "cifar10", "test", check_count=False)


def test_real_cifar_sample_pixels_go_through_the_pipeline():
    """The 20 real CIFAR-10 test images shipped in shared/data, as a smoke of real pixels."""
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cifar_samples")
    if not os.path.isdir(folder):
        pytest.skip("shared/data/cifar_samples is not beside this checkout")
    import keras

    files = sorted(f for f in os.listdir(folder) if f.startswith("cifar10_"))
    images = np.stack([keras.utils.img_to_array(keras.utils.load_img(os.path.join(folder, f))) for f in files]).astype(np.uint8)
    labels = np.array([int(f.split("_")[-1].split(".")[0]) for f in files])
    ds = data.Dataset("cifar10", "test", images, labels, 10, "sample")
    batches = list(data.make_pipeline(ds, 8, training=True, augment=("crop", "flip"), seed=1))
    assert batches[0][0].shape == (8, 32, 32, 3) and batches[0][1].shape == (8, 10)
    assert 0.0 <= float(np.min(batches[0][0])) and float(np.max(batches[0][0])) <= 1.0


def test_pipeline_is_deterministic_under_a_seed(tmp_path):
    write_mnist(tmp_path, n=64)
    ds = data.load_arrays("mnist", "train", data_dir=str(tmp_path))

    def first_epoch(seed):
        pipe = data.make_pipeline(ds, 16, training=True, seed=seed, augment=("crop",), crop_padding=2)
        return np.concatenate([x.numpy() for x, _ in pipe])

    np.testing.assert_array_equal(first_epoch(3), first_epoch(3))
    assert not np.array_equal(first_epoch(3), first_epoch(4))
    batches = list(data.make_pipeline(ds, 10, training=True))
    assert len(batches) == 6  # drop_remainder for training
    assert len(list(data.make_pipeline(ds, 10, training=False))) == 7


def test_bundled_sample_and_offline_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DatasetNotFoundError, match="CNNZOO_DATA_DIR.*dataset-fashion-mnist.*manual"):
        data.load_arrays("mnist", "test")
    sample = data.load_arrays("fashion_mnist", "train", allow_sample=True)  # nothing given: the sample, announced
    assert sample.is_sample and len(sample) == 2000 and set(np.unique(sample.labels)) == set(range(10))
    assert "SMALL SAMPLE" in capsys.readouterr().err
    with pytest.raises(data.DatasetNotFoundError, match="data_dir holds no fashion_mnist"):  # a folder given: never
        data.load_arrays("fashion_mnist", "train", data_dir=str(empty), allow_sample=True)


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="svhn", split="train"), "name must be one of.*Received: name='svhn'"),
    (dict(name="mnist", split="validation"), "split.*Received: split='validation'"),
])
def test_bad_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_arrays(**kwargs)


def test_crop_and_flip_are_shifted_windows_of_the_padded_image():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (32, 6, 7, 2), dtype=np.uint8)  # no zeros: padding is recognizable
    ds = data.Dataset("toy", "train", images, np.arange(32) % 10, 10, "test")
    pipe = data.make_pipeline(ds, 8, training=True, augment=("crop", "flip"), crop_padding=2, one_hot=False, seed=5)
    shifts, flips = set(), 0
    for x, y in pipe:
        for out, label in zip(x.numpy(), y.numpy()):
            source = images[np.flatnonzero(np.arange(32) % 10 == label)] / 255.0
            padded = np.pad(source, [(0, 0), (2, 2), (2, 2), (0, 0)])
            matches = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (0, 1)
                       if any(np.allclose((p[dy:dy + 6, dx:dx + 7])[:, ::-1] if f else p[dy:dy + 6, dx:dx + 7], out)
                              for p in padded)]
            assert matches, "an augmented image is not a window of its padded source"
            shifts.add(matches[0][:2])
            flips += matches[0][2]
    assert len(shifts) > 5 and 0 < flips < 32  # offsets and flips differ between examples of a batch


def test_crops_start_at_every_offset_of_the_padding_on_both_axes():
    """pad 2 then crop: each window starts 0..4 pixels into the padded image, every one of them drawn."""
    images = np.full((256, 5, 5, 1), 200, np.uint8)  # no zeros: the padding's rows and columns show the offset
    ds = data.Dataset("toy", "train", images, np.zeros(256, np.int64), 10, "test")
    pipe = data.make_pipeline(ds, 64, training=True, augment=("crop",), crop_padding=2, seed=3)
    offsets = set()
    for x, _ in pipe:
        for out in x.numpy()[..., 0]:
            per_axis = []
            for filled in (out.any(axis=1), out.any(axis=0)):  # rows, then columns, holding image pixels
                first, last = int(np.argmax(filled)), len(filled) - 1 - int(np.argmax(filled[::-1]))
                per_axis.append(2 - first if first else 2 + (len(filled) - 1 - last))
            offsets.add(tuple(per_axis))
    assert {dy for dy, _ in offsets} == set(range(5)) and {dx for _, dx in offsets} == set(range(5))


def test_pipeline_without_background_threads_prefetches_nothing():
    """background=False prepares batches in the training loop's thread: tf.data's injected prefetch is off,
    and the pipeline's ops may use every core (0; tf.data's default, None, runs them on one) while the model waits.
    Autotuning is off either way (deleting an iterator, as fit does every epoch, waits for its thread)."""
    ds = data.Dataset("toy", "train", np.zeros((8, 4, 4, 1), np.uint8), np.arange(8), 10, "test")
    for background in (False, True):
        for training in (True, False):
            pipe = data.make_pipeline(ds, 2, training=training, augment=("crop",), background=background)
            assert pipe.options().experimental_optimization.inject_prefetch is (None if background else False)
            assert pipe.options().autotune.enabled is False
            assert pipe.options().threading.max_intra_op_parallelism == (None if background else 0)


def test_pipelines_prepare_batches_in_the_background_where_a_gpu_does_the_models_work(monkeypatch):
    """background=None: tf.data's threads ahead of the model when a GPU is visible, the loop's thread on a CPU."""
    import tensorflow as tf

    from cnnzoo.data import pipeline

    ds = data.Dataset("toy", "train", np.zeros((8, 4, 4, 1), np.uint8), np.arange(8), 10, "test")
    listed = tf.config.list_logical_devices
    for devices, background in (([], False), (["/device:GPU:0"], True)):
        monkeypatch.setattr(tf.config, "list_logical_devices",
                            lambda kind=None, devices=devices: devices if kind == "GPU" else listed(kind))
        assert pipeline.default_background() is background
        pipe = data.make_pipeline(ds, 2, training=True)
        assert pipe.options().threading.max_intra_op_parallelism == (None if background else 0)


@pytest.mark.parametrize("n,batch,per_call", [(37, 5, 3), (40, 8, 32), (9, 16, 1)])
def test_pipeline_blocks_cover_every_example_once(n, batch, per_call, monkeypatch):
    """Batches prepared several at a time: evaluation keeps order and the last partial batch; training
    (drop_remainder) sees each example at most once an epoch; in the background or not, the same batches."""
    from cnnzoo.data import pipeline

    monkeypatch.setattr(pipeline, "batches_per_call", lambda *a, **k: per_call)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 4, 3, 1), np.uint8)
    ds = data.Dataset("toy", "test", images, np.arange(n) % 10, 10, "test")
    evaluated = list(data.make_pipeline(ds, batch, training=False, one_hot=False))
    assert [len(y) for _, y in evaluated] == [batch] * (n // batch) + ([n % batch] if n % batch else [])
    np.testing.assert_array_equal(np.round(np.concatenate([x[:, 0, 0, 0] for x, _ in evaluated]) * 255), np.arange(n))
    for background in (False, True):
        trained = list(data.make_pipeline(ds, batch, training=True, seed=2, augment=("crop", "flip"),
                                          crop_padding=1, background=background, one_hot=False))
        assert [len(y) for _, y in trained] == [batch] * (n // batch)
        seen = np.concatenate([x[:, 1, 1, 0] for x, _ in trained] + [[]]) * 255  # no 1-pixel shift moves it out
        assert len(set(np.round(seen).astype(int))) == len(seen) == n // batch * batch
        if background:
            for (a, b), (c, d) in zip(trained, previous):  # noqa: F821 (set by the first pass)
                np.testing.assert_array_equal(a, c)
                np.testing.assert_array_equal(b, d)
        previous = trained  # noqa: F841
    kept = list(data.make_pipeline(ds, batch, training=True, drop_remainder=False))
    assert sum(len(y) for _, y in kept) == n


def test_crop_and_flip_need_images_and_other_arrays_stream_without_them():
    ds = data.Dataset("seq", "train", np.zeros((4, 10, 1), np.uint8), np.arange(4), 10, "test")
    for augment in (("crop",), ("flip",), ("flip", "mixup")):
        with pytest.raises(ValueError) as e:
            data.make_pipeline(ds, 2, training=True, augment=augment)
        assert str(e.value) == ("augment 'crop' and 'flip' need images (N, height, width, channels). Received: "
                                "dataset.images of shape (4, 10, 1)")
    (x, y), _ = _epoch(data.make_pipeline(ds, 2, training=True, seed=1, one_hot=False))  # sequences, no augment
    assert x.shape == (2, 10, 1) and sorted(y.tolist() + _[1].tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.0, "8", None])
def test_a_batch_size_that_is_no_positive_int_is_named(batch_size):
    with pytest.raises(ValueError) as e:
        data.make_pipeline(_toy(), batch_size, training=True)
    assert str(e.value) == f"batch_size must be a positive int. Received: batch_size={batch_size!r}"


def test_batches_of_one_and_unknown_augmentations():
    ds = _toy(n=3)
    assert [len(y) for _, y in _epoch(data.make_pipeline(ds, 1, training=True))] == [1, 1, 1]
    with pytest.raises(ValueError) as e:
        data.make_pipeline(ds, 1, training=True, augment=("crop", "jitter"))
    assert str(e.value) == ("augment entries must be in ('crop', 'flip', 'mixup', 'cutmix', 'randaugment'). "
                            "Received: augment=('crop', 'jitter')")


@pytest.mark.parametrize("augment", [("mixup",), ("cutmix",)])
def test_mixing_identical_images_changes_no_pixel(augment):
    """MixUp and CutMix run on [0, 1] images (x / 255, exactly), normalized after them: white mixed with white is
    white, (1 - mean) / std everywhere, whatever they draw."""
    images = np.full((8, 6, 6, 3), 255, np.uint8)
    ds = data.Dataset("white", "train", images, np.arange(8) % 4, 4, "test")
    x = np.concatenate([x for x, _ in data.make_pipeline(ds, 4, training=True, augment=augment, mean=0.5, std=0.25)])
    np.testing.assert_allclose(x, 2.0, rtol=0, atol=1e-6)


def test_randaugment_keeps_integer_labels_when_asked():
    """one_hot=False with RandAugment alone: integer labels (the mixers need one-hot ones, and make them)."""
    ds = _toy()
    (_, y), *_ = _epoch(data.make_pipeline(ds, 8, training=True, augment=("randaugment",), one_hot=False))
    assert y.shape == (8,) and np.issubdtype(y.dtype, np.integer)
    (_, y), *_ = _epoch(data.make_pipeline(ds, 8, training=True, augment=("randaugment", "mixup"), one_hot=False))
    assert y.shape == (8, 4)


def test_batches_per_call_stays_within_its_memory_budget():
    from cnnzoo.data.pipeline import batches_per_call

    assert batches_per_call(128, (28, 28, 1)) == 32
    assert batches_per_call(128, (32, 32, 3)) == 10  # 16 MiB of float32 blocks
    assert batches_per_call(64, (224, 224, 3)) == 1


@pytest.mark.parametrize("mean,std", [((0.5, 0.25, 0.1), (0.2, 0.3, 0.4)), (0.5, 0.25), (None, (1.0, 2.0, 4.0)),
                                      (np.full((6, 5, 3), 0.3), None), (None, None)])
def test_normalization_is_per_channel_or_broadcast(mean, std):
    """Per-channel mean/std are applied along flattened rows, uniform ones by one Dequantize (fast on CPU);
    the values are (x / 255 - mean) / std."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 6, 5, 3), dtype=np.uint8)
    ds = data.Dataset("toy", "test", images, np.arange(12) % 10, 10, "test")
    x = np.concatenate([x for x, _ in data.make_pipeline(ds, 4, training=False, mean=mean, std=std)])
    expected = (images / 255.0 - (0.0 if mean is None else np.asarray(mean))) / (1.0 if std is None else np.asarray(std))
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    # with a stateful layer, [0, 1] images are mixed batch by batch, then normalized
    mixed = np.concatenate([x for x, _ in data.make_pipeline(ds, 4, training=True, augment=("mixup",), mean=mean, std=std)])
    low, high = (np.array([0.0, 1.0])[:, None] - np.ravel(0.0 if mean is None else mean)[:3]) / np.ravel(
        1.0 if std is None else std)[:3]
    assert np.all(mixed >= low.min() - 1e-5) and np.all(mixed <= high.max() + 1e-5) and np.ptp(mixed) > 0


@pytest.mark.parametrize("kwargs,match", [
    (dict(mean=(0.1, 0.2)), r"mean must be .* broadcast to an example of shape \(6, 5, 3\). Received: mean=\(0.1, 0.2\)"),
    (dict(std=(1.0, 0.0, 1.0)), r"std must be positive. Received: std=\(1.0, 0.0, 1.0\)"),
    (dict(std=(0.5, 0.5)), r"^std must be a number or per-channel values that broadcast to an example of shape "
                           r"\(6, 5, 3\). Received: std=\(0.5, 0.5\)$"),
])
def test_bad_normalization_is_named(kwargs, match):
    ds = data.Dataset("toy", "test", np.zeros((4, 6, 5, 3), np.uint8), np.arange(4), 10, "test")
    with pytest.raises(ValueError, match=match):
        data.make_pipeline(ds, 2, training=False, **kwargs)


# ---- the CIFAR readers, check by check (docs/mutation.md) ----

def _py2_pickle(entries):
    """A python-2 style batch, as the real CIFAR files are: its keys are py2 strings (SHORT_BINSTRING), which
    only ``encoding="bytes"`` reads as the bytes keys the reader looks up."""
    import pickle

    body = b""
    for key, value in entries.items():
        body += b"U" + bytes([len(key)]) + key.encode() + pickle.dumps(value, protocol=2)[2:-1]
    return b"\x80\x02}(" + body + b"u."


def _pickle_batch(tmp_path, data, labels, key="labels"):
    import pickle

    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": data, key.encode(): labels}))
    return str(path)


def test_a_python_2_cifar_batch_is_read_with_bytes_keys(tmp_path):
    rows = [[i % 256] * 3072 for i in range(3)]
    (tmp_path / "batch").write_bytes(_py2_pickle({"data": rows, "labels": [0, 4, 9]}))
    images, labels = cifar.read_cifar_pickle(str(tmp_path / "batch"), "labels")
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8 and images[2].max() == 2
    assert labels.tolist() == [0, 4, 9] and labels.dtype == np.int64


@pytest.mark.parametrize("values,ok", [((0, 255), True), ((-1, 5), False), ((0, 256), False)])
def test_cifar_integer_images_must_be_bytes_at_both_ends(tmp_path, values, ok):
    pixels = np.zeros((2, 3072), np.int64)
    pixels[0, 0], pixels[1, -1] = values
    path = _pickle_batch(tmp_path, pixels, [1, 2])
    if ok:
        images, _ = cifar.read_cifar_pickle(path, "labels")
        assert images.dtype == np.uint8 and images[0, 0, 0, 0] == values[0] and images[1, -1, -1, -1] == values[1]
    else:
        with pytest.raises(data.DatasetFileError, match="CIFAR images are bytes 0..255; this batch holds int64"):
            cifar.read_cifar_pickle(path, "labels")


def test_cifar_pickle_checks_name_the_file(tmp_path):
    floats = _pickle_batch(tmp_path, np.full((2, 3072), 0.5), [1, 2])
    with pytest.raises(data.DatasetFileError, match="batch: CIFAR images are bytes 0..255; this batch holds float64"):
        cifar.read_cifar_pickle(floats, "labels")
    missing = _pickle_batch(tmp_path, np.zeros((2, 3072), np.uint8), [1, 2], key="fine_labels")
    with pytest.raises(data.DatasetFileError, match="batch: missing 'data' or 'labels' entries"):
        cifar.read_cifar_pickle(missing, "labels")
    narrow = _pickle_batch(tmp_path, np.zeros((2, 3000), np.uint8), [1, 2])
    with pytest.raises(data.DatasetFileError, match=r"batch: expected rows of 3072 bytes, found shape \(2, 3000\)"):
        cifar.read_cifar_pickle(narrow, "labels")
    counts = _pickle_batch(tmp_path, np.zeros((2, 3072), np.uint8), [1, 2, 3])
    with pytest.raises(data.DatasetFileError, match="batch: 2 images but 3 labels"):
        cifar.read_cifar_pickle(counts, "labels")
    (tmp_path / "batch").write_bytes(b"not a pickle")
    with pytest.raises(data.DatasetFileError, match=r"batch: not a CIFAR python batch \(UnpicklingError: "):
        cifar.read_cifar_pickle(str(tmp_path / "batch"), "labels")


def test_cifar_binary_records_are_whole_and_read_the_right_label_byte(tmp_path):
    path = tmp_path / "b.bin"
    path.write_bytes(b"")
    with pytest.raises(data.DatasetFileError, match="b.bin: 0 bytes is not a whole number of 3074-byte records"):
        cifar.read_cifar_binary(str(path), 2, 1)
    rows = np.zeros((2, 3074), np.uint8)
    rows[:, 0], rows[:, 1], rows[1, 2] = (3, 4), (17, 99), 7  # coarse, fine labels, then pixels
    path.write_bytes(rows.tobytes())
    images, labels = cifar.read_cifar_binary(str(path), 2, 1)
    assert labels.tolist() == [17, 99] and labels.dtype == np.int64 and images[1, 0, 0, 0] == 7
    assert images.shape == (2, 32, 32, 3)


@pytest.mark.parametrize("name,label,ok", [("cifar10", 9, True), ("cifar10", 10, False), ("cifar10", -1, False),
                                           ("cifar100", 99, True), ("cifar100", 100, False)])
def test_cifar_split_labels_must_be_classes(tmp_path, name, label, ok):
    write_cifar(tmp_path, name, "pickle", n_per_file=2)
    folder, train, test, key, _ = cifar.CIFAR_PICKLE[name]
    import pickle

    path = tmp_path / folder / test[0]
    batch = pickle.loads(path.read_bytes())
    batch[key.encode()] = [label, 0]
    path.write_bytes(pickle.dumps(batch))
    if ok:
        assert cifar.read_cifar_split(str(tmp_path), name, "test", check_count=False)[1][0] == label
    else:
        classes = 10 if name == "cifar10" else 100
        with pytest.raises(data.DatasetFileError, match=f"labels outside 0..{classes - 1}$"):
            cifar.read_cifar_split(str(tmp_path), name, "test", check_count=False)
    with pytest.raises(data.DatasetFileError, match=f"{name} test should have 10000 records, the files hold 2"):
        cifar.read_cifar_split(str(tmp_path), name, "test")  # the count is checked by default


def test_cifar_binary_batches_are_found_when_no_pickles_are(tmp_path):
    written = write_cifar(tmp_path, "cifar100", "binary", n_per_file=3)
    images, labels = cifar.read_cifar_split(str(tmp_path), "cifar100", "test", check_count=False)
    np.testing.assert_array_equal(labels, written["test"][1])
    np.testing.assert_array_equal(images, written["test"][0])


def test_a_cifar_folder_without_batches_says_which_folders_were_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no cifar-100-python/ or cifar-100-binary/ batches for the train"):
        cifar.read_cifar_split(str(tmp_path), "cifar100", "train")


def _toy(n=16, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return data.Dataset("toy", "train", images, np.arange(n) % 4, 4, "test")


def _epoch(pipe):
    return [(np.asarray(x), np.asarray(y)) for x, y in pipe]


@pytest.mark.parametrize("augment", [("mixup",), ("cutmix",), ("randaugment",)])
def test_keras_random_augmentations_apply_reproducibly_from_the_seed_in_range_and_normalized_after(augment):
    ds = _toy()
    plain = _epoch(data.make_pipeline(ds, 8, training=True, seed=5))
    first = _epoch(data.make_pipeline(ds, 8, training=True, seed=5, augment=augment))
    again = _epoch(data.make_pipeline(ds, 8, training=True, seed=5, augment=augment))
    other = _epoch(data.make_pipeline(ds, 8, training=True, seed=6, augment=augment))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))  # another seed, other draws
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, plain))  # the layer ran
    images = np.concatenate([x for x, _ in first])
    assert images.min() >= 0.0 and images.max() <= 1.0 + 1e-6  # in RandAugment's and the mixers' [0, 1]
    labels = np.concatenate([y for _, y in first])
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-5)  # one-hot, or mixed: still sums to one
    if augment != ("randaugment",):
        assert (labels.max(axis=1) < 1.0).any()  # some labels mixed
    # the normalization comes after them: (x - mean) / std of the same draws
    normalized = _epoch(data.make_pipeline(ds, 8, training=True, seed=5, augment=augment, mean=-0.5, std=0.5))
    for (x, y), (z, w) in zip(first, normalized):  # a scale of 2 and an offset of 1: neither is skipped
        np.testing.assert_allclose(z, (x + 0.5) / 0.5, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y, w)


def test_mixup_and_cutmix_draw_apart_and_each_runs_when_asked():
    ds = _toy()
    both = _epoch(data.make_pipeline(ds, 8, training=True, seed=5, augment=("mixup", "cutmix")))
    mixup = _epoch(data.make_pipeline(ds, 8, training=True, seed=5, augment=("mixup",)))
    cutmix = _epoch(data.make_pipeline(ds, 8, training=True, seed=5, augment=("cutmix",)))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(both, mixup))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(both, cutmix))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(mixup, cutmix))


def test_the_pipelines_defaults_are_its_documented_ones():
    ds = _toy(size=12)
    default = _epoch(data.make_pipeline(ds, 8, training=True, augment=("crop",)))
    explicit = _epoch(data.make_pipeline(ds, 8, training=True, seed=0, augment=("crop",), crop_padding=4))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(default, explicit))
    # an evaluation pipeline: no counter, no augmentation (even when asked), the examples in order
    evaluation = data.make_pipeline(ds, 8, training=False, augment=("crop", "flip", "mixup"))
    assert evaluation.epoch_counter is None
    x = np.concatenate([b[0] for b in _epoch(evaluation)])
    np.testing.assert_allclose(x, ds.images / 255.0, rtol=1e-6)
    # drop_remainder given is taken as given
    assert [len(y) for _, y in _epoch(data.make_pipeline(_toy(n=10), 4, training=False, drop_remainder=True))] \
        == [4, 4]
    assert [len(y) for _, y in _epoch(data.make_pipeline(_toy(n=10), 4, training=True, drop_remainder=False))] \
        == [4, 4, 2]


def test_flips_alone_are_exact_mirrors_never_shifted():
    ds = _toy(n=8, size=6, channels=1)
    (x, _), = _epoch(data.make_pipeline(ds, 8, training=True, seed=1, augment=("flip",), one_hot=False))
    order = data.make_pipeline(ds, 8, training=True, seed=1).epoch_counter.order.numpy()
    originals, seen = ds.images[order].astype(int), np.round(x * 255).astype(int)
    mirrored = [np.array_equal(s, o[:, ::-1]) and not np.array_equal(s, o) for s, o in zip(seen, originals)]
    kept = [np.array_equal(s, o) for s, o in zip(seen, originals)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_a_fresh_pipeline_reads_epoch_zero_as_one_set_to_it_does():
    ds = _toy()
    fresh = data.make_pipeline(ds, 8, training=True, seed=3)
    first_pass = _epoch(fresh)
    again = data.make_pipeline(ds, 8, training=True, seed=3)
    again.epoch_counter.set(0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first_pass, _epoch(again)))
    second_pass = _epoch(fresh)  # a new pass by itself: the next epoch, another order
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first_pass, second_pass))
    set_twice = data.make_pipeline(ds, 8, training=True, seed=3)
    set_twice.epoch_counter.set(1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(second_pass, _epoch(set_twice)))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(second_pass, _epoch(set_twice)))  # then moves on


def test_after_the_engines_callback_ends_a_pass_of_its_own_moves_on_again():
    ds = _toy()
    pipe = data.make_pipeline(ds, 8, training=True, seed=3)
    callback = pipe.epoch_counter.callback()
    callback.on_train_begin()
    callback.on_epoch_begin(4)
    driven = _epoch(pipe)
    assert pipe.epoch_counter.variable.numpy() == 4
    # driven, a pass is Keras's epoch's: another pass in it (no epoch begun) reads epoch 4 again, never 5
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(driven, _epoch(pipe)))
    assert pipe.epoch_counter.variable.numpy() == 4
    callback.on_train_end()
    after = _epoch(pipe)  # no callback now: this pass begins epoch 5
    assert pipe.epoch_counter.variable.numpy() == 5
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(driven, after))


def test_a_pipeline_tells_its_run_folder_what_it_reads_and_every_setting():
    """``cnnzoo_identity()``: what a run folder records to tell this pipeline from another (cnnzoo.training.run_folder)
    : the data's name, split, size and content, and every setting that changes a batch; computed once."""
    from cnnzoo.files import array_fingerprint

    ds = _toy()
    pipe = data.make_pipeline(ds, 8, training=True, seed=3, augment=("crop", "flip"), crop_padding=2,
                              mean=(0.5, 0.25, 0.0), std=0.25)
    identity = pipe.cnnzoo_identity()
    assert identity == {"kind": "arrays", "dataset": "toy", "split": "train", "examples": 16,
                        "fingerprint": array_fingerprint(ds.images, ds.labels), "batch_size": 8, "training": True,
                        "seed": 3, "augment": ["crop", "flip"], "crop_padding": 2, "mean": [0.5, 0.25, 0.0],
                        "std": [0.25]}
    assert pipe.cnnzoo_identity() is identity  # computed once
    evaluation = data.make_pipeline(ds, 4, training=False, augment=("crop",)).cnnzoo_identity()
    assert (evaluation["training"], evaluation["augment"], evaluation["crop_padding"], evaluation["mean"],
            evaluation["std"], evaluation["batch_size"]) == (False, [], 0, None, None, 4)
    relabelled, repainted = _toy(), _toy()
    relabelled.labels[0] += 1
    repainted.images[0, 0, 0, 0] ^= 1
    fingerprints = {data.make_pipeline(d, 8, training=True).cnnzoo_identity()["fingerprint"]
                    for d in (ds, relabelled, repainted)}
    assert len(fingerprints) == 3  # one label or one pixel is other data
