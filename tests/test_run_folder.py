"""A run folder knows what made it (cnnzoo.training.run_folder): resuming needs every setting, the model and the
data to match; anything else is refused naming the keys that differ, and --overwrite moves the old run aside. No
silent fallback replaces a data folder the user gave, and nothing trains for zero epochs."""

import json
import os
import re

import numpy as np
import pytest
from helpers import digits_folder

import cnnzoo
from cnnzoo import data
from cnnzoo.training import TrainConfig, fit, run_folder
from cnnzoo.training.finetune import FinetuneConfig, finetune
from cnnzoo.training.run_folder import RunFolderError

# ---- claim, the mechanism ----

IDENTITY = {"model": "lenet5", "architecture": "abc", "train": {"lr": 0.1, "epochs": 2}, "data": {"fp": "1"}}


def test_a_folder_is_claimed_resumed_for_the_same_identity_and_refused_for_another(tmp_path):
    out = tmp_path / "run"
    assert run_folder.claim(str(out), IDENTITY) == "new"
    (out / "final.keras").write_text("the first run's model")
    assert run_folder.claim(str(out), json.loads(json.dumps(IDENTITY))) == "same"
    other = {**IDENTITY, "train": {"lr": 0.05, "epochs": 2}, "data": {"fp": "2"}}
    with pytest.raises(RunFolderError) as e:
        run_folder.claim(str(out), other)
    message = str(e.value)
    # every differing key, both values, and the two ways out; nothing touched
    assert "train.lr: 0.1 there, 0.05 now" in message and "data.fp: '1' there, '2' now" in message
    assert "train.epochs" not in message and "--overwrite" in message and "--out" in message
    assert (out / "final.keras").read_text() == "the first run's model"
    assert run_folder.read(str(out)) == IDENTITY


def test_overwrite_moves_the_old_run_aside_and_never_deletes_it(tmp_path):
    out = tmp_path / "run"
    run_folder.claim(str(out), IDENTITY)
    (out / "final.keras").write_text("kept")
    moved = run_folder.claim(str(out), {**IDENTITY, "model": "alexnet"}, overwrite=True)
    assert moved.startswith(str(out) + ".old-") and open(os.path.join(moved, "final.keras")).read() == "kept"
    assert run_folder.read(moved) == IDENTITY and run_folder.read(str(out))["model"] == "alexnet"
    assert os.listdir(out) == ["run.json"]
    # --overwrite means start afresh: the same settings are moved aside too, under another name
    again = run_folder.claim(str(out), {**IDENTITY, "model": "alexnet"}, overwrite=True)
    assert again != moved and os.path.isdir(again) and os.path.isdir(moved)


