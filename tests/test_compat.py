"""Every private Keras API cnnzoo leans on (cnnzoo/compat.py), checked against the installed Keras.

When a Keras upgrade changes one of them, the failure is here, naming it, rather than somewhere deep in
analysis, resume or weight loading.
"""

import keras
import numpy as np

from cnnzoo import compat
from cnnzoo.layers import ConvNormAct


def _model():
    x = keras.Input((8, 8, 3))
    y = ConvNormAct(4, 3, name="unit")(x)
    y = keras.layers.MaxPooling2D(2, name="pool")(y)
    y = keras.layers.Flatten(name="flatten")(y)
    y = keras.layers.Dense(2, name="dense")(y)
    y = keras.layers.Dense(2, name="dense_b")(y)
    return keras.Model(x, y)


def test_base_classes_of_convolutions_and_poolings():
    for conv in (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D):
        assert issubclass(conv, compat.BaseConv)
    for pool in (keras.layers.MaxPooling2D, keras.layers.AveragePooling3D):
        assert issubclass(pool, compat.BasePooling)
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", dilation_rate=1)
    assert (conv.kernel_size, conv.strides, conv.dilation_rate, conv.padding) == ((3, 3), (2, 2), (1, 1), "same")
    pool = keras.layers.MaxPooling2D(2)
    assert (pool.pool_size, pool.strides, pool.padding) == ((2, 2), (2, 2), "valid")


def test_flatten_layers_reaches_nested_layers_once():
    model = _model()
    names = [layer.name for layer in compat.flatten_layers(model)]
    assert "unit" in names and "conv" in names and "norm" in names  # the block's inner layers too
    assert model.name not in names and len(names) == len(set(id(la) for la in compat.flatten_layers(model)))


def test_initial_epoch_is_what_fit_resumes_from():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    compat.set_initial_epoch(model, 2)
    history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0)
    assert history.epoch == [2]  # epochs 0 and 1 skipped, as BackupAndRestore resumes
    compat.set_initial_epoch(model, None)
    assert model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0).epoch == [0, 1]


def test_graph_walking_and_rerunning():
    model = _model()
    op, node_index, tensor_index = compat.keras_history(model.output)
    assert op.name == "dense_b" and tensor_index == 0
    node = compat.inbound_nodes(op)[node_index]
    assert compat.keras_history(node.input_tensors[0])[0].name == "dense"
    assert compat.keras_history(np.zeros(2)) is None
    seen = []

    def operation_fn(operation):
        seen.append(operation.name)
        return operation

    dense = model.get_layer("dense")
    before = len(compat.inbound_nodes(dense))
    out = compat.run_through_graph(model, keras.Input((8, 8, 3), batch_size=1), operation_fn)
    assert tuple(out.shape) == (1, 2) and seen[-2:] == ["dense", "dense_b"]
    assert len(compat.inbound_nodes(dense)) == before + 1
    compat.forget_nodes_after(dense, before)
    assert len(compat.inbound_nodes(dense)) == before


def test_weights_file_layout(tmp_path):
    model = _model()
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    stored = compat.weight_shapes_by_key(path)
    keys = dict((layer.name, key) for layer, key in compat.weights_file_keys(model))
    assert keys["dense"] == "dense" and keys["dense_b"] == "dense_1" and keys["unit"] == "conv_norm_act"
    for layer, key in compat.weights_file_keys(model):
        assert stored.get(key, []) == sorted(tuple(v.shape) for v in layer.weights), layer.name
