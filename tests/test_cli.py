import subprocess
import sys

import pytest

import cnnzoo
from cnnzoo import cli


def test_version_from_the_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "cnnzoo.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"cnnzoo {cnnzoo.__version__}"


def test_list_prints_models_with_parameters(capsys):
    assert cli.main(["list", "resnet2*"]) == 0
    out = capsys.readouterr().out
    assert "resnet20" in out and "269,722" in out
    assert cli.main(["list", "nothing*"]) == 2


def run_as_command(*argv, env=None):
    """``cnnzoo ARGV...`` as the console script runs it (argv[0] = 'cnnzoo'), printing the modules it loaded."""
    code = ("import sys; sys.argv = ['cnnzoo', *sys.argv[1:]]\n"
            "from cnnzoo.cli import main\n"
            "try:\n    status = main()\nexcept SystemExit as e:\n    status = e.code\n"
            "print('LOADED', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))\n"
            "sys.exit(status or 0)")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=600,
                          env=env)


def test_help_and_the_recipe_list_answer_without_loading_a_framework():
    for argv in (["--help"], ["train", "--help"], ["train", "mnist_lenet5", "--help"], ["finetune", "--help"],
                 ["bench", "--help"], ["recipes"]):
        result = run_as_command(*argv)
        assert result.returncode == 0, (argv, result.stderr[-2000:])
        assert "LOADED []" in result.stdout, (argv, result.stdout[-500:])
    listing = run_as_command("recipes").stdout
    assert "mnist_fast" in listing and "target:" in listing and "measured:" in listing


def test_a_command_loads_the_package_without_tensorflows_start_up_lines():
    result = run_as_command("summary", "lenet5")
    assert result.returncode == 0 and "lenet5" in result.stdout, result.stderr[-2000:]
    assert "absl::InitializeLog" not in result.stderr and "I0000" not in result.stderr, result.stderr[-2000:]
    loaded = result.stdout.split("LOADED")[-1]
    assert "'keras'" in loaded and "'tensorflow'" in loaded  # the command ran with the whole package


def test_train_rejects_unknown_recipes_and_bad_overrides(cnnzoo_command):
    # in process (conftest.cnnzoo_command): the same cli.main the console script runs, without 4 interpreter starts
    result = cnnzoo_command("train", "mnist_lenet6")
    assert result.returncode == 2 and "no recipe 'mnist_lenet6'" in result.stderr and "mnist_fast" in result.stderr
    result = cnnzoo_command("train", "mnist_lenet5", "--override", "lr=fast")
    assert result.returncode == 2 and "--override lr takes a number (default: 0.002). Received: lr='fast'" in \
        result.stderr
    result = cnnzoo_command("train", "mnist_lenet5", "--override", "learning_rate=0.1")
    assert result.returncode == 2 and "KEY one of" in result.stderr and "label_smoothing" in result.stderr
    result = cnnzoo_command("train", "--model", "lenet5", "--dataset", "imagenet")
    assert result.returncode == 2 and "--dataset must be one of mnist, fashion_mnist, cifar10, cifar100" in \
        result.stderr


def test_overrides_are_type_checked_and_resolved_once():
    from cnnzoo.recipes import mnist_lenet5
    from cnnzoo.training import recipe

    config = mnist_lenet5.CONFIG
    assert recipe.parse_override(config, "label_smoothing=0.1") == ("label_smoothing", 0.1)
    assert recipe.parse_override(config, "augment=crop,flip") == ("augment", ("crop", "flip"))
    assert recipe.parse_override(config, "nesterov=true") == ("nesterov", True)
    assert recipe.parse_override(config, "model_kwargs={'width': 0.5}") == ("model_kwargs", {"width": 0.5})
    assert recipe.parse_override(config, "epochs=3") == ("epochs", 3)
    for bad in ("epochs=2.5", "nesterov=maybe", "model_kwargs=wide", "optimizer=3"):
        try:
            recipe.parse_override(config, bad)
        except ValueError as e:
            assert f"Received: {bad.split('=')[0]}=" in str(e)
        else:
            raise AssertionError(f"{bad} was accepted")
    args = recipe.parse(config, "", ["--override", "epochs=4", "--epochs", "2", "--override", "lr=0.01"])
    assert args.config["epochs"] == 2 and args.epochs == 2  # the dedicated flag wins
    assert args.config["lr"] == 0.01 and args.lr == 0.01
    assert recipe.train_config(config, args).lr == 0.01


@pytest.mark.slow
def test_train_runs_a_recipe_and_the_generic_trainer_and_saves_the_resolved_config(tmp_path):
    import json
    import os

    sample = os.path.join(os.path.dirname(cnnzoo.__file__), "data", "samples", "mnist")
    result = run_as_command("train", "mnist_lenet5", "--smoke", "--data-dir", sample, "--out", str(tmp_path / "a"),
                            "--override", "label_smoothing=0.05", "--override", "augment=")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\r" not in result.stdout and "━" not in result.stdout  # to a pipe: one line per epoch, no bar
    assert " - val_accuracy: " in result.stdout  # the epoch's one line
    record = json.loads((tmp_path / "a" / "results.json").read_text())
    assert record["config"]["label_smoothing"] == 0.05 and record["recipe"]["config"]["augment"] == []
    assert record["command"].startswith("cnnzoo train mnist_lenet5 --smoke")
    result = run_as_command("train", "--model", "resnet20", "--dataset", "mnist", "--smoke", "--data-dir", sample,
                            "--out", str(tmp_path / "b"), "--override", "model_kwargs={'width': 0.25}")
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "b" / "results.json").read_text())
    assert record["model"] == "resnet20" and record["recipe"]["name"] == "resnet20_mnist"
    assert record["config"]["optimizer"] == "adamw"  # the MNIST defaults


def test_a_progress_bar_in_a_terminal_and_one_line_per_epoch_otherwise(monkeypatch):
    from cnnzoo.training.config import default_verbosity

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert default_verbosity() == 1 and default_verbosity(0) == 0
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert default_verbosity() == 2 and default_verbosity(1) == 1