def test_a_folder_without_a_record_is_refused_and_one_of_other_files_is_never_moved(tmp_path):
    old = tmp_path / "old_run"
    old.mkdir()
    (old / "results.json").write_text("{}")
    with pytest.raises(RunFolderError, match="no record of its settings"):
        run_folder.claim(str(old), IDENTITY)
    assert run_folder.claim(str(old), IDENTITY, overwrite=True).startswith(str(old) + ".old-")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="holds no cnnzoo run"):
            run_folder.claim(str(mine), IDENTITY, overwrite=overwrite)
    assert os.listdir(mine) == ["notes.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(RunFolderError, match="is a file"):
        run_folder.claim(str(tmp_path / "file"), IDENTITY)


def test_runs_of_its_own_inside_a_folder_do_not_make_it_another_run(tmp_path):
    """A recipe's baseline trains in <out>/keras_io_convnet before the recipe's own run claims <out>."""
    run_folder.claim(str(tmp_path / "out" / "baseline"), IDENTITY)
    assert run_folder.claim(str(tmp_path / "out"), {**IDENTITY, "model": "other"}) == "new"


def test_the_architecture_fingerprint_tells_networks_apart_and_ignores_names_and_freezing():
    a, b = cnnzoo.lenet5(input_shape=(28, 28, 1)), cnnzoo.lenet5(input_shape=(28, 28, 1))
    assert run_folder.architecture_fingerprint(a) == run_folder.architecture_fingerprint(b)
    for layer in b.layers[:3]:
        layer.trainable = False
    assert run_folder.architecture_fingerprint(a) == run_folder.architecture_fingerprint(b)
    for other in (cnnzoo.lenet5(input_shape=(32, 32, 1)), cnnzoo.lenet5(input_shape=(28, 28, 1), classes=3),
                  cnnzoo.lenet5(input_shape=(28, 28, 1), activation="tanh")):
        assert run_folder.architecture_fingerprint(other) != run_folder.architecture_fingerprint(a)


@pytest.mark.keras_free
def test_an_unreadable_record_worker_scratch_folders_and_long_lists_are_said_plainly(tmp_path, capsys):
    out = tmp_path / "run"
    run_folder.claim(str(out), IDENTITY)
    (out / "worker_123").mkdir()  # another worker's scratch folder, made before the chief claims
    assert run_folder.claim(str(out), IDENTITY) == "same"
    (out / "run.json").write_text("{")
    with pytest.raises(RunFolderError, match=r"run.json cannot be read \(JSONDecodeError: "):
        run_folder.claim(str(out), IDENTITY)
    many = {**IDENTITY, "train": {f"k{i}": i for i in range(10)}}
    (out / "run.json").unlink()
    run_folder.claim(str(out), IDENTITY, overwrite=True)
    with pytest.raises(RunFolderError) as e:
        run_folder.claim(str(out), many)
    assert str(e.value).count(" there, ") == 8 and "; ...)" in str(e.value)
    assert str(e.value).startswith(f"{out} holds a run made with other settings (train.epochs: 2 there, "
                                   "'(absent)' now; train.k0: '(absent)' there, 0 now;")
    assert str(e.value).endswith(f"Its files were left as they are. Give another output folder (--out / out_dir=), "
                                 f"or overwrite it (--overwrite / overwrite=True), which moves the old run aside to "
                                 f"{out}.old-<time> rather than deleting it.")
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    for name in "abcdef":
        (crowded / name).write_text("")
    with pytest.raises(RunFolderError, match=re.escape(f"the output folder {crowded} is not empty and holds no cnnzoo "
                                                       "run (a, b, c, d, e...): give a new or empty folder")):
        run_folder.claim(str(crowded), IDENTITY)
    record = json.loads((out / "run.json").read_text())
    assert record == {"version": 1, "identity": IDENTITY}
    capsys.readouterr()


@pytest.mark.keras_free
@pytest.mark.parametrize("differing, shown, more", [(2, 2, False), (8, 8, False), (9, 8, True)])
def test_up_to_eight_differences_are_shown_and_more_said_to_exist(tmp_path, differing, shown, more):
    out = tmp_path / "run"
    run_folder.claim(str(out), {"train": {f"k{i}": 0 for i in range(9)}})
    with pytest.raises(RunFolderError) as e:
        run_folder.claim(str(out), {"train": {f"k{i}": int(i < differing) for i in range(9)}})
    message = str(e.value)
    assert message.count(" there, ") == shown
    assert (f"train.k{shown - 1}: 0 there, 1 now; ...). Its files" in message) is more
    assert (f"train.k{shown - 1}: 0 there, 1 now). Its files" in message) is not more


@pytest.mark.keras_free
@pytest.mark.parametrize("names, listed", [("abcde", "a, b, c, d, e"), ("ab", "a, b")])
def test_a_folder_of_a_few_other_files_is_named_in_full(tmp_path, names, listed):
    for name in names:
        (tmp_path / name).write_text("")
    with pytest.raises(RunFolderError, match=re.escape(f"holds no cnnzoo run ({listed}): give a new")):
        run_folder.claim(str(tmp_path), IDENTITY)


@pytest.mark.keras_free
def test_folders_inside_are_a_users_unless_they_are_runs_or_worker_scratch(tmp_path):
    import pathlib

    photos = tmp_path / "photos"
    (photos / "holiday").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="holds no cnnzoo run \\(holiday\\)"):
        run_folder.claim(str(photos), IDENTITY)
    older = tmp_path / "older"
    (older / "backup").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="no record of its settings"):
        run_folder.claim(str(older), IDENTITY)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "worker_notes.txt").write_text("a file, not a worker's folder")
    with pytest.raises(RunFolderError, match="holds no cnnzoo run \\(worker_notes.txt\\)"):
        run_folder.claim(str(notes), IDENTITY)
    assert os.listdir(photos) == ["holiday"] and not (older / "run.json").exists()
    # values JSON has no form for are recorded as their text, and compare as such
    path_identity = {**IDENTITY, "data": {"folder": pathlib.Path("/data/x"), "mean": np.float32(0.5)}}
    assert run_folder.claim(str(tmp_path / "run"), path_identity) == "new"
    assert run_folder.read(str(tmp_path / "run"))["data"] == {"folder": "/data/x", "mean": "0.5"}
    assert run_folder.claim(str(tmp_path / "run"), path_identity) == "same"


