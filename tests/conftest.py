import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Where the optional torchvision extra is installed (test_torchvision.py), torch and torchvision
# must be imported before TensorFlow: the other order crashes the interpreter on this project's machines.
try:
    import torch  # noqa: F401
    import torchvision  # noqa: F401
except ImportError:
    pass

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_clear():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


