"""Speed and hardware utilisation: training and inference throughput, peak memory and
build time, side by side with keras.applications, against the machine's measured
fp32 matmul peak, for a sweep of the settings that matter (XLA, mixed precision,
steps per execution, thread pools, batch size).

Each case runs in a fresh Python process (``python -m cnnzoo.bench --case JSON``)
so its build time, peak memory and thread settings are its own. Training
throughput is measured as the recipes train: ``model.fit`` on an in-memory
synthetic batch, one epoch of ``steps`` steps per timed run, the median of
``repeats`` runs after a warm-up epoch. Inference is ``predict_on_batch``.
Achieved FLOP/s counts 6 x MACs per training example and 2 x MACs per
inference example (MACs from `cnnzoo.summary`).

Settings (``--settings``, comma-separated; join several with ``+``):
``base`` (the defaults), ``xla`` (jit_compile), ``mixed`` (mixed_float16 on GPU,
mixed_bfloat16 on CPU), ``spe=N`` (steps_per_execution), ``threads=INTRA/INTER``
(TensorFlow's thread pools; 0 = TensorFlow's choice).

The pipeline measurement runs the MNIST and CIFAR recipes' training pipelines
(their batch size, augmentation and normalization, on synthetic data of the
real size) against the same model fed one in-memory batch, taking turns one
execution of the training function at a time (`pipeline_overhead`).
"""

import argparse
import importlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time

from cnnzoo.training.config import TrainConfig
from cnnzoo.training.recipe import default_of

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name: (builder expression, default input shape)
MODELS = {
    "cnnzoo_resnet50": ("cnnzoo.resnet50(stride_in_1x1=True, conv_bias=True, input_shape={shape})", (224, 224, 3)),
    "keras_resnet50": ("keras.applications.ResNet50(weights=None, input_shape={shape})", (224, 224, 3)),
    "resnet50": ("cnnzoo.resnet50(input_shape={shape})", (224, 224, 3)),  # cnnzoo's defaults: no conv bias
    "resnet50_no_norm": ("cnnzoo.resnet50(stride_in_1x1=True, conv_bias=True, norm=None, input_shape={shape})",
                         (224, 224, 3)),
    "cnnzoo_vgg16": ("cnnzoo.vgg16(input_shape={shape})", (224, 224, 3)),
    "keras_vgg16": ("keras.applications.VGG16(weights=None, input_shape={shape})", (224, 224, 3)),
    "lenet5": ("cnnzoo.lenet5(input_shape={shape})", (28, 28, 1)),
    "resnet20": ("cnnzoo.resnet20(input_shape={shape})", (32, 32, 3)),
}
PAIRS = [("cnnzoo_resnet50", "keras_resnet50"), ("cnnzoo_vgg16", "keras_vgg16")]
BACKGROUND = {"auto": None, "on": True, "off": False}  # --pipeline-background

RECIPE_STEPS_PER_EXECUTION = TrainConfig.steps_per_execution  # what the recipes train with


def _recipe_pipeline(recipe, shape, train_examples):
    """A recipe's training pipeline, read from its own CONFIG (the dataset's shape and size given)."""
    config = importlib.import_module(f"cnnzoo.recipes.{recipe}").CONFIG
    pipeline = {key: default_of(config, key) for key in ("augment", "crop_padding", "mean", "std")}
    return dict(model=config["model"], shape=shape, train_examples=train_examples, batch_size=config["batch_size"],
                **pipeline)


# The recipes' training pipelines, as the recipes train them.
PIPELINES = {
    "mnist_lenet5": _recipe_pipeline("mnist_lenet5", (28, 28, 1), 60000),
    "cifar10_resnet": _recipe_pipeline("cifar10_resnet", (32, 32, 3), 50000),
}


def parse_setting(text):
    """``"xla+spe=8"`` -> ``{"jit_compile": True, "steps_per_execution": 8}``; raises naming the token."""
    setting = {}
    for token in text.split("+"):
        key, _, value = token.strip().partition("=")
        try:
            if key == "base" and not value:
                continue
            if key == "xla" and not value:
                setting["jit_compile"] = True
            elif key == "mixed" and not value:
                setting["mixed_precision"] = True
            elif key == "spe" and int(value) >= 1:
                setting["steps_per_execution"] = int(value)
            elif key == "threads":
                intra, inter = (int(v) for v in value.split("/"))
                if intra < 0 or inter < 0:
                    raise ValueError
                setting["threads"] = [intra, inter]
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"--settings entries are base, xla, mixed, spe=N (N >= 1), threads=INTRA/INTER, joined "
                             f"with '+'. Received: {token!r} in {text!r}") from None
    return setting