@pytest.mark.keras_free
def test_move_aside_moves_only_a_folder_with_files_and_never_onto_another(tmp_path, capsys, monkeypatch):
    import datetime

    class Clock:  # every move within the same second
        class datetime:
            @staticmethod
            def now():
                return datetime.datetime(2026, 12, 5, 3, 4, 5)

    monkeypatch.setattr(run_folder, "datetime", Clock)
    assert run_folder.move_aside(str(tmp_path / "missing")) is None
    (tmp_path / "empty").mkdir()
    assert run_folder.move_aside(str(tmp_path / "empty")) is None and (tmp_path / "empty").is_dir()
    moved = []
    for _ in range(3):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "log.csv").write_text("x")
        moved.append(run_folder.move_aside(str(tmp_path / "run")))
    stamp = str(tmp_path / "run") + ".old-20261205-030405"
    assert moved == [stamp, stamp + "-2", stamp + "-3"]
    assert all(os.path.isfile(os.path.join(m, "log.csv")) for m in moved) and not (tmp_path / "run").exists()
    err = capsys.readouterr().err
    assert f"cnnzoo: --overwrite: the earlier run in {tmp_path / 'run'} was moved to {moved[0]}\n" in err


@pytest.mark.keras_free
def test_identities_differ_by_dotted_keys_and_the_settings_that_decide_nothing_are_left_out():
    recorded = {"train": {"lr": 0.1, "milestones": (1, 2), "extra": {}}, "data": {"fp": "1"}}
    now = {"train": {"lr": 0.1, "milestones": [1, 2], "new": 3}, "data": {"fp": "2"}, "model": "x"}
    assert run_folder.differences(recorded, now) == [
        ("data.fp", "1", "2"), ("model", "(absent)", "x"), ("train.extra", {}, "(absent)"),
        ("train.new", "(absent)", 3)]
    assert run_folder.differences(recorded, recorded) == []
    values = {"lr": 0.1, "tensorboard": True, "steps_per_execution": 4, "jit_compile": True, "deterministic": True,
              "verbose": 2, "epochs": 3}
    assert run_folder.deciding(values) == {"lr": 0.1, "epochs": 3}
    assert run_folder.deciding(values, leave_out=("lr",)) == {k: v for k, v in values.items() if k != "lr"}


@pytest.mark.keras_free
def test_data_is_identified_by_its_arrays_or_by_what_it_says_of_itself():
    x, y = np.arange(12, dtype="float32").reshape(6, 2), np.arange(6) % 2
    same = run_folder.data_identity((x.copy(), y.copy()))
    assert same == run_folder.data_identity((x, y)) and same["kind"] == "arrays" and same["examples"] == 6
    assert run_folder.data_identity((x + 1, y))["fingerprint"] != same["fingerprint"]
    assert run_folder.data_identity((x, 1 - y))["fingerprint"] != same["fingerprint"]
    assert run_folder.data_identity(None) is None

    class Described:
        def cnnzoo_identity(self):
            return {"kind": "folder", "files": "abc"}

    class Batches:
        element_spec = "(x, y)"

        def __len__(self):
            return 7

    class Endless:
        pass

    assert run_folder.data_identity(Described()) == {"kind": "folder", "files": "abc"}
    assert run_folder.data_identity(Batches()) == {"kind": "Batches", "element_spec": "(x, y)", "batches": 7}
    assert run_folder.data_identity(Endless()) == {"kind": "Endless"}


