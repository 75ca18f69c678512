"""TensorFlow's side of the cross-backend tests (tests/test_backends.py), run as a subprocess:

    KERAS_BACKEND=tensorflow python backend_reference.py save DIR
        builds every case of backend_cases.py, writes DIR/<case>.keras, <case>.weights.h5 and <case>.npz
        (input and TensorFlow's outputs)
    KERAS_BACKEND=tensorflow python backend_reference.py check DIR
        for every <case>.weights.h5 another backend wrote there: builds the case here, loads the weights,
        writes DIR/differences.json {case: largest |difference| / largest |output|} against that backend's
        outputs
    KERAS_BACKEND=tensorflow python backend_reference.py both TF_DIR OTHER_DIR: save, then check
"""

import glob
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import backend_cases  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402


def relative_difference(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def save(folder):
    for name, (build, shape) in backend_cases.all_cases().items():
        keras.utils.set_random_seed(0)
        model = build()
        x = backend_cases.case_input(name, shape)
        model.save(os.path.join(folder, f"{name}.keras"))
        model.save_weights(os.path.join(folder, f"{name}.weights.h5"))
        np.savez(os.path.join(folder, f"{name}.npz"), x=x, y=backend_cases.outputs(model, x))
        keras.backend.clear_session()


def check(folder):
    cases = backend_cases.all_cases()
    differences = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.weights.h5"))):
        name = os.path.basename(path)[: -len(".weights.h5")]
        build, _ = cases[name]
        model = build()
        model.load_weights(path)
        saved = np.load(os.path.join(folder, f"{name}.npz"))
        differences[name] = relative_difference(backend_cases.outputs(model, saved["x"]), saved["y"])
        keras.backend.clear_session()
    with open(os.path.join(folder, "differences.json"), "w") as f:
        json.dump(differences, f)


if __name__ == "__main__":
    if sys.argv[1] == "both":
        save(sys.argv[2])
        check(sys.argv[3])
    else:
        {"save": save, "check": check}[sys.argv[1]](sys.argv[2])
