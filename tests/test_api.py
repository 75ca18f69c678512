"""The Python API is the product: fine-tuning, prediction and recipes as library calls, the command line a
shell over them; every family owns what only it knows, and the package's imports run one way."""

import ast
import glob
import inspect
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import ROOT, SAMPLE_MNIST

import cnnzoo
from cnnzoo import cli, recipes, registry
from cnnzoo.data import idx
from cnnzoo.training.finetune import FinetuneConfig, finetune

PACKAGE = os.path.join(ROOT, "cnnzoo")


def _real_image_folder(root, classes=(0, 1, 7), per_class=6):
    """Real MNIST digits (the bundled sample) as PNG files, one sub-folder per class."""
    from PIL import Image

    images, labels = idx.read_idx_split(SAMPLE_MNIST, "train")
    for c in classes:
        (root / f"digit{c}").mkdir(parents=True)
        for i, k in enumerate(np.flatnonzero(labels == c)[:per_class]):
            Image.fromarray(images[k, ..., 0]).save(root / f"digit{c}" / f"{i}.png")
    return root


def _readme_python():
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"<!-- readme-python:begin -->\s*```python\n(.*?)```\s*<!-- readme-python:end -->", text, re.S)
    assert block, "README.md lost its Python fine-tuning example"
    return block.group(1)


@pytest.fixture
def resnet18_imagenet_cached(tmp_path, monkeypatch):
    """torchvision's resnet18 ImageNet set, already converted in the cache (random values: nothing can be
    downloaded here), so ``weights="imagenet"`` runs the real catalog entry, preprocessing and loading."""
    from cnnzoo.weights import get_weights, pretrained

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    weight_set = get_weights("resnet18", "imagenet")
    os.makedirs(pretrained.cache_dir())
    model = cnnzoo.resnet18()
    for v in model.weights:
        rng = np.random.default_rng(len(v.path))
        if v.path.endswith("moving_variance"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif not v.path.endswith(("moving_mean", "beta")):
            v.assign((rng.normal(size=v.shape) * 0.05 + (1.0 if v.path.endswith("gamma") else 0.0)).astype("float32"))
    model.save_weights(pretrained.converted_path(weight_set))
    return model


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, resnet18_imagenet_cached):
    from PIL import Image

    _real_image_folder(tmp_path / "my_images")
    _real_image_folder(tmp_path / "my_test_images", per_class=3)
    images, _ = idx.read_idx_split(SAMPLE_MNIST, "test")
    Image.fromarray(images[0, ..., 0]).save(tmp_path / "photo1.jpg")
    Image.fromarray(images[1, ..., 0]).save(tmp_path / "photo2.png")
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(_readme_python(), "README.md", "exec"), scope)  # noqa: S102  (the README's code, as written)
    result = scope["result"]
    assert result.class_names == ["digit0", "digit1", "digit7"] and set(result.history) == {"head", "finetune"}
    assert result.preprocessing["mean"] == [0.485, 0.456, 0.406] and result.model.output_shape == (None, 3)
    assert isinstance(scope["model"], keras.Model) and scope["model"].output_shape == (None, 3)
    assert list(scope["model"].class_names) == result.class_names and (tmp_path / "confusion.png").exists()
    # the README's model is what was trained: same predictions, and predict() names the folder's classes
    predictions = cnnzoo.predict("runs/mine/model.keras", ["photo1.jpg", "photo2.png"], top_k=3)
    assert [len(p) for p in predictions] == [3, 3] and {n for n, _ in predictions[0]} == set(result.class_names)
    assert abs(sum(p for _, p in predictions[0]) - 1.0) < 1e-5


def _small_folder_run(tmp_path):
    folder = _real_image_folder(tmp_path / "images", per_class=4)
    flags = ["--model", "lenet5", "--folder", str(folder), "--input-shape", "28x28x1", "--epochs-head", "1",
             "--epochs-finetune", "1", "--batch-size", "4", "--val-split", "0.25", "--seed", "3", "--verbose", "0"]
    config = FinetuneConfig(input_shape=(28, 28, 1), epochs_head=1, epochs_finetune=1, batch_size=4, val_split=0.25,
                            seed=3, verbose=0)
    return folder, flags, config