def test_the_fingerprint_sees_layer_classes_and_list_settings_but_not_automatic_names():
    import keras

    def net(pool=keras.layers.MaxPooling2D, strides=(1, 1)):
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, strides=strides), pool(2)])

    first, second = net(), net()  # conv2d / conv2d_1: Keras numbers automatic names per process
    assert first.layers[0].name != second.layers[0].name
    assert run_folder.architecture_fingerprint(first) == run_folder.architecture_fingerprint(second)
    assert run_folder.architecture_fingerprint(net(pool=keras.layers.AveragePooling2D)) != \
        run_folder.architecture_fingerprint(first)  # the same config and weights, another class
    assert run_folder.architecture_fingerprint(net(strides=(2, 2))) != run_folder.architecture_fingerprint(first)


def _blocks_with(initializer):
    """A small network of every cnnzoo block that takes a kernel initializer, each given ``initializer``."""
    import keras

    from cnnzoo import layers

    images = keras.Input((16, 16, 4))
    x = layers.InceptionModule(2, 2, 2, 2, 2, 2, kernel_initializer=initializer)(images)
    x = layers.BasicBlock(4, kernel_initializer=initializer)(x)
    x = layers.ConvNormAct(4, 3, kernel_initializer=initializer)(x)
    x = layers.ConnectionTableConv([[0, 1], [1, 2]], 3, kernel_initializer=initializer)(x)
    clips = keras.Input((4, 8, 8, 3))
    y = layers.Conv2Plus1D(4, kernel_initializer=initializer)(clips)
    return keras.Model([images, clips], [x, y])


def test_blocks_given_initializer_objects_fingerprint_the_same_every_build():
    """An initializer object in a block's config made the fingerprint hold its address: R(2+1)D-18's (its
    Conv2Plus1D got ConvNormAct's HeNormal object) differed every build, so a rerun of the same command into its
    folder was refused as another run's. The configs hold them serialized, and load back as they were."""
    import keras

    from cnnzoo.layers.initializers import HeNormal

    for make in (lambda: HeNormal(seed=3), lambda: keras.initializers.GlorotUniform(seed=3), lambda: "he_normal"):
        first, second = _blocks_with(make()), _blocks_with(make())
        assert run_folder.architecture_fingerprint(first) == run_folder.architecture_fingerprint(second)
        blocks = [layer for layer in first.layers if not isinstance(layer, keras.layers.InputLayer)]
        assert len(blocks) == 5
        for layer in blocks:
            config = layer.get_config()
            json.dumps(config)  # no object left in it
            assert type(layer).from_config(config).get_config() == config
    assert run_folder.architecture_fingerprint(_blocks_with(HeNormal(seed=4))) != \
        run_folder.architecture_fingerprint(_blocks_with(HeNormal(seed=3)))  # the seed decides the first weights
    clips = dict(input_shape=(4, 32, 32, 3), classes=3)
    assert run_folder.architecture_fingerprint(cnnzoo.r2plus1d_18(**clips)) == \
        run_folder.architecture_fingerprint(cnnzoo.r2plus1d_18(**clips))


def test_a_config_value_json_cannot_hold_fingerprints_by_what_it_is_not_where_it_is():
    import keras

    class Setting:  # a user's object: its default text holds its address
        pass

    class Holder(keras.layers.Layer):
        def __init__(self, setting=None, **kwargs):
            super().__init__(**kwargs)
            self.setting = setting

        def get_config(self):
            return {**super().get_config(), "setting": self.setting}

    def net(setting):
        return keras.Sequential([keras.Input((3,)), Holder(setting)])

    assert run_folder.architecture_fingerprint(net(Setting())) == run_folder.architecture_fingerprint(net(Setting()))
    assert run_folder.architecture_fingerprint(net(keras.initializers.Constant(1.0))) != \
        run_folder.architecture_fingerprint(net(keras.initializers.Constant(2.0)))
    assert run_folder.architecture_fingerprint(net(np.float32(1.5))) == \
        run_folder.architecture_fingerprint(net("1.5"))  # as before: values with a plain text are that text


