"""Speed and hardware utilisation: training and inference throughput, peak memory and
build time, side by side with keras.applications, against the machine's measured
fp32 matmul peak.

Each case runs in a fresh Python process (``python -m cnnzoo.benchmark --case JSON``)
so its build time and peak memory are its own. Throughput is the median of
``repeats`` timed runs of ``steps`` steps each, after ``warmup`` steps, on
in-memory synthetic batches. Achieved FLOP/s counts 6 x MACs per training
example and 2 x MACs per inference example (MACs from `cnnzoo.summary`).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name: (builder expression, default input shape)
MODELS = {
    "cnnzoo_resnet50": ("cnnzoo.resnet50(stride_in_1x1=True, conv_bias=True, input_shape={shape})", (224, 224, 3)),
    "keras_resnet50": ("keras.applications.ResNet50(weights=None, input_shape={shape})", (224, 224, 3)),
    "cnnzoo_vgg16": ("cnnzoo.vgg16(input_shape={shape})", (224, 224, 3)),
    "keras_vgg16": ("keras.applications.VGG16(weights=None, input_shape={shape})", (224, 224, 3)),
    "lenet5": ("cnnzoo.lenet5(input_shape={shape})", (28, 28, 1)),
    "resnet20": ("cnnzoo.resnet20(input_shape={shape})", (32, 32, 3)),
}
PAIRS = [("cnnzoo_resnet50", "keras_resnet50"), ("cnnzoo_vgg16", "keras_vgg16")]


def matmul_peak(n=2048, repeats=10):
    """Measured fp32 matmul throughput (FLOP/s) of this machine's default device."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def _peak_memory_bytes():
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_case(case):
    """One benchmark case in this process; returns its record."""
    import keras
    import numpy as np
    import tensorflow as tf

    import cnnzoo

    name, batch = case["model"], case["batch_size"]
    expr, default_shape = MODELS[name]
    shape = tuple(case.get("input_shape") or default_shape)
    if case.get("mixed_precision"):
        keras.mixed_precision.set_global_policy("mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16")
    start = time.perf_counter()
    model = eval(expr.format(shape=shape), {"cnnzoo": cnnzoo, "keras": keras})
    build_s = time.perf_counter() - start
    macs = cnnzoo.summary(model).macs
    classes = model.output_shape[-1]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch,) + shape).astype("float32"))
    y = tf.constant(np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy",
                  jit_compile=case.get("jit_compile", False))
    result = {"model": name, "input_shape": list(shape), "batch_size": batch, "macs": macs,
              "build_s": round(build_s, 3), "jit_compile": case.get("jit_compile", False),
              "mixed_precision": case.get("mixed_precision", False)}
    for mode in case.get("modes", ("train", "infer")):
        step = (lambda: model.train_on_batch(x, y)) if mode == "train" else (lambda: model.predict_on_batch(x))
        for _ in range(case["warmup"]):
            step()
        runs = []
        for _ in range(case["repeats"]):
            start = time.perf_counter()
            for _ in range(case["steps"]):
                out = step()
            np.asarray(out if mode == "infer" else out)  # wait for the result
            runs.append(batch * case["steps"] / (time.perf_counter() - start))
        per_example = (6 if mode == "train" else 2) * macs
        result[mode] = {"examples_per_s": round(statistics.median(runs), 2),
                        "runs_examples_per_s": [round(r, 2) for r in runs],
                        "flops_per_s": statistics.median(runs) * per_example}
    result["peak_memory_bytes"] = _peak_memory_bytes()
    return result


def run_isolated(case, timeout=1800):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "cnnzoo.benchmark", "--case", json.dumps(case)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def pipeline_overhead(steps=30, batch_size=128):
    """Steps/s of the MNIST and CIFAR recipe pipelines against the same model fed in-memory tensors."""
    import keras
    import numpy as np
    import tensorflow as tf

    import cnnzoo
    from cnnzoo import data

    results = []
    rng = np.random.default_rng(0)
    for name, model_fn, shape, augment in (
        ("mnist_lenet5", lambda: cnnzoo.lenet5(input_shape=(28, 28, 1)), (28, 28, 1), ("crop",)),
        ("cifar10_resnet20", lambda: cnnzoo.resnet20(), (32, 32, 3), ("crop", "flip")),
    ):
        n = batch_size * steps
        ds = data.Dataset(name, "train", rng.integers(0, 256, (n,) + shape, dtype=np.uint8),
                          rng.integers(0, 10, n), 10, "synthetic")
        pipe = data.make_pipeline(ds, batch_size, training=True, augment=augment,
                                  crop_padding=2 if shape[0] == 28 else 4)
        model = model_fn()
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        x, y = next(iter(pipe))
        memory = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
        sources = {"in_memory": memory, "pipeline": pipe}
        runs = {label: [] for label in sources}
        for label, source in sources.items():
            model.fit(source.take(3), verbose=0)  # warm up (tracing) on both
        for _ in range(3):  # interleaved, so drifts in machine load hit both alike
            for label, source in sources.items():
                start = time.perf_counter()
                model.fit(source, verbose=0)
                runs[label].append(steps / (time.perf_counter() - start))
        timings = {label: statistics.median(r) for label, r in runs.items()}
        results.append({"recipe": name, "steps_per_s_in_memory": round(timings["in_memory"], 2),
                        "steps_per_s_pipeline": round(timings["pipeline"], 2),
                        "overhead_fraction": round(1 - timings["pipeline"] / timings["in_memory"], 4)})
    del keras
    return results


