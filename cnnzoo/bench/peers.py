"""cnnzoo beside its peers on any Keras backend: images per second, peak device memory and model FLOP
utilisation of a training step (or inference) for a cnnzoo model, and, when torch and torchvision are
installed, for torchvision's twin on the same device in the same run (eager, and ``torch.compile``'d).

    cnnzoo bench resnet50 --peer torchvision [--compile] [--batch-size 256] [--precision bf16]
    python -m cnnzoo.bench.peers resnet50 ...      # the same

No TensorFlow is imported: the data are made on the device (random images and one-hot labels, the same
for every step), so what is timed is the model, not a pipeline. Each case runs in a fresh Python process
(its compile time, peak memory and precision policy are its own). A case's time per step is the median of
``--steps`` steps after ``--warmup`` steps, each step ending with its loss read back (as a training loop
that logs its loss does); the first step's time (build + compile + step) is reported too.

Model FLOP utilisation (MFU) counts 2 x MACs per example for inference and 3 x that for a training step
(MACs from `cnnzoo.summary`, the same network for the twin), over the device's peak rate for the precision:
`PEAK_TFLOPS` (datasheet dense rates), or ``--peak-tflops``. A CPU has no datasheet row: its peak is this
machine's float32 matrix-multiply rate, measured with NumPy's BLAS before the cases run (what a convolution
lowered to a matrix multiply could reach here); the table says which peak it used.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

# Datasheet dense peak rates (TFLOP/s) by device name fragment and precision; "--peak-tflops" overrides.
# "fp32" is the TF32 rate: XLA (JAX) and cuDNN (PyTorch) run float32 convolutions on TF32 tensor cores by default on
# these GPUs (measured: ResNet-50 fp32 on an H200 reached 1.2x the plain-fp32 67 TFLOP/s).
PEAK_TFLOPS = {
    "H200": {"bf16": 989.0, "fp32": 494.0},
    "H100": {"bf16": 989.0, "fp32": 494.0},
    "A100": {"bf16": 312.0, "fp32": 156.0},
    "L4": {"bf16": 121.0, "fp32": 60.0},
}
PRECISIONS = ("auto", "fp32", "bf16")
MODES = ("train", "infer")
PEERS = ("none", "torchvision")


def is_video(model):
    """Whether a registered model takes clips only (its registry entry builds for rank 3 alone)."""
    from cnnzoo import registry

    return tuple(registry.model_ranks(model)) == (3,)


def input_shape_of(model, size=None):
    """The benchmark's input for a registered classifier: 224x224x3 images, 16x112x112x3 clips for a video model, a
    sequence model's own default (TCN: 784x1); ``size`` replaces the spatial size (a sequence's length).
    """
    from cnnzoo import registry

    ranks = registry.model_ranks(model)
    if 2 in ranks:
        return (size or 224, size or 224, 3)
    if is_video(model):
        return (16, size or 112, size or 112, 3)
    length, *channels = registry.model_info(model).input_shape
    return (size or length, *channels)


def check_args(args):
    """Raises ValueError naming the argument for what ``cnnzoo bench MODEL`` cannot time, before any case runs."""
    import math

    from cnnzoo import registry

    info = registry.model_info(args.model)  # an unknown name raises with the closest matches
    if info.task != "classification":
        raise ValueError(f"cnnzoo bench times classifiers (a training step with a cross-entropy loss); {args.model} is "
                         f"a {info.task} model (cnnzoo.detect runs it). Received: model={args.model!r}")
    for name in ("batch_size", "steps", "warmup"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be positive. Received: {getattr(args, name)}")
    if args.input_size is not None and args.input_size < info.min_size:
        raise ValueError(f"--input-size must be at least {info.min_size} for {args.model}. "
                         f"Received: {args.input_size}")
    if args.peak_tflops is not None and not (math.isfinite(args.peak_tflops) and args.peak_tflops > 0):
        raise ValueError(f"--peak-tflops must be a positive number. Received: {args.peak_tflops}")
    if args.compile and args.peer != "torchvision":
        raise ValueError(f"--compile times torchvision's twin compiled, so it needs --peer torchvision. "
                         f"Received: --peer {args.peer}")
    if args.peer == "torchvision" and not info.torchvision_rules:
        from cnnzoo.weights import torchvision_twins

        raise ValueError(f"--peer torchvision: {args.model} has no torchvision twin; these do: "
                         f"{', '.join(torchvision_twins())}. Received: model={args.model!r}")


def resolve_precision(precision, backend=None):
    """``"auto"`` -> the training engine's default for this backend's device (`backend_defaults.default_precision`:
    bf16 on GPUs with bf16 matrix units, fp32 elsewhere); ``"fp32"`` / ``"bf16"`` as given.
    """
    if precision != "auto":
        return precision
    from cnnzoo.training import backend_defaults

    return "bf16" if backend_defaults.default_precision(backend) == "mixed_bfloat16" else "fp32"


def peak_flops(device_name, precision, override_tflops=None):
    """The device's peak FLOP/s for ``precision`` (`PEAK_TFLOPS`, or ``override_tflops``), or None."""
    if override_tflops:
        return override_tflops * 1e12
    for fragment, rates in PEAK_TFLOPS.items():
        if fragment in (device_name or ""):
            return rates[precision] * 1e12
    return None