# ---- the engine, recipes, fine-tuning ----

def _dataset(seed=0, n=32):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 16, 16, 1), dtype=np.uint8)
    return data.Dataset("synthetic", "train", images, (np.arange(n) % 2).astype(np.int64), 2, "test")


def _fit(out, config=None, dataset=None, model=None, **kwargs):
    dataset = dataset or _dataset()
    model = model or cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2)
    config = config or TrainConfig(epochs=1, batch_size=16, steps_per_execution=1)
    return fit(model, data.make_pipeline(dataset, 16, training=True), data.make_pipeline(dataset, 32, training=False),
               config, str(out), verbose=0, **kwargs)


def test_a_runs_identity_is_its_model_resolved_config_data_what_the_data_says_and_the_callers_keys():
    from dataclasses import asdict

    from cnnzoo.training.engine import resolve, run_identity

    model = cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2)
    train, test = _dataset(), _dataset(seed=1, n=16)
    train_ds, test_ds = (train.images, train.labels), (test.images, test.labels)
    config = resolve(TrainConfig(epochs=1, batch_size=16), model)
    info = {"name": "synthetic", "classes": 2, "source": "/data/x", "strategy": "mirrored", "replicas": 2}
    identity = run_identity(model, config, train_ds, test_ds, info, {"finetune": {"freeze": True}})
    assert identity == {
        "model": "lenet5", "architecture": run_folder.architecture_fingerprint(model),
        "train": run_folder.deciding(asdict(config)),
        "data": {"train": run_folder.data_identity(train_ds), "test": run_folder.data_identity(test_ds),
                 "info": {"name": "synthetic", "classes": 2}},  # where it was read from and how: not deciding
        "finetune": {"freeze": True}}
    assert identity["data"]["train"] != identity["data"]["test"] and identity["data"]["train"]["examples"] == 32
    assert "lr" in identity["train"] and "steps_per_execution" not in identity["train"]
    plain = run_identity(model, config, train_ds, test_ds)
    assert set(plain) == {"model", "architecture", "train", "data"} and set(plain["data"]) == {"train", "test"}


def test_fit_refuses_a_folder_of_other_settings_model_or_data_and_resumes_for_what_decides_nothing(tmp_path):
    out = tmp_path / "run"
    _fit(out)
    identity = run_folder.read(str(out))
    assert set(identity) == {"model", "architecture", "train", "data"}
    assert identity["architecture"] == run_folder.architecture_fingerprint(
        cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2))
    assert identity["data"]["test"]["batch_size"] == 32 and identity["data"]["train"]["batch_size"] == 16
    assert identity["model"] == "lenet5" and identity["train"]["lr"] == 1e-3
    assert "steps_per_execution" not in identity["train"] and identity["data"]["train"]["fingerprint"]
    # what decides nothing about the result: the same run
    _fit(out, config=TrainConfig(epochs=1, batch_size=16, steps_per_execution=2, tensorboard=False))
    for changed, key in ((dict(config=TrainConfig(epochs=1, batch_size=16, lr=0.05)), "train.lr"),
                         (dict(config=TrainConfig(epochs=1, batch_size=16, label_smoothing=0.1)),
                          "train.label_smoothing"),
                         (dict(dataset=_dataset(seed=1)), "data.train.fingerprint"),
                         (dict(model=cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2, activation="tanh")),
                          "architecture")):
        with pytest.raises(RunFolderError) as e:
            _fit(out, **changed)
        assert f"{key}:" in str(e.value)
    record = _fit(out, config=TrainConfig(epochs=1, batch_size=16, lr=0.05), overwrite=True)
    assert record["config"]["lr"] == 0.05 and len([p for p in os.listdir(tmp_path) if ".old-" in p]) == 1


