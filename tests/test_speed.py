"""Speed settings and the benchmark beside the peers: precision per device kind (a user's choice wins, the
results record the policy), the peers benchmark's arithmetic, and no TensorFlow where none is needed."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT

from cnnzoo.bench import harness, peers
from cnnzoo.training import backend_defaults
from cnnzoo.training.config import TrainConfig


@pytest.mark.parametrize("device, policy", [
    (("gpu", (9, 0)), "mixed_bfloat16"),  # Hopper (H100, H200)
    (("gpu", (8, 0)), "mixed_bfloat16"),  # Ampere: the first bf16 matrix units
    (("gpu", (7, 5)), "float32"),  # Turing: no bf16 matrix units
    (("gpu", None), "float32"),  # a GPU that does not say
    (("cpu", None), "float32"),  # measured: bf16 no faster on this project's CPU
])
def test_precision_is_chosen_per_device_kind_and_the_users_choice_wins(device, policy):
    assert backend_defaults.default_precision("jax", device) == policy
    resolved = backend_defaults.resolve(TrainConfig(), "jax", device)
    assert resolved.mixed_precision is (policy != "float32")
    for chosen in (True, False):
        assert backend_defaults.resolve(TrainConfig(mixed_precision=chosen), "jax", device).mixed_precision is chosen


def test_this_machine_trains_in_float32_and_the_record_says_so(tmp_path):
    import numpy as np

    import cnnzoo
    from cnnzoo.training.engine import fit, precision_policy

    assert backend_defaults.accelerator()[0] == "cpu" and backend_defaults.default_precision() == "float32"
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(32, 16, 16, 1)).astype("float32"), rng.integers(0, 2, 32)
    model = cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2)
    record = fit(model, (x, y), (x, y), TrainConfig(epochs=1, batch_size=16), str(tmp_path), verbose=0)
    assert record["precision_policy"] == precision_policy(model) == "float32"
    assert record["config"]["mixed_precision"] is False


def test_the_recipes_precision_flag_is_a_choice_with_a_device_default():
    from cnnzoo.recipes import mnist_lenet5
    from cnnzoo.training.recipe import build_parser, train_config

    parser = build_parser(mnist_lenet5.CONFIG, "")
    for argv, expected in (([], None), (["--mixed-precision"], True), (["--no-mixed-precision"], False)):
        args = parser.parse_args(argv)
        assert args.mixed_precision is expected
        args.epochs, args.batch_size, args.lr, args.seed, args.steps_per_execution = 1, 8, 0.1, 0, 1
        assert train_config(mnist_lenet5.CONFIG, args).mixed_precision is expected


def test_utilisation_is_flops_over_the_devices_peak():
    cnnzoo_record = dict(runner="cnnzoo", model="resnet50", mode="train", precision="bf16", batch_size=256,
                         device="NVIDIA H200", macs=4_089_184_256, examples_per_s=5000.0, first_step_s=20.0,
                         step_s=256 / 5000, peak_memory_bytes=2**34, framework="cnnzoo")
    twin = dict(cnnzoo_record, runner="torchvision", macs=None, examples_per_s=4000.0, framework="torchvision")
    failed = dict(cnnzoo_record, runner="torchvision", error="no result within 300 s")
    records = peers.with_utilisation([cnnzoo_record, twin, failed])
    expected = 6 * 4_089_184_256 * 5000.0 / 989e12  # 3 x (2 x MACs) per training example
    assert records[0]["mfu"] == pytest.approx(expected) and records[1]["mfu"] == pytest.approx(expected * 0.8)
    assert records[1]["ratio_to_cnnzoo"] == pytest.approx(0.8) and "mfu" not in records[2]
    assert peers.peak_flops("NVIDIA H200", "bf16") == 989e12 and peers.peak_flops("mystery", "bf16") is None
    assert peers.peak_flops("mystery", "bf16", override_tflops=100) == 100e12
    infer = peers.with_utilisation([dict(cnnzoo_record, mode="infer")])[0]["mfu"]
    assert infer == pytest.approx(expected / 3)
    text = peers.table(records)
    assert "5,000" in text and "0.80" in text and "failed: no result" in text and "16.0 GiB" in text
    assert text.endswith("\n\nMFU on NVIDIA H200: over 989.00 TFLOP/s (datasheet).")
    # a CPU has no datasheet row: its measured matmul rate is the peak, and the table says so
    cpu = dict(cnnzoo_record, device="cpu", precision="fp32", examples_per_s=10.0, step_s=25.6)
    assert peers.with_utilisation([dict(cpu)])[0]["mfu"] is None  # nothing measured: no MFU rather than a guess
    cpu = peers.with_utilisation([cpu], cpu_peak_flops=2e11)[0]
    assert cpu["mfu"] == pytest.approx(6 * 4_089_184_256 * 10.0 / 2e11)
    assert peers.with_utilisation([dict(cpu)], peak_tflops=1.0, cpu_peak_flops=2e11)[0]["peak_source"] == "--peak-tflops"
    text = peers.table([cpu])
    assert "| 10.0 |" in text and text.endswith("MFU on cpu: over 0.20 TFLOP/s (measured float32 matmul).")
    detail = {}
    assert harness.matmul_peak(sizes=(64, 128), repeats=2, detail=detail, library="numpy") == max(detail.values()) > 0


@pytest.mark.parametrize("arguments, match", [
    (["ssd300_vgg16"], r"times classifiers.*ssd300_vgg16 is a detection model.*Received: model='ssd300_vgg16'"),
    (["resnet50", "--peak-tflops", "-5"], r"--peak-tflops must be a positive number. Received: -5.0"),
    (["resnet50", "--peak-tflops", "nan"], r"--peak-tflops must be a positive number. Received: nan"),
    (["resnet50", "--compile"], r"--compile times torchvision's twin compiled, so it needs --peer torchvision"),
    (["resnet20", "--peer", "torchvision"], r"resnet20 has no torchvision twin; these do: .*resnet50"),
    (["resnet50", "--batch-size", "0"], r"--batch-size must be positive. Received: 0"),
    (["resnet50", "--warmup", "0"], r"--warmup must be positive. Received: 0"),
    (["resnet50", "--input-size", "0"], r"--input-size must be at least 1 for resnet50. Received: 0"),
    (["resnt50"], r"Did you mean 'resnet50'"),
])
def test_bench_names_the_argument_it_cannot_time_before_any_case_runs(arguments, match):
    with pytest.raises(ValueError, match=match):
        peers.check_args(peers.build_parser().parse_args(arguments))


def test_bench_inputs_and_precision_come_from_the_registry_and_the_device():
    assert peers.input_shape_of("resnet50") == (224, 224, 3) and peers.input_shape_of("vgg16", 97) == (97, 97, 3)
    assert peers.input_shape_of("r2plus1d_18") == (16, 112, 112, 3) and peers.is_video("mc3_18")
    assert peers.input_shape_of("tcn") == (784, 1) and peers.input_shape_of("tcn", 100) == (100, 1)  # its own
    assert not peers.is_video("resnet18") and not peers.is_video("tcn")
    assert peers.resolve_precision("bf16") == "bf16" and peers.resolve_precision("fp32") == "fp32"
    assert peers.resolve_precision("auto") == "fp32"  # this CPU: the engine's float32
    assert peers.build_parser().parse_args(["resnet50"]).precision == "auto"


def test_a_failed_bench_case_reports_the_exceptions_words(monkeypatch):
    class Done:
        returncode, stdout = 1, ""
        stderr = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    raise ValueError(\n"
                  "ValueError: resnet50 needs a larger input. Received: input_shape=(4, 4, 3)\n")

    monkeypatch.setattr(peers.subprocess, "run", lambda *a, **k: Done())
    record = peers.run_isolated(dict(runner="torchvision", model="resnet50"))
    assert record["error"] == "ValueError: resnet50 needs a larger input. Received: input_shape=(4, 4, 3)"
    Done.stderr = "Killed\n"
    assert peers.run_isolated(dict(runner="torchvision", model="resnet50"))["error"] == "Killed"


BLOCK_TENSORFLOW = "import sys\nsys.modules['tensorflow'] = None  # as if not installed: its import fails\n"
LOADED_TENSORFLOW = "[m for m, v in sys.modules.items() if m.startswith('tensorflow') and v is not None]"


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_engine_trains_arrays_and_pydatasets_without_tensorflow(backend, tmp_path):
    """The engine's array and PyDataset paths, the models, the weights and inspection, with TensorFlow's import
    blocked: on JAX and PyTorch none of them needs it."""
    pytest.importorskip(backend)
    code = BLOCK_TENSORFLOW + f"""
