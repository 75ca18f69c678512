"""What a user gets back: a fine-tuned .keras that carries its classes and preprocessing and reloads fully
trainable; `evaluate` on a labelled folder with its confusion matrix; shapes checked for their layout; the model
table `cnnzoo list` reads; a summary that shows itself; pipelines whose epoch moves on with plain model.fit."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from helpers import ROOT, digits_folder

import cnnzoo
from cnnzoo import compat, data, registry
from cnnzoo.inspect import model_table
from cnnzoo.training.finetune import FinetuneConfig, finetune


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory):
    """A LeNet-5 fine-tuned on real MNIST digits 0, 1 and 7 (class folders named 'zero', 'one', 'seven')."""
    root = tmp_path_factory.mktemp("tuned")
    digits_folder(root / "digits", "train", (0, 1, 7), 12)
    for digit, name in ((0, "zero"), (1, "one"), (7, "seven")):
        (root / "digits" / str(digit)).rename(root / "digits" / name)
    config = FinetuneConfig(input_shape=(28, 28, 1), epochs_head=3, epochs_finetune=2, batch_size=8, val_split=0.25,
                            lr_head=3e-3, lr_finetune=1e-3, verbose=0)
    result = finetune("lenet5", str(root / "digits"), config=config, out_dir=str(root / "run"))
    return root, result


def test_a_fine_tuned_model_file_carries_its_classes_and_preprocessing_and_reloads_fully_trainable(fine_tuned,
                                                                                                   tmp_path):
    root, result = fine_tuned
    alone = tmp_path / "copied.keras"  # the model file copied on its own: nothing beside it
    shutil.copy(root / "run" / "model.keras", alone)
    inside = compat.model_file_metadata(str(alone))
    assert inside["class_names"] == ["one", "seven", "zero"] and inside["preprocessing"]["scale"] == 255.0
    loaded = cnnzoo.load_model(alone)
    assert list(loaded.class_names) == ["one", "seven", "zero"]
    assert all(layer.trainable for layer in compat.flatten_layers(loaded))
    assert len(loaded.trainable_weights) == len(loaded.weights) == len(result.model.weights)
    # the files for people are still written beside it
    assert json.loads((root / "run" / "classes.json").read_text()) == ["one", "seven", "zero"]
    # predict names the classes from the file alone
    top = cnnzoo.predict(str(alone), str(root / "digits" / "seven"), top_k=3)
    assert {name for name, _ in top[0]} == {"one", "seven", "zero"}
    # a .keras file without the entry still loads (and Keras ignores the entry: checked against the real loader)
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(plain)
    assert compat.model_file_metadata(str(plain)) is None and cnnzoo.load_model(plain).class_names is None
    with zipfile.ZipFile(alone) as archive:
        assert compat.MODEL_FILE_ENTRY in archive.namelist()


def test_a_model_fine_tuned_from_a_frozen_backbone_is_saved_and_returned_fully_trainable(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (40, 28, 28, 1)).astype("uint8"), np.arange(40) % 2
    own = cnnzoo.lenet5(input_shape=(28, 28, 1))  # a model of the user's own: its backbone is frozen in phase 1
    result = finetune(own, (x, y), config=FinetuneConfig(epochs_head=1, epochs_finetune=0, batch_size=8, verbose=0),
                      out_dir=str(tmp_path / "run"))
    assert result.record["frozen_in_head_phase"] > 0
    for model in (result.model, cnnzoo.load_model(tmp_path / "run" / "model.keras")):
        assert all(layer.trainable for layer in compat.flatten_layers(model))
        assert len(model.trainable_weights) == len(model.weights)


def test_evaluate_gives_overall_and_per_class_accuracy_and_a_confusion_matrix(fine_tuned, tmp_path, cnnzoo_command):
    root, result = fine_tuned
    folder = root / "digits"
    evaluation = cnnzoo.evaluate(str(root / "run" / "model.keras"), str(folder),
                                 confusion_picture=str(tmp_path / "c.png"))
    assert evaluation.examples == 36 and evaluation.confusion.shape == (3, 3)
    assert evaluation.confusion.sum(axis=1).tolist() == [12, 12, 12]
    assert evaluation.class_names == ["one", "seven", "zero"]
    assert evaluation.accuracy == pytest.approx(np.trace(evaluation.confusion) / 36)
    for i, name in enumerate(evaluation.class_names):
        assert evaluation.per_class_accuracy[name] == pytest.approx(evaluation.confusion[i, i] / 12)
    assert evaluation.accuracy > 0.6  # trained on these digits: far above chance (1/3)
    # the same predictions as the model itself on the validation split
    assert os.path.getsize(tmp_path / "c.png") > 5000 and "accuracy" in repr(evaluation)
    # a folder whose classes the model does not have
    shutil.copytree(folder / "one", tmp_path / "other" / "one")
    shutil.copytree(folder / "seven", tmp_path / "other" / "eight")
    with pytest.raises(ValueError, match=r"\['eight'\] are not classes of the model"):
        cnnzoo.evaluate(str(root / "run" / "model.keras"), str(tmp_path / "other"))
    # a folder with some of the model's classes: predictions of the others gather in "(other)" (here the
    # "seven" folder holds ones, which the model calls "one": a class the folder lacks)
    shutil.copytree(folder / "zero", tmp_path / "some" / "zero")
    shutil.copytree(folder / "one", tmp_path / "some" / "seven")
    some = cnnzoo.evaluate(str(root / "run" / "model.keras"), str(tmp_path / "some"))
    assert some.class_names == ["seven", "zero", "(other)"] and some.confusion[2].sum() == 0
    full = {name: row for name, row in zip(evaluation.class_names, evaluation.confusion)}  # columns: one, seven, zero
    assert some.confusion[0].tolist() == [full["one"][1], full["one"][2], full["one"][0]]
    assert some.confusion[1].tolist() == [full["zero"][1], full["zero"][2], full["zero"][0]]
    assert some.confusion[0][2] > 0  # ones called "one": the "(other)" column counts them
    status = cnnzoo_command("evaluate", str(root / "run" / "model.keras"), str(folder), "--confusion", str(tmp_path / "d.png"))
    assert status.returncode == 0, status.stderr
    assert f"{100 * evaluation.accuracy:.2f}%" in status.stdout and (tmp_path / "d.png").exists()
    assert cnnzoo_command("evaluate", str(root / "run" / "model.keras"), str(tmp_path / "none")).returncode == 2


@pytest.mark.parametrize("shape,fixed", [((3, 224, 224), (224, 224, 3)), ((1, 28, 28), (28, 28, 1)),
                                         ((3, 16, 112, 112), (16, 112, 112, 3)), ((1, 32, 64), (32, 64, 1))])
def test_a_shape_that_only_makes_sense_channels_first_is_an_error_naming_the_channels_last_form(shape, fixed):
    builder = cnnzoo.r3d_18 if len(shape) == 4 else cnnzoo.resnet18
    with pytest.raises(ValueError, match=r"looks channels-first") as e:
        builder(input_shape=shape)
    assert str(fixed) in str(e.value) and "x".join(map(str, fixed)) in str(e.value)


@pytest.mark.parametrize("shape", [(224, 224, 3), (28, 28, 1), (32, 32, 3), (3, 32, 3), (1, 64, 3)])
def test_channels_last_shapes_pass_the_layout_check(shape):
    from cnnzoo.shapes import check_channels_last

    assert check_channels_last(shape) == shape


def test_the_commands_refuse_a_channels_first_shape(cnnzoo_command):
    status = cnnzoo_command("summary", "resnet50", "--input-shape", "3,224,224")
    assert status.returncode == 2 and "224x224x3" in status.stderr
    status = cnnzoo_command("conv", "--input", "3x32x32", "--layers", "conv 3x3 8")
    assert status.returncode == 2 and "32x32x3" in status.stderr


def test_the_model_table_is_the_registry_and_the_weight_catalog():
    """`cnnzoo list` reads model_table.json: it must name every registered model with its family, default
    input and weight sets (the built counts are checked in test_the_model_table_holds_the_built_counts)."""
    from cnnzoo.weights import catalog

    rows = {r["name"]: r for r in model_table.read_table()}
    assert sorted(rows) == sorted(registry.list_models())
    for name, row in rows.items():
        info = registry.model_info(name)
        assert row["family"] == info.family and tuple(row["input_shape"]) == tuple(info.input_shape)
        assert row["pretrained"] == [w.tag for w in catalog.list_weights(name)], name
    assert rows["lenet5"]["params"] == cnnzoo.summary("lenet5").params("torch")


@pytest.mark.slow
@pytest.mark.xdist_group("memory")  # builds all 31 networks at full size (3.5 GB): see the Makefile's test-slow
def test_the_model_table_holds_the_built_counts():
    assert model_table.read_table() == model_table.build_table()


def test_cnnzoo_list_loads_no_framework_and_aligns_its_columns():
    code = ("import sys; from cnnzoo import cli; status = cli.main(['list']); "
            "assert status == 0; print('LOADED', sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "LOADED []"
    table = lines[:-1]
    assert len(table) == len(registry.list_models()) + 1 and "pretrained" in table[0]
    start = table[0].index("default input")
    assert all(line[start - 2:start] == "  " for line in table)  # a column starts at the same place in every row
    assert "resnext101_32x8d" in out.stdout and "imagenet1k_v2" in out.stdout


def test_a_summary_shows_its_table_at_a_repl():
    s = cnnzoo.summary("lenet5")
    assert repr(s) == str(s) and "receptive field" in repr(s)


@pytest.mark.parametrize("kind", ["arrays", "files"])
def test_a_training_pipeline_moves_to_the_next_epoch_by_itself_with_plain_model_fit(kind, tmp_path):
    if kind == "arrays":
        rng = np.random.default_rng(0)
        dataset = data.Dataset("s", "train", rng.integers(0, 256, (24, 8, 8, 1), dtype=np.uint8),
                               np.arange(24) % 3, 3, "t")
        ds = data.make_pipeline(dataset, 24, training=True, augment=("crop",), crop_padding=2)
    else:
        from cnnzoo.data.folder import image_folder_pipeline, scan_folder

        digits_folder(tmp_path, "train", (0, 1, 7), 8)
        ds = image_folder_pipeline(scan_folder(str(tmp_path)), (28, 28), training=True, batch_size=24, channels=1,
                                   augment="random_resized_crop")
    passes = [np.asarray(next(iter(ds))[0]) for _ in range(3)]
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[1], passes[2])
    model = keras.Sequential([keras.Input(passes[0].shape[1:]), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    before = int(ds.epoch_counter.variable.numpy())
    model.fit(ds, epochs=2, verbose=0)
    assert int(ds.epoch_counter.variable.numpy()) == before + 2
    # driven by the engine's callback, an epoch reads the same batches every time it is set
    callback = ds.epoch_counter.callback()
    callback.on_train_begin()
    seen = []
    for _ in range(2):
        callback.on_epoch_begin(5)
        seen.append(np.asarray(next(iter(ds))[0]))
    callback.on_train_end()
    np.testing.assert_array_equal(seen[0], seen[1])
