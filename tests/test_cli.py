import subprocess
import sys

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