import json
import keras
import numpy as np
import cnnzoo
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.engine import fit
from cnnzoo.weights import list_weights

rng = np.random.default_rng(0)
x = rng.uniform(size=(48, 16, 16, 1)).astype("float32")
y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64")

class Batches(keras.utils.PyDataset):
    def __len__(self):
        return 3
    def __getitem__(self, i):
        return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]

records = [fit(cnnzoo.lenet5(input_shape=(16, 16, 1), classes=2), data, (x, y), TrainConfig(epochs=2, batch_size=16),
               {str(tmp_path)!r} + "/" + name, verbose=0) for name, data in (("arrays", (x, y)), ("pydataset", Batches()))]
assert len(list_weights()) > 0 and cnnzoo.summary("resnet18").macs > 0
print(json.dumps([[r["epochs_run"], r["precision_policy"], r["environment"]["tensorflow"]] for r in records]))
assert not {LOADED_TENSORFLOW}, {LOADED_TENSORFLOW}
"""
    env = dict(os.environ, KERAS_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[2, "float32", None]] * 2


def test_array_batches_change_order_with_the_epoch_and_not_with_anything_else():
    from cnnzoo.training.inputs import ArrayBatches

    x, y = np.arange(20)[:, None], np.arange(20)
    batches = ArrayBatches(x, y, 8, shuffle=True, seed=3)
    order = lambda epoch: (batches.set_epoch(epoch), np.concatenate([batches[i][1] for i in range(len(batches))]))[1]  # noqa: E731
    first, again, second = order(0), order(0), order(1)
    assert sorted(first) == list(range(20)) and len(batches) == 3
    np.testing.assert_array_equal(first, again)  # a resumed epoch sees the same order
    assert not np.array_equal(first, second)  # each epoch its own order
    other = ArrayBatches(x, y, 8, shuffle=True, seed=4)
    assert not np.array_equal(np.concatenate([other[i][1] for i in range(3)]), first)  # the seed matters
    np.testing.assert_array_equal(ArrayBatches(x, y, 8)[0][1], np.arange(8))  # evaluation: in order


def test_bench_a_model_on_jax_without_tensorflow(tmp_path):
    """cnnzoo bench MODEL on JAX with TensorFlow's import blocked: the models, summary and the timing need none."""
    pytest.importorskip("jax")
    block = BLOCK_TENSORFLOW
    case = dict(runner="cnnzoo", model="lenet5", mode="train", batch_size=4, precision="fp32", shape=[32, 32, 1],
                steps=2, warmup=1)
    code = block + ("import json\nfrom cnnzoo.bench.peers import measure_cpu_peak, run_case, table, with_utilisation\n"
                    f"record = with_utilisation([run_case({case!r})], cpu_peak_flops=measure_cpu_peak())[0]\n"
                    "print(table([record]))\nprint(json.dumps(record))\n"
                    f"assert not {LOADED_TENSORFLOW}\n")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    assert record["examples_per_s"] > 0 and record["macs"] > 0 and "jax" in record["framework"]
    assert 0 < record["mfu"] < 1 and record["peak_source"] == "measured float32 matmul"  # the CPU's peak, measured