def setting_name(setting):
    """The short name of a setting: ``{"jit_compile": True}`` -> ``"xla"`` (the inverse of `parse_setting`)."""
    parts = (["xla"] if setting.get("jit_compile") else []) + (["mixed"] if setting.get("mixed_precision") else [])
    if setting.get("steps_per_execution", 1) != 1:
        parts.append(f"spe={setting['steps_per_execution']}")
    if setting.get("threads"):
        parts.append("threads={}/{}".format(*setting["threads"]))
    return "+".join(parts) or "base"


def machine_name():
    """The CPU model (or the platform's name) the measurements ran on."""
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return (f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
            + (f", GPUs {gpus}" if gpus else "") + f", TF {tf.__version__}")


def matmul_peak(sizes=(1024, 2048, 4096), repeats=5, detail=None, library="tensorflow"):
    """Measured fp32 matmul throughput (FLOP/s): the best size's median.

    ``library``: ``"tensorflow"`` (its default device), or ``"numpy"`` (NumPy's BLAS on the CPU; imports no
    TensorFlow). ``detail``, a dict, receives each size's FLOP/s.
    """
    if library == "numpy":
        import numpy as np

        rng = np.random.default_rng(0)
        make, multiply = (lambda n: rng.standard_normal((n, n), dtype=np.float32)), np.matmul
    else:
        import tensorflow as tf

        f = tf.function(lambda a, b: tf.matmul(a, b))
        make, multiply = (lambda n: tf.random.normal((n, n))), (lambda a, b: f(a, b).numpy())
    best = 0.0
    for n in (sizes,) if isinstance(sizes, int) else sizes:
        a, b = make(n), make(n)
        multiply(a, b)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            multiply(a, b)
            times.append(time.perf_counter() - start)
        flops = 2 * n**3 / statistics.median(times)
        if detail is not None:
            detail[n] = flops
        best = max(best, flops)
    return best


def _peak_memory_bytes():
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def timed_fit(model, source, steps, repeats, warmup=True):
    """Steps/s of ``repeats`` epochs of ``steps`` steps each, after one warm-up epoch (tracing)."""
    import keras

    durations = []

    class Timer(keras.callbacks.Callback):  # engine.EpochTimer rounds to 10 ms: too coarse here
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            durations.append(time.perf_counter() - self.start)

    model.fit(source, steps_per_epoch=steps, epochs=int(warmup) + repeats, callbacks=[Timer()], verbose=0)
    return [steps / t for t in durations[int(warmup):]]


