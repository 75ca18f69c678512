"""Where a JAX training step's first-call time goes: GoogLeNet against ResNet-50.

For each model, in a fresh process each (`--case`): the build, JAX's trace of one training step (forward,
gradients, an SGD update), the lowering, XLA's compile (process CPU seconds, which the machine's other load
moves less than the wall clock, and wall seconds), the first and second calls of the compiled step, and the
number of fused computations XLA made and how many of them are distinct: XLA compiles one kernel per distinct
fused computation, so a network of repeated blocks (ResNet-50) compiles fewer than one whose every layer has a
shape of its own (GoogLeNet's nine Inception modules). A second part times stacks of 16 convolution + batch norm
layers, all of one shape or each of its own, which isolates that cost.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/compile_cost.py --out benchmarks/results/googlenet_compile

Writes results.json and results.md to --out. Variants: ``--xla-flags`` (each case's XLA_FLAGS),
``--no-kernel`` (Keras's own batch norm instead of cnnzoo's JAX kernel, `cnnzoo/backends/jax.py`).

``--cached-first-step``: instead, Keras's first training step (``train_on_batch``, SGD with momentum, as `cnnzoo
bench` times it) in two fresh processes sharing cnnzoo's compilation cache (`backend_defaults.use_compilation_cache`,
in a new folder): the first compiles and keeps the step, the second loads it.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/compile_cost.py --models resnet50,googlenet --cached-first-step
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

MODELS = ("resnet50", "googlenet")


def _distinct_fusions(hlo_text):
    """``(fused computations, distinct ones)`` of an optimized HLO module, names and metadata aside."""
    blocks = re.findall(r"^(%fused_computation[\w.]*) \((.*?)\{\n(.*?)\n\}", hlo_text, re.S | re.M)
    distinct = set()
    for _, signature, body in blocks:
        text = re.sub(r"metadata=\{[^}]*\}", "", signature + body)
        text = re.sub(r"%[\w.\-]+", "%", text)
        text = re.sub(r"[\w.]+(?=: )", "p", text)
        distinct.add(re.sub(r"stack_frame_id=\d+", "", text))
    return len(blocks), len(distinct)


def _batch(batch, shape, classes):
    """A synthetic batch on the device: normal images, one-hot labels (seed 0)."""
    import jax
    import numpy as np

    rng = np.random.default_rng(0)
    x = jax.device_put(rng.normal(size=(batch, *shape)).astype("float32"))
    return x, jax.device_put(np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)])


def _first_step(case):
    import jax
    import keras

    import cnnzoo
    from cnnzoo import backends
    from cnnzoo.training import backend_defaults

    backend_defaults.use_compilation_cache()
    start = time.perf_counter()
    model = cnnzoo.get_model(case["model"], input_shape=(224, 224, 3), classes=1000)
    build_s = time.perf_counter() - start
    x, y = _batch(case["batch_size"], (224, 224, 3), 1000)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=keras.losses.CategoricalCrossentropy())
    calls = []
    with backends.constants_on_host():  # as cnnzoo.training.fit steps
        for _ in range(2):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            calls.append(time.perf_counter() - start)
    return dict(case, build_s=build_s, first_step_s=calls[0], second_step_s=calls[1],
                cache_entries=len(os.listdir(jax.config.jax_compilation_cache_dir)), jax=jax.__version__)


def _case(case):
    if case.get("cached_first_step"):
        return _first_step(case)
    import jax
    import keras

    import cnnzoo
    from cnnzoo import backends

    if not case["kernel"]:
        backends.batch_norm_training = lambda: None
    batch = case["batch_size"]
    start = time.perf_counter()
    if case["model"].startswith("stack_"):
        from cnnzoo.layers.conv_norm_act import ConvNormAct

        inputs = keras.Input((28, 28, 64))
        x = inputs
        for k in range(16):
            x = ConvNormAct(64 if case["model"] == "stack_same" else 64 + 8 * k, 3)(x)
        model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))
        shape, classes = (28, 28, 64), 10
    else:
        model = cnnzoo.get_model(case["model"], input_shape=(224, 224, 3), classes=1000)
        shape, classes = (224, 224, 3), 1000
    build_s = time.perf_counter() - start
    x, y = _batch(batch, shape, classes)
    trainable = [v.value for v in model.trainable_variables]
    moving = [v.value for v in model.non_trainable_variables]

    def loss_fn(trainable, moving, x, y):
        out, moving = model.stateless_call(trainable, moving, x, training=True)
        return keras.ops.mean(keras.losses.categorical_crossentropy(y, out)), moving

    def step(trainable, moving, x, y):
        (loss, moving), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, moving, x, y)
        return loss, [w - 0.01 * g for w, g in zip(trainable, grads)], moving

    args = (trainable, moving, x, y)
    start = time.perf_counter()
    jaxpr = jax.make_jaxpr(step)(*args)
    trace_s = time.perf_counter() - start
    start = time.perf_counter()
    lowered = jax.jit(step).lower(*args)
    lower_s = time.perf_counter() - start
    cpu, wall = time.process_time(), time.perf_counter()
    compiled = lowered.compile()
    compile_cpu_s, compile_s = time.process_time() - cpu, time.perf_counter() - wall
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        calls.append(time.perf_counter() - start)
    fusions, distinct = _distinct_fusions(compiled.as_text())
    return dict(case, build_s=build_s, trace_s=trace_s, equations=len(jaxpr.jaxpr.eqns), lower_s=lower_s,
                compile_cpu_s=compile_cpu_s, compile_s=compile_s, first_call_s=calls[0], second_call_s=calls[1],
                fusions=fusions, distinct_fusions=distinct, device=str(jax.devices()[0]), jax=jax.__version__)


def _run(case):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    if case["xla_flags"]:
        env["XLA_FLAGS"] = case["xla_flags"]
    if case.get("cache_dir"):
        env["CNNZOO_COMPILATION_CACHE"] = case["cache_dir"]
    out = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                         env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        return dict(case, error=" | ".join((out.stderr or out.stdout).strip().splitlines()[-3:]))
    return json.loads(lines[-1])


def _cached_table(records):
    lines = ["| model | batch | process | build | first step | second step | cache entries |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['batch_size']} | failed: {r['error'][:100]} |||||")
            continue
        lines.append(f"| {r['model']} | {r['batch_size']} | {r['process']} | {r['build_s']:.1f} s | "
                     f"{r['first_step_s']:.1f} s | {r['second_step_s']:.2f} s | {r['cache_entries']} |")
    return "\n".join(lines)


def _table(records):
    if records and records[0].get("cached_first_step"):
        return _cached_table(records)
    lines = ["| model | batch | batch norm | XLA_FLAGS | build | trace | compile (CPU s) | compile (wall) | first call "
             "| second call | fusions (distinct) |", "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['batch_size']} | failed: {r['error'][:100]} |||||||||")
            continue
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {'cnnzoo kernel' if r['kernel'] else 'Keras ops'} | "
            f"{r['xla_flags'] or '-'} | {r['build_s']:.1f} s | {r['trace_s']:.1f} s | {r['compile_cpu_s']:.1f} | "
            f"{r['compile_s']:.1f} s | {r['first_call_s']:.2f} s | {r['second_call_s']:.2f} s | "
            f"{r['fusions']} ({r['distinct_fusions']}) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS + ("stack_same", "stack_distinct")))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--xla-flags", default="", help="XLA_FLAGS of every case (default: none)")
    parser.add_argument("--no-kernel", action="store_true", help="Keras's own batch norm, not cnnzoo's JAX kernel")
    parser.add_argument("--cached-first-step", action="store_true",
                        help="Keras's first training step in two processes sharing cnnzoo's compilation cache")
    parser.add_argument("--out", default=None)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(_case(json.loads(args.case))))
        return 0
    records = []
    for model in args.models.split(","):
        case = dict(model=model, batch_size=args.batch_size, xla_flags=args.xla_flags, kernel=not args.no_kernel)
        if not args.cached_first_step:
            records.append(_run(case))
            print(_table(records[-1:]).splitlines()[-1], flush=True)
            continue
        with tempfile.TemporaryDirectory() as cache:
            for process in ("first (compiles)", "second (loads)"):
                records.append(_run(dict(case, cached_first_step=True, cache_dir=cache, process=process)))
                print(_table(records[-1:]).splitlines()[-1], flush=True)
    command = " ".join(["python benchmarks/compile_cost.py"] + (argv or sys.argv[1:]))
    if args.out:
        from cnnzoo.bench.harness import write_report

        write_report(records, args.out, lambda rs: f"`{command}`\n\n{_table(rs)}")
    else:
        print(_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