def _time_steps(step, steps, warmup):
    """``(first step s, median step s)``: ``step()`` must return only once its work is done."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def _cnnzoo_case(case):
    """Times a cnnzoo model on the current Keras backend (no TensorFlow imported unless it is the backend)."""
    import keras
    import numpy as np

    import cnnzoo
    from cnnzoo import backends

    backend = keras.backend.backend()
    if case["precision"] == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    shape, batch = tuple(case["shape"]), case["batch_size"]
    data_format = case.get("data_format", "channels_last")
    if data_format == "channels_first":  # the case's shape is channels-last
        shape = (shape[-1],) + shape[:-1]
    build_start = time.perf_counter()
    model = cnnzoo.get_model(case["model"], input_shape=shape, classes=1000, data_format=data_format)
    build_s = time.perf_counter() - build_start
    macs = cnnzoo.summary(model).macs
    rng = np.random.default_rng(0)
    x_host = rng.normal(size=(batch, *shape)).astype("float32")
    y_host = np.eye(1000, dtype="float32")[rng.integers(0, 1000, batch)]
    x, y = _on_device(backend, x_host), _on_device(backend, y_host)
    if case["mode"] == "train":
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.CategoricalCrossentropy(), jit_compile=case.get("jit_compile", "auto"))
        step = lambda: model.train_on_batch(x, y)  # noqa: E731  (returns the loss as a number: synced)
    else:
        step = lambda: np.asarray(model.predict_on_batch(x))  # noqa: E731
    with backends.constants_on_host():  # as cnnzoo.training.fit steps: the optimizer's slots made on the host (JAX)
        first, median = _time_steps(step, case["steps"], case["warmup"])
    return dict(first_step_s=first, step_s=median, build_s=build_s, macs=macs, peak_memory_bytes=_peak_memory(backend),
                device=_device_name(backend), framework=f"cnnzoo on Keras {keras.__version__} ({backend})")


def _on_device(backend, array):
    if backend == "jax":
        import jax

        return jax.device_put(array)
    if backend == "torch":
        import torch

        return torch.as_tensor(array, device="cuda" if torch.cuda.is_available() else "cpu")
    return array


def _peak_memory(backend):
    try:
        if backend == "jax":
            import jax

            return jax.devices()[0].memory_stats().get("peak_bytes_in_use")
        if backend == "torch":
            import torch

            return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] if tf.config.list_logical_devices("GPU") \
            else None
    except Exception:  # a CPU device keeps no statistics
        return None


def _device_name(backend):
    try:
        if backend == "jax":
            import jax

            return getattr(jax.devices()[0], "device_kind", str(jax.devices()[0]))
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu") if gpus else "cpu"
    except Exception:
        return None


def _torchvision_case(case):
    """Times torchvision's twin of a cnnzoo model with PyTorch (channels-last, bf16 autocast), eager or compiled."""
    import numpy as np
    import torch
    import torchvision

    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape, batch = tuple(case["shape"]), case["batch_size"]
    video = is_video(case["model"])
    builder = getattr(torchvision.models.video if video else torchvision.models, case["model"])
    build_start = time.perf_counter()
    # torchvision's googlenet adds its auxiliary heads by default; cnnzoo's googlenet() has none: the same network
    extra = {"aux_logits": False, "init_weights": True} if case["model"] == "googlenet" else {}
    model = builder(num_classes=1000, **extra).to(device)
    layout = torch.channels_last_3d if video else torch.channels_last
    model = model.to(memory_format=layout)
    build_s = time.perf_counter() - build_start
    if case["compile"]:
        model = torch.compile(model)
    rng = np.random.default_rng(0)
    # (N, C, T, H, W) / (N, C, H, W) from the channels-last shape
    x = torch.as_tensor(rng.normal(size=(batch, *shape)).astype("float32"), device=device)
    x = x.permute(0, len(shape), *range(1, len(shape))).contiguous(memory_format=layout)
    y = torch.as_tensor(rng.integers(0, 1000, batch), device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=case["precision"] == "bf16")
    if case["mode"] == "train":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()  # synced, as the cnnzoo step
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast:
                out = model(x)
            return out.float().cpu()

    first, median = _time_steps(step, case["steps"], case["warmup"])
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return dict(first_step_s=first, step_s=median, build_s=build_s, macs=None, peak_memory_bytes=peak, device=name,
                framework=f"torchvision {torchvision.__version__} on torch {torch.__version__}"
                          + (" (torch.compile)" if case["compile"] else " (eager)"))