def run_case(case):
    """One benchmark case in this process; returns its record."""
    import tensorflow as tf

    if case.get("threads"):  # before anything creates TensorFlow's thread pools
        tf.config.threading.set_intra_op_parallelism_threads(case["threads"][0])
        tf.config.threading.set_inter_op_parallelism_threads(case["threads"][1])
    import keras
    import numpy as np

    import cnnzoo

    name, batch = case["model"], case["batch_size"]
    expr, default_shape = MODELS[name]
    shape = tuple(case.get("input_shape") or default_shape)
    if case.get("mixed_precision"):
        gpu = tf.config.list_logical_devices("GPU")
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    start = time.perf_counter()
    model = eval(expr.format(shape=shape), {"cnnzoo": cnnzoo, "keras": keras})
    build_s = time.perf_counter() - start
    macs = cnnzoo.summary(model).macs
    classes = model.output_shape[-1]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch,) + shape).astype("float32"))
    y = tf.constant(np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)])
    spe = case.get("steps_per_execution", 1)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy",
                  jit_compile=case.get("jit_compile", False), steps_per_execution=spe)
    result = {"model": name, "input_shape": list(shape), "batch_size": batch, "macs": macs,
              "build_s": round(build_s, 3), "jit_compile": case.get("jit_compile", False),
              "mixed_precision": case.get("mixed_precision", False), "steps_per_execution": spe,
              "threads": case.get("threads")}
    result["setting"] = setting_name(result)
    steps = -(-case["steps"] // spe) * spe  # whole executions
    for mode in case.get("modes", ("train", "infer")):
        if mode == "train":
            runs = [steps_per_s * batch for steps_per_s in
                    timed_fit(model, tf.data.Dataset.from_tensors((x, y)).repeat(), steps, case["repeats"])]
        else:
            for _ in range(case["warmup"]):
                model.predict_on_batch(x)
            runs = []
            for _ in range(case["repeats"]):
                start = time.perf_counter()
                for _ in range(case["steps"]):
                    out = model.predict_on_batch(x)
                np.asarray(out)  # wait for the result
                runs.append(batch * case["steps"] / (time.perf_counter() - start))
        per_example = (6 if mode == "train" else 2) * macs
        result[mode] = {"examples_per_s": round(statistics.median(runs), 2),
                        "runs_examples_per_s": [round(r, 2) for r in runs],
                        "flops_per_s": statistics.median(runs) * per_example}
    result["peak_memory_bytes"] = _peak_memory_bytes()
    return result


def run_isolated(case, timeout=1800):
    """Measures one case in a fresh Python process (its own threads and memory); returns its record."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "cnnzoo.bench", "--case", json.dumps(case)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def near_empty_model(shape, classes, steps_per_execution=RECIPE_STEPS_PER_EXECUTION):
    """A compiled model that does almost nothing (one pixel to a softmax): training it times its input."""
    import keras

    model = keras.Sequential([keras.Input(shape), keras.layers.Lambda(lambda t: t[:, 0, 0]),
                              keras.layers.Dense(classes, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", steps_per_execution=steps_per_execution)
    return model


def fit_cost_per_step(source, shape, classes, steps, repeats=5, steps_per_execution=RECIPE_STEPS_PER_EXECUTION):
    """Seconds per step of ``model.fit`` from ``source`` on `near_empty_model`.

    What a source costs the training loop per batch, with the model's own work
    taken out: the difference between two sources is one's extra cost per step,
    measured as training runs (``get_next`` inside the compiled multi-step loop).
    """
    model = near_empty_model(shape, classes, steps_per_execution)
    return 1 / statistics.median(timed_fit(model, source, steps, repeats))


def pipeline_overhead(recipe, steps=None, repeats=3, steps_per_execution=RECIPE_STEPS_PER_EXECUTION, background=None):
    """One recipe's pipeline: steps/s through it against the same model fed one in-memory batch.

    ``background`` is `make_pipeline`'s (None: its default for this machine).
    ``steps_per_execution`` moves to a divisor of ``steps`` near it, and the
    sources are repeated for one iterator each when it divides them, as the
    training engine does (`cnnzoo.training.engine.steps_per_execution_for`).

    The two sources take turns one execution (0.13-0.2 s for LeNet-5) at a time,
    ABBA, each through its own iterator, exactly as ``model.fit`` calls the
    compiled training function. A repeat is an epoch of the recipe (``steps``,
    default the recipe's) from each source, started as the engine's ``fit``
    starts one: the epoch's order set, and without one iterator for the run a
    new iterator replacing the last (whose deletion counts too), so per-epoch
    costs count as in training. The in-memory source has the pipelines' tf.data
    options (`pipeline_options`: autotuning off, without which deleting an
    iterator stalls). The overhead is the median over repeats of ``1 - in-memory
    time / pipeline time``. Turns this short cancel the drifts of a shared
    machine (+-10% between epochs here; with whole epochs as turns the MNIST
    quartiles spanned up to 13 points, now 2-4). Process CPU time per step is
    recorded beside it, and each source's cost per step in the fit of a
    near-empty model (`fit_cost_per_step`; the in-memory one is the training
    loop's own cost).
    """
    import numpy as np

    import cnnzoo
    from cnnzoo import data
    from cnnzoo.training.engine import steps_per_execution_for

    p = PIPELINES[recipe]
    batch = p["batch_size"]
    steps = steps or p["train_examples"] // batch
    spe = steps_per_execution_for(steps, steps_per_execution)
    rng = np.random.default_rng(0)
    n = steps * batch
    ds = data.Dataset(recipe, "train", rng.integers(0, 256, (n,) + p["shape"], dtype=np.uint8),
                      rng.integers(0, 10, n), 10, "synthetic")
    pipe = data.make_pipeline(ds, batch, training=True, augment=p["augment"], crop_padding=p["crop_padding"],
                              mean=p["mean"], std=p["std"], background=background)
    model = cnnzoo.get_model(p["model"], input_shape=p["shape"], classes=10)
    paired = paired_pipeline_overhead(model, pipe, steps, repeats, spe)
    return {"recipe": recipe, "model": p["model"], "batch_size": batch, "steps": steps,
            "background": bool(background) if background is not None else data.pipeline.default_background(),
            **paired,
            **{f"{label}_empty_model_us_per_step": round(1e6 * fit_cost_per_step(
                source.repeat(), p["shape"], 10, steps, steps_per_execution=spe), 1)
               for label, source in paired.pop("_sources").items()}}


def paired_pipeline_overhead(model, pipe, steps, repeats, steps_per_execution):
    """The core of `pipeline_overhead`, for any model and training pipeline (one with an
    ``epoch_counter``): the two sources in ABBA turns of one execution, ``repeats``
    epochs of ``steps`` steps. Returns the figures (and the two sources, as ``_sources``).
    """
    import keras
    import tensorflow as tf

    from cnnzoo import data

    spe = steps_per_execution
    calls, one_iterator = -(-steps // spe), steps % spe == 0
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy",
                  steps_per_execution=spe)
    x, y = next(iter(pipe))
    in_memory = tf.data.Dataset.from_tensors((x, y)).repeat(steps).with_options(data.pipeline.pipeline_options(False))
    sources = {"in_memory": in_memory, "pipeline": pipe}  # an epoch each
    model.fit(sources["in_memory"].repeat(), steps_per_epoch=2 * spe, verbose=0)  # tracing
    if one_iterator:
        sources = {label: source.repeat() for label, source in sources.items()}
    iterators = {}  # an epoch's iterator replaces the last one (whose deletion so counts, as in fit)

    def start(label, epoch):  # as fit starts an epoch: the engine's callback sets it; Keras may make an iterator
        if label == "pipeline":
            pipe.epoch_counter.set(epoch)
        if label not in iterators or not one_iterator:
            iterators[label] = iter(sources[label])

    seconds, cpu = {label: [] for label in sources}, {label: [] for label in sources}
    for epoch in range(-1, repeats):  # epoch -1 warms up
        for call in range(calls):
            for label in (("in_memory", "pipeline") if call % 2 == 0 else ("pipeline", "in_memory")):
                wall, before = time.perf_counter(), time.process_time()
                if call == 0:
                    start(label, epoch + 1)
                model.train_function(iterators[label])
                if epoch >= 0:
                    if call == 0:
                        seconds[label].append(0.0)
                        cpu[label].append(0.0)
                    seconds[label][-1] += time.perf_counter() - wall
                    cpu[label][-1] += time.process_time() - before
    paired = sorted(1 - a / b for a, b in zip(seconds["in_memory"], seconds["pipeline"]))
    return {"steps_per_execution": spe, "one_iterator": one_iterator, "repeats": repeats,
            **{f"steps_per_s_{label}": round(steps / statistics.median(v), 3) for label, v in seconds.items()},
            "overhead_fraction": round(statistics.median(paired), 4),
            "overhead_quartiles": [round(q, 4) for q in (statistics.quantiles(paired, n=4)[::2]
                                                         if len(paired) > 1 else paired * 2)],
            **{f"cpu_ms_per_step_{label}": round(1e3 * statistics.median(v) / steps, 3) for label, v in cpu.items()},
            "_sources": sources}


def _ratio_key(a, b, case):
    return f"{a} / {b} (batch {case['batch_size']}, {case['setting']})"


def ratios(cases):
    """cnnzoo / keras.applications throughput for each pair measured at the same batch and setting."""
    index = {(c["model"], c["batch_size"], c["setting"]): c for c in cases}
    out = {}
    for a, b in PAIRS:
        for (model, batch, setting), case in index.items():
            other = index.get((b, batch, setting))
            if model == a and other:
                out[_ratio_key(a, b, case)] = {m: case[m]["examples_per_s"] / other[m]["examples_per_s"]
                                               for m in ("train", "infer") if m in case and m in other}
    return out


def markdown(report):
    """The report as Markdown tables: models and settings, pairs, input pipelines."""
    peak = report["matmul_peak_flops"]
    sizes = report.get("matmul_flops_by_size") or {}
    detail = f" (best of n = {', '.join(f'{n}: {v / 1e9:.0f}' for n, v in sizes.items())})" if sizes else ""
    lines = [f"Machine: {report['machine']}; fp32 matmul peak measured in the same run: {peak / 1e9:.0f} GFLOP/s"
             f"{detail}."]
    if report["cases"]:
        lines += ["", "| model | input | batch | setting | train img/s | infer img/s | train % of peak "
                  "| infer % of peak | build s | peak memory |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["cases"]:
        cells = [r["model"], "x".join(map(str, r["input_shape"])), r["batch_size"], r.get("setting", "base")]
        for mode in ("train", "infer"):
            cells.append(r[mode]["examples_per_s"] if mode in r else "-")
        for mode in ("train", "infer"):
            cells.append(f"{100 * r[mode]['flops_per_s'] / peak:.0f}%" if mode in r else "-")
        cells += [r["build_s"], f"{r['peak_memory_bytes'] / 2**30:.2f} GiB"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    if report.get("ratios"):
        lines += ["", "| cnnzoo / keras.applications | train ratio | infer ratio |", "|---|---:|---:|"]
        lines += [f"| {k} | {v.get('train', float('nan')):.3f} | {v.get('infer', float('nan')):.3f} |"
                  for k, v in report["ratios"].items()]
    if report.get("pipelines"):
        lines += ["", "| recipe pipeline | model | batch | steps | steps/execution | iterators | background threads "
                  "| repeats | steps/s in memory | steps/s through the pipeline | overhead (quartiles) "
                  "| CPU ms/step in memory / pipeline | near-empty model, us/step: in memory / pipeline |",
                  "|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {p['recipe']} | {p['model']} | {p['batch_size']} | {p['steps']} | {p['steps_per_execution']} "
                  f"| {'one for the run' if p.get('one_iterator') else 'one an epoch'} "
                  f"| {'yes' if p.get('background') else 'no'} | {p.get('repeats', 3)} "
                  f"| {p['steps_per_s_in_memory']} | {p['steps_per_s_pipeline']} | {100 * p['overhead_fraction']:.1f}% "
                  + ("({:.1f}% to {:.1f}%)".format(*(100 * q for q in p["overhead_quartiles"]))
                     if "overhead_quartiles" in p else "")
                  + f" | {p.get('cpu_ms_per_step_in_memory', '-')} / {p.get('cpu_ms_per_step_pipeline', '-')} "
                  f"| {p.get('in_memory_empty_model_us_per_step', '-')} / "
                  f"{p.get('pipeline_empty_model_us_per_step', '-')} |"
                  for p in report["pipelines"]]
    lines += ["", f"Command: `{report['command']}`"]
    return "\n".join(lines)


def _positive_ints(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise SystemExit(f"cnnzoo bench: error: {name} must be positive integers, comma-separated. Received: {text!r}")
    return values


def _positive_int(text):
    """argparse type: an int >= 1 (``--steps 0`` spun forever before)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Received: {text!r}")
    return value


def build_parser(parser=None):
    """The ``cnnzoo bench`` command line (into ``parser`` when given)."""
    parser = parser or argparse.ArgumentParser(prog="cnnzoo bench", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="cnnzoo_resnet50,keras_resnet50,cnnzoo_vgg16,keras_vgg16,lenet5,resnet20",
                        help=f"comma-separated, from: {', '.join(MODELS)}")
    parser.add_argument("--batch-size", default="32", help="one or more, comma-separated (default 32)")
    parser.add_argument("--input-size", type=int, default=None, help="override the spatial size (square)")
    parser.add_argument("--steps", type=_positive_int, default=5, help="steps per timed run")
    parser.add_argument("--repeats", type=_positive_int, default=3,
                        help="timed runs (the median is reported); for pipelines, epochs from each source, "
                             "taking turns every execution")
    parser.add_argument("--warmup", type=int, default=2, help="untimed inference steps first (training: one epoch)")
    parser.add_argument("--modes", default="train,infer")
    parser.add_argument("--settings", default="base",
                        help="comma-separated settings to sweep: base, xla, mixed, spe=N, threads=INTRA/INTER, "
                             "combined with '+' (e.g. base,xla,spe=16)")
    parser.add_argument("--jit-compile", action="store_true", help="the same as --settings xla")
    parser.add_argument("--mixed-precision", action="store_true", help="the same as --settings mixed")
    parser.add_argument("--pipelines", default="mnist_lenet5,cifar10_resnet",
                        help=f"recipe pipelines to measure, from: {', '.join(PIPELINES)} ('' for none)")
    parser.add_argument("--pipeline-steps", default="",
                        help="steps per pipeline epoch, per recipe as NAME=STEPS (default: a full epoch)")
    parser.add_argument("--pipeline-spe", type=int, default=RECIPE_STEPS_PER_EXECUTION,
                        help="steps_per_execution of the pipeline runs (default: the recipes', %(default)s), "
                             "moved to a divisor of the epoch's steps near it as the training engine does")
    parser.add_argument("--pipeline-background", choices=("auto", "on", "off"), default="auto",
                        help="prepare batches on tf.data's background threads (make_pipeline's background); "
                             "auto: the recipes' default for this machine")
    parser.add_argument("--no-pipelines", action="store_true", help="skip the input-pipeline overhead measurement")
    parser.add_argument("--out", default="benchmarks/results", help="folder for results.json and results.md")
    return parser


def main_bench(args):
    """Runs the benchmark ``args`` asks for; writes results.json and results.md into ``--out``."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"cnnzoo bench: error: unknown --models {unknown}; choose from {', '.join(MODELS)}")
    batches = _positive_ints(args.batch_size, "--batch-size")
    try:
        settings = [parse_setting(t) for t in args.settings.split(",") if t.strip()]
    except ValueError as e:
        raise SystemExit(f"cnnzoo bench: error: {e}") from None
    for setting in settings:  # the flags apply to every setting
        if args.jit_compile:
            setting["jit_compile"] = True
        if args.mixed_precision:
            setting["mixed_precision"] = True
    pipelines = [] if args.no_pipelines else [p.strip() for p in args.pipelines.split(",") if p.strip()]
    if [p for p in pipelines if p not in PIPELINES]:
        raise SystemExit(f"cnnzoo bench: error: unknown --pipelines {pipelines}; choose from {', '.join(PIPELINES)}")
    pipeline_steps = {}
    for item in filter(None, args.pipeline_steps.split(",")):
        name, _, steps = item.partition("=")
        if name not in PIPELINES or not steps.isdigit() or int(steps) < 1:
            raise SystemExit(f"cnnzoo bench: error: --pipeline-steps entries are NAME=STEPS with NAME in "
                             f"{', '.join(PIPELINES)}. Received: {item!r}")
        pipeline_steps[name] = int(steps)
    peak_by_size = {}
    peak = matmul_peak(detail=peak_by_size)
    cases = []
    for name in models:
        shape = MODELS[name][1]
        if args.input_size:
            shape = (args.input_size,) * (len(shape) - 1) + shape[-1:]
        for batch in batches:
            for setting in settings:
                case = dict(model=name, batch_size=batch, input_shape=shape, steps=args.steps, repeats=args.repeats,
                            warmup=args.warmup, modes=args.modes.split(","), **setting)
                cases.append(run_isolated(case))
                print(f"{name} batch {batch} {cases[-1]['setting']}: "
                      + ", ".join(f"{m} {cases[-1][m]['examples_per_s']} img/s" for m in case["modes"]), flush=True)
    report = {"machine": machine_name(),
              "matmul_peak_flops": peak, "matmul_flops_by_size": peak_by_size, "cases": cases, "ratios": ratios(cases),
              "pipelines": [pipeline_overhead(p, pipeline_steps.get(p), repeats=args.repeats,
                                              steps_per_execution=args.pipeline_spe,
                                              background=BACKGROUND[args.pipeline_background])
                            for p in pipelines],
              "command": shlex.join(["cnnzoo"] + args.argv)}
    write_report(report, args.out, markdown)
    return 0


def write_report(report, out, to_markdown):
    """``out``/results.json and ``out``/results.md (``to_markdown(report)``, also printed)."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    text = to_markdown(report)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def main(argv=None):
    """``python -m cnnzoo.bench [options]``: the same as ``cnnzoo bench``."""
    if argv is None and sys.argv[1:2] == ["--case"]:
        print(json.dumps(run_case(json.loads(sys.argv[2]))))
        return 0
    args = build_parser().parse_args(argv)
    args.argv = ["bench"] + (sys.argv[1:] if argv is None else list(argv))  # the command, as the report records it
    return main_bench(args)


if __name__ == "__main__":
    sys.exit(main())
