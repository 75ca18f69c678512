import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX's compiled steps are not kept in ~/.keras by the tests (tests/test_training.py checks the cache in a folder of
# its own)
os.environ.setdefault("CNNZOO_COMPILATION_CACHE", "off")

# Where the optional torchvision extra is installed (test_torchvision.py), torch and torchvision
# must be imported before TensorFlow: the other order crashes the interpreter on this project's machines.
try:
    import torch
    import torchvision  # noqa: F401

    if os.environ.get("CNNZOO_MUTATION"):  # scripts/mutate.py: mutmut forks per mutant, and a forked child of a
        torch.set_num_threads(1)  # process whose torch thread pool ran hangs; one thread has no pool to inherit
except ImportError:
    pass

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_clear(request):
    if request.node.get_closest_marker("keras_free"):  # pure-Python checks: no graph to clear
        yield
        return
    keras.utils.set_random_seed(0)
    yield
    # names and global state reset; Python's collector left to run when it will (a forced gc.collect after
    # every test was ~0.3 s each: more than half of `make test`), except after a slow test: those build the big
    # networks (torchvision's twins, ONNX exports, whole recipes), and without a collection between them two
    # `make test-slow` workers grew to 12.5 and 11.1 GB and the kernel killed one (24 GB here)
    keras.backend.clear_session(free_memory=request.node.get_closest_marker("slow") is not None)


class _Status:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cnnzoo_command(capsys):
    """Runs ``cnnzoo ARGS`` in this process (as the command does: `cnnzoo.cli.main`): ``(returncode, stdout,
    stderr)`` as attributes, like a finished subprocess, without its ~5 s of imports."""
    from cnnzoo import cli

    def run(*args):
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as e:  # argparse's own errors and --help
            code = e.code
        out = capsys.readouterr()
        return _Status(code, out.out, out.err)

    return run