def run_case(case):
    """One case in this process: ``case["runner"]`` is ``"cnnzoo"`` or ``"torchvision"``; returns its record."""
    runner = _cnnzoo_case if case["runner"] == "cnnzoo" else _torchvision_case
    record = dict(case, **runner(case))
    per_step = case["batch_size"] / record["step_s"]
    record["examples_per_s"] = per_step
    return record


def run_isolated(case, timeout=900):
    """`run_case` in a fresh Python process (its own compile, memory and policy); the error text on failure."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if case["runner"] == "cnnzoo" and case.get("backend"):
        env["KERAS_BACKEND"] = case["backend"]
    try:
        out = subprocess.run([sys.executable, "-m", "cnnzoo.bench.peers", "--case", json.dumps(case)],
                             capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(case, error=f"no result within {timeout} s")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        text = (out.stderr or out.stdout).strip().splitlines()
        raised = [line for line in text if re.match(r"[\w.]*(Error|Exception)\b.*?: ", line)]
        # the exception's own words where Python printed one, else the output's last lines
        return dict(case, error=raised[-1] if raised else " | ".join(text[-3:]) or f"exit status {out.returncode}")
    return json.loads(lines[-1])


def with_utilisation(records, peak_tflops=None, cpu_peak_flops=None):
    """Adds MFU to each record (the twin's MACs are its cnnzoo model's) and the ratio to the first record.

    ``cpu_peak_flops``: the peak of a record whose device is the CPU (a measured rate, `measure_cpu_peak`).
    """
    macs = next((r["macs"] for r in records if r.get("macs")), None)
    base = next((r for r in records if "error" not in r), None)
    for r in records:
        if "error" in r:
            continue
        flops_per_example = 2 * (macs or 0) * (3 if r["mode"] == "train" else 1)
        peak, source = peak_flops(r.get("device"), r["precision"], peak_tflops), "datasheet"
        if peak_tflops:
            source = "--peak-tflops"
        elif peak is None and r.get("device") == "cpu" and cpu_peak_flops:
            peak, source = cpu_peak_flops, "measured float32 matmul"
        r["peak_flops"], r["peak_source"] = (peak, source) if peak else (None, None)
        r["mfu"] = flops_per_example * r["examples_per_s"] / peak if peak and macs else None
        r["ratio_to_cnnzoo"] = r["examples_per_s"] / base["examples_per_s"] if base else None
    return records


def measure_cpu_peak():
    """This CPU's float32 matrix-multiply rate (FLOP/s, NumPy's BLAS on every core): the MFU peak of CPU cases."""
    from cnnzoo.bench.harness import matmul_peak

    return matmul_peak(sizes=(1024, 2048), repeats=3, library="numpy")


def _rate(examples_per_s):
    return f"{examples_per_s:,.0f}" if examples_per_s >= 100 else f"{examples_per_s:.1f}"


def table(records):
    """A Markdown table of the records, then the peak each MFU is over."""
    lines = ["| runner | model | mode | batch | precision | examples/s | ratio | first step | peak memory | MFU |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['runner']} | {r['model']} | {r['mode']} | {r['batch_size']} | {r['precision']} | "
                         f"failed: {r['error'][:120]} | | | | |")
            continue
        memory = f"{r['peak_memory_bytes'] / 2**30:.1f} GiB" if r.get("peak_memory_bytes") else "-"
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") else "-"
        jit = r.get("jit_compile")
        framework = r["framework"] + (f", jit_compile={jit}" if r["runner"] == "cnnzoo" and jit != "auto" else "") \
            + (", channels_first" if r.get("data_format") == "channels_first" else "")
        lines.append(f"| {framework} | {r['model']} | {r['mode']} | {r['batch_size']} | {r['precision']} | "
                     f"{_rate(r['examples_per_s'])} | {r['ratio_to_cnnzoo']:.2f} | {r['first_step_s']:.1f} s | "
                     f"{memory} | {mfu} |")
    peaks = sorted({(r["device"], r["peak_flops"], r["peak_source"]) for r in records if r.get("peak_flops")},
                   key=str)
    lines += [""] * bool(peaks) + [f"MFU on {device}: over {flops / 1e12:,.2f} TFLOP/s ({source})."
                                   for device, flops, source in peaks]
    return "\n".join(lines)


def build_parser(parser=None):
    """The command line (``cnnzoo bench MODEL``; into ``parser`` when given)."""
    parser = parser or argparse.ArgumentParser(prog="cnnzoo bench", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a registered model (resnet50, vgg16, googlenet, r2plus1d_18...)")
    parser.add_argument("--peer", choices=PEERS, default="none", help="time torchvision's twin too")
    parser.add_argument("--compile", action="store_true", help="the twin compiled with torch.compile too")
    parser.add_argument("--mode", choices=MODES, default="train")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=None, help="spatial size (default 224; clips 112)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="bf16: Keras mixed_bfloat16 / torch bf16 autocast; fp32: neither; auto (default): "
                             "the training engine's choice for this device (bf16 on GPUs with bf16 units, else fp32)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (the median is reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (the first one is compile)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak rate for MFU")
    parser.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto",
                        help="the cnnzoo model's compiled step (Keras's jit_compile: XLA on JAX and TensorFlow, "
                             "torch.compile on PyTorch)")
    parser.add_argument("--data-format", choices=("channels_last", "channels_first"), default=None,
                        help="the cnnzoo model's layout (default: keras.config.image_data_format()); the twin runs "
                             "channels-last memory either way, as PyTorch users run it")
    parser.add_argument("--out", default=None, help="write results.json and results.md into this folder")
    return parser


def cases_for(args):
    """The cases ``args`` ask for: cnnzoo on this process's Keras backend, then the twin eager and compiled."""
    import keras

    common = dict(model=args.model, mode=args.mode, batch_size=args.batch_size,
                  precision=resolve_precision(args.precision, keras.backend.backend()),
                  shape=list(input_shape_of(args.model, args.input_size)), steps=args.steps, warmup=args.warmup)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    data_format = getattr(args, "data_format", None) or keras.config.image_data_format()
    cases = [dict(common, runner="cnnzoo", backend=keras.backend.backend(), jit_compile=jit, data_format=data_format)]
    if args.peer == "torchvision":
        cases.append(dict(common, runner="torchvision", compile=False))
        if args.compile:
            cases.append(dict(common, runner="torchvision", compile=True))
    return cases


def main(argv=None):
    """``cnnzoo bench MODEL [--peer torchvision]``: prints the table; exit status 1 if a case failed."""
    if argv is None and sys.argv[1:2] == ["--case"]:
        print(json.dumps(run_case(json.loads(sys.argv[2]))))
        return 0
    args = build_parser().parse_args(argv)
    return run(args)


def run(args):
    """Runs the cases of parsed ``args``, prints and (with ``--out``) writes the results."""
    check_args(args)
    if args.peer == "torchvision":
        try:
            import torchvision  # noqa: F401
        except ImportError:
            raise ValueError("--peer torchvision needs torch and torchvision: pip install torch torchvision") from None
    records = [run_isolated(c) for c in cases_for(args)]
    cpu = any(r.get("device") == "cpu" for r in records) and not args.peak_tflops
    records = with_utilisation(records, args.peak_tflops, measure_cpu_peak() if cpu else None)
    if args.out:
        from cnnzoo.bench.harness import write_report

        write_report(records, args.out, table)
    else:
        print(table(records))
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
