"""Export a Keras model to a TensorFlow SavedModel, TFLite or ONNX, checked against Keras.

Uses Keras's own ``model.export`` (and the TFLite converter it wraps for
SavedModels). Every export is run on a sample input and compared with the Keras
model's output; a format whose optional packages are missing says which to install.
"""

import importlib.util
import os
import tempfile

import numpy as np

FORMATS = ("savedmodel", "tflite", "onnx")
ONNX_PACKAGES = ("onnx", "tf2onnx", "onnxruntime")


class ExportError(RuntimeError):
    """An export failed or its output does not match the Keras model."""


def _sample(model, seed=0):
    shape = tuple(d if d is not None else 32 for d in model.input_shape[1:])
    return np.random.default_rng(seed).uniform(size=(1,) + shape).astype("float32")


def _check(name, expected, actual, atol):
    diff = float(np.max(np.abs(np.asarray(expected) - np.asarray(actual))))
    if not diff <= atol:
        raise ExportError(f"{name} export differs from the Keras model by {diff:g} (> {atol:g})")
    return diff


def export(model, fmt, out, atol=1e-4):
    """Exports ``model`` (a keras.Model or a .keras path) to ``out``; returns the max abs difference
    between the exported model's and Keras's outputs on a sample input.
    """
    import keras

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}. Received: format={fmt!r}")
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, compile=False)
    x = _sample(model)
    expected = np.asarray(model.predict(x, verbose=0))
    if fmt == "savedmodel":
        model.export(out, format="tf_saved_model", verbose=False)
        import tensorflow as tf

        loaded = tf.saved_model.load(out)
        return _check("SavedModel", expected, loaded.serve(x), atol)
    if fmt == "tflite":
        import tensorflow as tf

        with tempfile.TemporaryDirectory() as tmp:
            model.export(tmp, format="tf_saved_model", verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            flat = converter.convert()
        with open(out, "wb") as f:
            f.write(flat)
        interpreter = tf.lite.Interpreter(model_path=out)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return _check("TFLite", expected, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), atol)
    missing = [p for p in ONNX_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise ExportError(f"ONNX export needs the packages {', '.join(missing)}: "
                          f"pip install {' '.join(ONNX_PACKAGES)}")
    model.export(out, format="onnx", verbose=False)
    import onnxruntime

    session = onnxruntime.InferenceSession(out)
    actual = session.run(None, {session.get_inputs()[0].name: x})[0]
    return _check("ONNX", expected, actual, atol)