@pytest.mark.slow  # three recipe runs
def test_a_recipe_run_into_a_used_folder_with_other_settings_is_refused_in_one_line(tmp_path, cnnzoo_command):
    out = str(tmp_path / "r")
    cnnzoo.recipes.run("mnist_lenet5", out=out, smoke=True, verbose=0)
    with pytest.raises(RunFolderError, match=r"recipe\.augment: .* there, \['flip'\] now"):
        cnnzoo.recipes.run("mnist_lenet5", out=out, smoke=True, verbose=0, augment=("flip",))
    status = cnnzoo_command("train", "mnist_lenet5", "--smoke", "--out", out, "--lr", "0.05", "--verbose", "0")
    assert status.returncode == 2 and "train.lr: 0.002 there, 0.05 now" in status.stderr  # the recipe's lr, then
    assert "Traceback" not in status.stderr
    record = cnnzoo.recipes.run("mnist_lenet5", out=out, smoke=True, verbose=0, augment=("flip",), overwrite=True)
    assert record["recipe"]["config"]["augment"] == ("flip",) or record["recipe"]["config"]["augment"] == ["flip"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    digits_folder(root / "train", "train", (0, 1, 7), 10)
    return root / "train"


def _small_config(**kwargs):
    return FinetuneConfig(**{**dict(input_shape=(28, 28, 1), epochs_head=1, epochs_finetune=1, batch_size=8,
                                    val_split=0.3, verbose=0), **kwargs})


def test_finetune_refuses_other_settings_other_data_and_another_model_and_overwrite_starts_afresh(tmp_path, digits,
                                                                                                 cnnzoo_command):
    out = str(tmp_path / "ft")
    first = finetune("lenet5", str(digits), config=_small_config(), out_dir=out)
    again = finetune("lenet5", str(digits), config=_small_config(verbose=2), out_dir=out)  # same run: resumed
    assert again.validation_accuracy == first.validation_accuracy
    for model, config, key in (("lenet5", _small_config(lr_finetune=0.05), "config.lr_finetune"),
                               ("lenet5", _small_config(seed=1), "config.seed"),
                               ("alexnet", _small_config(input_shape=(64, 64, 1)), "model: 'lenet5' there")):
        with pytest.raises(RunFolderError) as e:
            finetune(model, str(digits), config=config, out_dir=out)
        assert key in str(e.value)
    (digits / "0" / "0.png").rename(digits / "0" / "renamed.png")
    try:
        with pytest.raises(RunFolderError, match="data.train.fingerprint"):
            finetune("lenet5", str(digits), config=_small_config(), out_dir=out)
    finally:
        (digits / "0" / "renamed.png").rename(digits / "0" / "0.png")
    status = cnnzoo_command("finetune", "--model", "lenet5", "--folder", str(digits), "--input-shape", "28x28x1",
                  "--epochs-head", "1", "--epochs-finetune", "1", "--batch-size", "8", "--val-split", "0.3",
                  "--lr-finetune", "0.05", "--out", out, "--verbose", "0")
    assert status.returncode == 2 and "config.lr_finetune: 0.0001 there, 0.05 now" in status.stderr
    changed = finetune("lenet5", str(digits), config=_small_config(lr_finetune=0.05), out_dir=out, overwrite=True)
    assert changed.record["config"]["lr_finetune"] == 0.05
    assert [p for p in os.listdir(tmp_path) if p.startswith("ft.old-")]


def test_finetune_from_random_weights_trains_the_whole_network_unless_told_to_freeze(digits, cnnzoo_command):
    base = cnnzoo.lenet5(input_shape=(28, 28, 1))
    first_kernel = np.asarray(base.weights[0]).copy()
    keras_model = cnnzoo.lenet5(input_shape=(28, 28, 1))
    keras_model.set_weights(base.get_weights())
    # a model of the user's own counts as trained: frozen in phase 1 (its first kernel untouched)
    frozen = finetune(keras_model, str(digits), config=_small_config(epochs_finetune=0))
    np.testing.assert_array_equal(np.asarray(frozen.model.weights[0]), first_kernel)
    assert frozen.record["frozen_in_head_phase"] > 0
    # by name without weights: random features; the whole network trains (and BatchNorm-free LeNet changes)
    whole = finetune("lenet5", str(digits), config=_small_config(epochs_finetune=0, seed=0))
    assert whole.record["frozen_in_head_phase"] == 0
    forced = finetune("lenet5", str(digits), config=_small_config(epochs_finetune=0, freeze_backbone=True))
    assert forced.record["frozen_in_head_phase"] > 0
    help_text = cnnzoo_command("finetune", "--help").stdout
    assert "--freeze-backbone" in help_text and "random" in help_text


@pytest.mark.parametrize("kwargs", [dict(epochs_head=0, epochs_finetune=0)])
def test_training_that_would_run_zero_epochs_is_refused(kwargs, tmp_path, digits, cnnzoo_command):
    with pytest.raises(ValueError, match="nothing would be trained"):
        FinetuneConfig(**kwargs)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        TrainConfig(epochs=0)
    status = cnnzoo_command("finetune", "--model", "lenet5", "--folder", str(digits), "--epochs-head", "0",
                  "--epochs-finetune", "0", "--out", str(tmp_path / "z"))
    assert status.returncode == 2 and "nothing would be trained" in status.stderr and not (tmp_path / "z").exists()
    status = cnnzoo_command("train", "mnist_lenet5", "--epochs", "0", "--out", str(tmp_path / "z"))
    assert status.returncode == 2 and "--epochs" in status.stderr and not (tmp_path / "z").exists()


# ---- no silent fallback ----

def test_a_data_folder_the_user_gave_is_used_or_refused_never_replaced_by_the_sample(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    with pytest.raises(data.DatasetNotFoundError, match=r"data_dir holds no mnist train split.*empty"):
        data.load_arrays("mnist", "train", data_dir=str(empty), allow_sample=True)
    with pytest.raises(data.DatasetNotFoundError, match=r"data_dir must be a folder that exists"):
        data.load_arrays("mnist", "train", data_dir=str(tmp_path / "nonexistent"), allow_sample=True)
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path / "nonexistent"))
    with pytest.raises(data.DatasetNotFoundError, match=r"CNNZOO_DATA_DIR must be a folder"):
        data.load_arrays("mnist", "test", allow_sample=True)
    monkeypatch.setenv("CNNZOO_DATA_DIR", str(empty))
    with pytest.raises(data.DatasetNotFoundError, match=r"CNNZOO_DATA_DIR holds no fashion_mnist"):
        data.load_arrays("fashion_mnist", "test", allow_sample=True)
    # nothing given at all: the sample, announced
    monkeypatch.delenv("CNNZOO_DATA_DIR")
    monkeypatch.setattr(data.datasets, "_from_tfds", lambda *a: "not cached")
    monkeypatch.setattr(data.datasets, "DEBIAN_FOLDERS", {})
    assert data.load_arrays("mnist", "test", allow_sample=True).is_sample


@pytest.mark.parametrize("where", ["flag", "environment"])
def test_a_command_given_a_folder_without_the_dataset_fails_in_one_line(where, tmp_path, monkeypatch, cnnzoo_command):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv("CNNZOO_DATA_DIR", raising=False)
    flags = ["--data-dir", str(empty)] if where == "flag" else []
    if where == "environment":
        monkeypatch.setenv("CNNZOO_DATA_DIR", str(tmp_path / "nonexistent"))
    status = cnnzoo_command("train", "mnist_lenet5", "--smoke", "--out", str(tmp_path / "run"), *flags)
    assert status.returncode == 2, status.stdout
    assert "Traceback" not in status.stderr and "DatasetNotFoundError" in status.stderr
    assert ("data_dir holds no mnist" if where == "flag" else "CNNZOO_DATA_DIR must be a folder") in status.stderr
    assert not (tmp_path / "run" / "final.keras").exists()
