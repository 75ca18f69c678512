"""Multi-device training: MirroredStrategy on a CPU split in two, and two
MultiWorkerMirroredStrategy workers on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from cnnzoo.training import distribute

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")
pytestmark = pytest.mark.slow


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ",".join(map(str, ports))


def launch(mode, out, workers=2):
    ports = free_ports(workers)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    procs = [subprocess.Popen([sys.executable, WORKER, mode, str(i), ports, str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(workers)]
    results = [p.communicate(timeout=300) for p in procs]
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, results)]


def test_two_workers_finish_with_identical_weights_and_falling_loss(tmp_path):
    results = launch("cnnzoo", tmp_path)
    for code, out, err in results:
        assert code == 0 and "DONE" in out, err[-3000:]
    w0 = np.load(tmp_path / "weights_cnnzoo_0.npz")
    w1 = np.load(tmp_path / "weights_cnnzoo_1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
    losses = json.loads((tmp_path / "losses_cnnzoo_0.json").read_text())
    assert losses["replicas"] == 2 and losses["loss"][-1] < losses["loss"][0]
    # only the chief wrote the run's files into the output folder itself
    assert (tmp_path / "results.json").exists() and (tmp_path / "final.keras").exists()


def test_unpatched_keras_fit_still_fails_under_multi_worker(tmp_path):
    """keras-team/keras#20585. When this fails, Keras fixed it: drop distribute.MultiWorkerStrategy."""
    results = launch("plain", tmp_path)
    outs = " ".join(out for _, out, _ in results)
    assert "PLAIN_FIT_FAILED" in outs, "Keras now runs fit under MultiWorkerMirroredStrategy"


def test_mirrored_on_a_cpu_split_in_two(tmp_path):
    code, out, err = launch("mirrored", tmp_path, workers=1)[0]
    assert code == 0 and "DONE" in out, err[-3000:]
    losses = json.loads((tmp_path / "losses_mirrored_0.json").read_text())
    assert losses["replicas"] == 2 and losses["loss"][-1] < losses["loss"][0]


def test_jax_data_parallel_replicas_end_identical_and_loss_falls(tmp_path):
    """The recipes' --strategy mirrored on JAX: keras.distribution.DataParallel over two forced host devices."""
    pytest.importorskip("jax", reason="JAX is not installed (make venv-jax)")
    code, out, err = launch("jax", tmp_path, workers=1)[0]
    assert code == 0 and "DONE" in out, err[-3000:]
    w0, w1 = np.load(tmp_path / "weights_jax_0.npz"), np.load(tmp_path / "weights_jax_1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
    losses = json.loads((tmp_path / "losses_jax_0.json").read_text())
    assert losses["replicas"] == 2 and losses["loss"][-1] < losses["loss"][0]
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["environment"]["keras_backend"] == "jax"


def test_strategy_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    with pytest.raises(ValueError, match="strategy must be one of.*Received: strategy='ring'"):
        distribute.make_strategy("ring")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}))
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}))
    assert distribute.is_chief()