def test_the_command_and_the_python_call_train_the_same_weights_bit_for_bit(tmp_path):
    folder, flags, config = _small_folder_run(tmp_path)
    assert cli.main(["finetune", *flags, "--out", str(tmp_path / "cli")]) == 0
    result = finetune("lenet5", str(folder), config=config, out_dir=str(tmp_path / "py"))
    from_cli = keras.saving.load_model(tmp_path / "cli" / "model.keras")
    assert len(from_cli.weights) == len(result.model.weights)
    for a, b in zip(from_cli.weights, result.model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    assert json.loads((tmp_path / "cli" / "results.json").read_text())["config"] == config.to_dict()
    # a different seed trains other weights: the comparison above can fail
    other = finetune("lenet5", str(folder), config=FinetuneConfig(**{**config.to_dict(), "seed": 4, "epochs_finetune": 0,
                                                                     "input_shape": (28, 28, 1)}))
    assert not np.array_equal(np.asarray(other.model.weights[0]), np.asarray(result.model.weights[0]))


def test_finetune_takes_arrays_and_datasets_and_predict_takes_arrays_and_folders(tmp_path, monkeypatch):
    images, labels = idx.read_idx_split(SAMPLE_MNIST, "train")
    keep = labels < 3
    x, y = images[keep][:60], labels[keep][:60]
    config = FinetuneConfig(epochs_head=1, epochs_finetune=1, batch_size=8, class_names=("zero", "one", "two"),
                            verbose=0)
    result = finetune(cnnzoo.lenet5(input_shape=(28, 28, 1)), (x, y), config=config)
    assert result.class_names == ["zero", "one", "two"] and result.saved_model is None
    assert result.preprocessing["scale"] == 255.0 and 0.0 <= result.validation_accuracy <= 1.0
    assert set(result.per_class_accuracy) == {"zero", "one", "two"}
    from cnnzoo.training import backend_defaults

    asked = []  # prediction keeps its compiled step between processes too (on JAX; tests/test_training.py)
    monkeypatch.setattr(backend_defaults, "use_compilation_cache", lambda backend=None: asked.append(backend))
    tops = cnnzoo.predict(result.model, x[:2], top_k=2, labels=list(result.class_names))
    assert asked == [None]
    assert len(tops) == 2 and all(len(t) == 2 and t[0][1] >= t[1][1] for t in tops)
    # a prepared tf.data dataset needs validation data; integer labels need the class names
    import tensorflow as tf

    prepared = tf.data.Dataset.from_tensor_slices((x[..., None] / 255.0, keras.utils.to_categorical(y, 3))).batch(8)
    with pytest.raises(ValueError, match="needs validation data.*Received: val=None"):
        finetune(cnnzoo.lenet5(input_shape=(28, 28, 1)), prepared, config=config)
    done = finetune(cnnzoo.lenet5(input_shape=(28, 28, 1)), prepared, val=prepared,
                    config=FinetuneConfig(epochs_head=1, epochs_finetune=0, verbose=0))
    assert done.class_names == ["0", "1", "2"] and done.preprocessing is None
    # predict: a folder gives each image, and an unreadable input is named
    folder = _real_image_folder(tmp_path / "f", classes=(0,), per_class=2)
    (folder / "digit0" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="1 of 3 images could not be read.*broken.png"):
        cnnzoo.predict(result.model, [str(folder)])
    # the command prints what it could, names what it could not, and exits 1
    result.model.save(tmp_path / "m.keras")
    good = str(folder / "digit0" / "0.png")
    assert cli.main(["predict", str(tmp_path / "m.keras"), good, str(tmp_path / "missing.png")]) == 1
    assert cli.main(["predict", str(tmp_path / "m.keras"), good]) == 0


@pytest.mark.parametrize("bad, match", [
    (dict(epochs_head=-1), "epochs_head must be a non-negative integer. Received: epochs_head=-1"),
    (dict(lr_finetune=0), "lr_finetune must be a positive number. Received: lr_finetune=0"),
    (dict(resize="squash"), "resize must be one of.*Received: resize='squash'"),
    (dict(optimizer="adagrad"), "optimizer"),
    (dict(input_shape="3xthree"), "input_shape takes sizes such as 224x224x3"),
    (dict(val_split=1.5), "val_split must be in \\(0, 1\\)"),
    (dict(train_bn="yes"), "train_bn must be True, False or None"),
])
def test_the_finetune_config_is_validated_once_and_the_command_names_the_flag(bad, match, tmp_path, capsys):
    with pytest.raises((ValueError, TypeError), match=match):
        FinetuneConfig(**bad)
    key, value = next(iter(bad.items()))
    if isinstance(value, str) and key != "train_bn":
        folder = _real_image_folder(tmp_path / "images", per_class=2)
        try:
            status = cli.main(["finetune", "--model", "lenet5", "--folder", str(folder),
                               f"--{key.replace('_', '-')}", str(value)])
        except SystemExit as e:  # argparse's own refusal (a choice)
            status = e.code
        err = capsys.readouterr().err
        assert status == 2 and "Traceback" not in err and f"--{key.replace('_', '-')}" in err


def test_every_finetune_flag_is_a_config_field_with_its_default():
    from cnnzoo.training import finetune as module

    args = module.parser().parse_args(["--model", "m", "--folder", "f"])
    fields = {f.name: f.default for f in __import__("dataclasses").fields(FinetuneConfig) if f.name != "class_names"}
    assert {k: getattr(args, k) for k in fields} == fields
    assert module.config_from_args(args) == FinetuneConfig()


def test_recipes_run_from_python_with_the_overrides_checked_by_one_rule(tmp_path):
    from helpers import write_mnist

    from cnnzoo.recipes import mnist_lenet5
    from cnnzoo.training.recipe import check_override, parse_override

    config = mnist_lenet5.CONFIG
    for key, good, bad in (("label_smoothing", 0.1, "lots"), ("augment", ("crop",), {"crop": 1}), ("epochs", 2, 2.5)):
        assert check_override(config, key, good) == good
        with pytest.raises(ValueError, match=f"{key} takes") as python_error:
            recipes.run("mnist_lenet5", **{key: bad}, out=str(tmp_path / "never"))
        with pytest.raises(ValueError, match=f"{key} takes") as command_error:
            parse_override(config, f"{key}={bad!r}")
        rule = [str(e.value).split("takes")[1].split("Received")[0] for e in (python_error, command_error)]
        assert rule[0] == rule[1]  # the same rule says the same thing
    with pytest.raises(ValueError, match="not a key of this recipe"):
        recipes.run("mnist_lenet5", learning_rate=1.0)
    assert not (tmp_path / "never").exists()
    write_mnist(tmp_path / "data" / "mnist", n=64)
    record = recipes.run("mnist_lenet5", data_dir=str(tmp_path / "data"), out=str(tmp_path / "run"), smoke=True,
                         label_smoothing=0.1, verbose=0)
    assert record["config"]["label_smoothing"] == 0.1 and record["epochs_run"] == 1
    assert json.loads((tmp_path / "run" / "results.json").read_text())["final_test_accuracy"] == \
        record["final_test_accuracy"]


# ---- wiring: each family owns itself, imports run one way ----

def test_entry_points_are_the_family_modules_own_functions():
    for name in registry.list_models():
        fn = registry.get_builder(name)
        family = registry.model_info(name).family
        assert inspect.getsourcefile(fn) == os.path.join(PACKAGE, "models", f"{family}.py"), name
        assert getattr(cnnzoo, name) is fn, name
        assert "include_top" in inspect.signature(fn).parameters and fn.__doc__.splitlines()[0].endswith(".")
    assert inspect.getsourcefile(cnnzoo.resnet50) == os.path.join(PACKAGE, "models", "resnet.py")


def test_a_family_is_one_file_the_package_finds():
    from cnnzoo import models

    families = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(PACKAGE, "models", "*.py"))}
    assert set(models.FAMILIES) == families - {"__init__", "builder"}
    assert {registry.model_info(n).family for n in registry.list_models()} == set(models.FAMILIES)
    assert set(registry.list_models()) <= set(cnnzoo.__all__) and "finetune" in cnnzoo.__all__