def markdown(report):
    peak = report["matmul_peak_flops"]
    lines = [f"Machine: {report['machine']}; fp32 matmul peak measured in the same run: {peak / 1e9:.0f} GFLOP/s.", "",
             "| model | input | batch | train img/s | infer img/s | train % of peak | infer % of peak | build s | peak memory |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["cases"]:
        t, i = r.get("train", {}), r.get("infer", {})
        lines.append(
            f"| {r['model']} | {'x'.join(map(str, r['input_shape']))} | {r['batch_size']} | "
            f"{t.get('examples_per_s', '-')} | {i.get('examples_per_s', '-')} | "
            f"{100 * t['flops_per_s'] / peak:.0f}% | {100 * i['flops_per_s'] / peak:.0f}% | "
            f"{r['build_s']} | {r['peak_memory_bytes'] / 2**30:.2f} GiB |" if t and i else
            f"| {r['model']} | {'x'.join(map(str, r['input_shape']))} | {r['batch_size']} | - | - | - | - | {r['build_s']} | - |")
    if report.get("ratios"):
        lines += ["", "| cnnzoo / keras.applications | train ratio | infer ratio |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['train']:.3f} | {v['infer']:.3f} |" for k, v in report["ratios"].items()]
    if report.get("pipelines"):
        lines += ["", "| recipe pipeline | steps/s in memory | steps/s through the pipeline | overhead |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {p['recipe']} | {p['steps_per_s_in_memory']} | {p['steps_per_s_pipeline']} | "
                  f"{100 * p['overhead_fraction']:.1f}% |" for p in report["pipelines"]]
    lines += ["", f"Command: `{report['command']}`"]
    return "\n".join(lines)


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(prog="cnnzoo bench", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="cnnzoo_resnet50,keras_resnet50,cnnzoo_vgg16,keras_vgg16,lenet5,resnet20",
                        help=f"comma-separated, from: {', '.join(MODELS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=None, help="override the spatial size (square)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--modes", default="train,infer")
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--no-pipelines", action="store_true", help="skip the input-pipeline overhead measurement")
    parser.add_argument("--out", default="benchmarks/results", help="folder for results.json and results.md")
    return parser


def main_bench(args):
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"cnnzoo bench: error: unknown --models {unknown}; choose from {', '.join(MODELS)}")
    import tensorflow as tf

    peak = matmul_peak()
    cases = []
    for name in models:
        shape = MODELS[name][1]
        if args.input_size:
            shape = (args.input_size,) * (len(shape) - 1) + shape[-1:]
        case = dict(model=name, batch_size=args.batch_size, input_shape=shape, steps=args.steps,
                    repeats=args.repeats, warmup=args.warmup, modes=args.modes.split(","),
                    jit_compile=args.jit_compile, mixed_precision=args.mixed_precision)
        cases.append(run_isolated(case))
        print(f"{name}: " + ", ".join(f"{m} {cases[-1][m]['examples_per_s']} img/s" for m in case["modes"]), flush=True)
    by_name = {c["model"]: c for c in cases}
    ratios = {f"{a} / {b}": {m: by_name[a][m]["examples_per_s"] / by_name[b][m]["examples_per_s"]
                             for m in ("train", "infer") if m in by_name[a]}
              for a, b in PAIRS if a in by_name and b in by_name}
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    report = {"machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
              + (f", GPUs {gpus}" if gpus else "") + f", TF {tf.__version__}",
              "matmul_peak_flops": peak, "cases": cases, "ratios": ratios,
              "pipelines": [] if args.no_pipelines else pipeline_overhead(),
              "command": "cnnzoo bench " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:])}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    text = markdown(report)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


def main(argv=None):
    if argv is None and sys.argv[1:2] == ["--case"]:
        print(json.dumps(run_case(json.loads(sys.argv[2]))))
        return 0
    return main_bench(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