def _imports(path):
    tree = ast.parse(open(path).read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {f"{node.module}.{a.name}" for a in node.names}
            found |= names
            submodules = {n for n in names
                          if os.path.exists(os.path.join(ROOT, *n.split("."))) or os.path.exists(
                              os.path.join(ROOT, *n.split(".")) + ".py")}
            if node.module != "cnnzoo" or names - submodules:  # `from cnnzoo import compat` is the module
                found.add(node.module)
    return found


@pytest.mark.parametrize("where, forbidden", [
    ("registry.py", r"^cnnzoo\.(?!registry$)"),
    ("weights/*.py", r"^cnnzoo\.models"),
    ("training/*.py", r"^cnnzoo\.models\.\w+"),
    ("layers/*.py", r"^cnnzoo\.(models|training|weights|data)"),
    # no part of the library reaches back up to the package facade (the recipes and commands may: they use it)
    *((f"{part}/*.py", r"^cnnzoo$") for part in ("layers", "models", "weights", "training", "data", "inspect",
                                                   "learn")),
])
def test_imports_run_one_way(where, forbidden):
    paths = glob.glob(os.path.join(PACKAGE, where))
    assert paths
    offending = {os.path.relpath(p, ROOT): sorted(i for i in _imports(p) if re.match(forbidden, i)) for p in paths}
    assert not {p: i for p, i in offending.items() if i}


def test_the_compatibility_modules_are_gone_and_import_cnnzoo_loads_no_framework():
    for old in ("analysis", "viz", "kernels", "schedules", "transfer", "interop", "benchmark", "data/native",
                "models/video_resnet"):
        assert not os.path.exists(os.path.join(PACKAGE, f"{old}.py")), old
    probe = ("import sys, cnnzoo; assert not {'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules), "
             "sorted({'keras', 'tensorflow'} & set(sys.modules)); print(len(cnnzoo.list_models()))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) == len(registry.list_models())


def test_a_registry_lookup_before_any_name_was_used_finds_every_family():
    probe = ("from cnnzoo.registry import list_models; from cnnzoo.weights import torchvision_twins; "
             "print(len(list_models()), len(torchvision_twins()))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == [str(len(registry.list_models())), "24"]


def test_what_only_a_family_knows_is_declared_by_it():
    info = cnnzoo.model_info("googlenet")
    assert info.aux_loss_weight == cnnzoo.AUX_LOSS_WEIGHT and info.stages[-1] == "inception5"
    assert cnnzoo.model_info("resnet50").stages == ("stem", "stage1", "stage2", "stage3", "stage4")
    assert cnnzoo.model_info("vgg16_bn").stages[-1] == "stage5" and cnnzoo.model_info("resnet20").stages[-1] == "stage3"
    assert not cnnzoo.model_info("resnet20").torchvision_rules and cnnzoo.model_info("vgg11").torchvision_rules
    from cnnzoo.training.engine import auxiliary_loss_weight

    model = cnnzoo.googlenet(aux_logits=True, width=0.0625, input_shape=(48, 48, 3), classes=3)
    assert auxiliary_loss_weight(model) == 0.3
    renamed = keras.Model(model.input, model.output, name="mine")  # no family says: Keras's default, 1
    assert auxiliary_loss_weight(renamed) == 1.0


def test_keras_files_written_before_the_rewiring_still_load():
    data = np.load(os.path.join(ROOT, "tests", "data", "saved_0.1.0_outputs.npz"))
    googlenet = cnnzoo.load_model(os.path.join(ROOT, "tests", "data", "googlenet_aux_0.1.0.keras"))
    outputs = googlenet.predict(data["x"], verbose=0)
    np.testing.assert_allclose(outputs["main"], data["main"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs["aux1"], data["aux1"], rtol=1e-5, atol=1e-6)
    video = keras.saving.load_model(os.path.join(ROOT, "tests", "data", "r2plus1d_18_0.1.0.keras"))
    np.testing.assert_allclose(video.predict(data["x2"], verbose=0), data["y2"], rtol=1e-5, atol=1e-6)
