"""How much of the matmul peak can ResNet-50 training reach on TensorFlow's CPU kernels?

Times every convolution of the benchmarked ResNet-50 on its own, at the benchmark's
batch, on random tensors: the forward pass, and the forward pass plus both gradients
(input and kernel; the stem needs only the kernel's) as one training step computes
them. Convolutions are 99.9% of the network's multiply-accumulates, so their own
share of the fp32 matmul peak bounds what the whole network can reach; the rest
of a training step (batch norm, ReLU, additions, pooling, the optimizer) only
adds time. The same run times the whole network's training step, so the table
shows where the step's time goes.

    .venv/bin/python benchmarks/conv_ceiling.py --out benchmarks/results/resnet50_conv_ceiling

Writes results.json and results.md to --out.
"""

import argparse
import collections
import shlex
import statistics
import sys
import time

# the benchmarked network, cnnzoo's defaults, and the benchmarked network without its normalization
NETWORKS = {"cnnzoo_resnet50": "resnet50(stride_in_1x1=True, conv_bias=True), as benchmarked",
            "resnet50": "resnet50(): cnnzoo's defaults, no convolution bias",
            "resnet50_no_norm": "resnet50(stride_in_1x1=True, conv_bias=True, norm=None): no batch norm"}


def conv_shapes(model):
    """Every Conv2D call of ``model`` as (input shape, kernel shape, strides, padding), in order."""
    import keras
    import numpy as np

    calls = []
    original = keras.layers.Conv2D.call

    def recording(self, inputs):
        calls.append((tuple(inputs.shape[1:]), tuple(self.kernel.shape), tuple(self.strides), self.padding))
        return original(self, inputs)

    keras.layers.Conv2D.call = recording
    try:
        model(np.zeros((1,) + tuple(model.inputs[0].shape[1:]), "float32"))  # eagerly: blocks run their layers
    finally:
        keras.layers.Conv2D.call = original
    return calls


def time_conv(shape, kernel, strides, padding, batch, input_gradient, repeats, inner):
    """Median seconds of one forward, and of one forward + gradients, of this convolution."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch,) + shape, dtype=np.float32))
    w = tf.Variable(rng.standard_normal(kernel, dtype=np.float32) * 0.01)
    out_shape = tf.nn.conv2d(x[:1], w, strides, padding.upper()).shape[1:]
    g = tf.constant(rng.standard_normal((batch,) + tuple(out_shape), dtype=np.float32))

    @tf.function
    def forward():
        acc = tf.constant(0.0)
        for _ in tf.range(inner):
            acc += tf.nn.conv2d(x, w, strides, padding.upper())[0, 0, 0, 0]
        return acc

    @tf.function
    def train():
        acc = tf.constant(0.0)
        for _ in tf.range(inner):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.nn.conv2d(x, w, strides, padding.upper())
            grads = tape.gradient(y, [x, w] if input_gradient else [w], output_gradients=g)
            acc += y[0, 0, 0, 0] + sum(tf.reshape(d, [-1])[0] for d in grads)
        return acc

    timings = {}
    for name, fn in (("forward", forward), ("train", train)):
        fn().numpy()  # trace and warm up
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn().numpy()
            runs.append((time.perf_counter() - start) / inner)
        timings[name] = statistics.median(runs)
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inner", type=int, default=2, help="convolutions per timed call")
    parser.add_argument("--network-steps", type=int, default=3, help="steps of the whole network's timed run")
    parser.add_argument("--out", default="benchmarks/results/resnet50_conv_ceiling")
    args = parser.parse_args(argv)

    import cnnzoo
    from cnnzoo.bench import harness as benchmark
    from cnnzoo.layers import conv_output_length

    peak_by_size = {}
    peak = benchmark.matmul_peak(detail=peak_by_size)
    model = cnnzoo.resnet50(stride_in_1x1=True, conv_bias=True)
    calls = conv_shapes(model)
    total_macs = cnnzoo.summary(model).macs
    counts = collections.Counter((c, i == 0) for i, c in enumerate(calls))  # the stem needs no input gradient
    rows = []
    for ((shape, kernel, strides, padding), stem), count in counts.items():
        out_h, out_w = (conv_output_length(shape[i], kernel[i], strides[i], padding) for i in (0, 1))
        macs = out_h * out_w * kernel[0] * kernel[1] * kernel[2] * kernel[3]
        t = time_conv(shape, kernel, strides, padding, args.batch_size, not stem, args.repeats, args.inner)
        rows.append({"input": list(shape), "kernel": list(kernel), "strides": list(strides), "padding": padding,
                     "count": count, "macs_per_example": macs, "forward_s": t["forward"], "train_s": t["train"],
                     "forward_flops_per_s": 2 * macs * args.batch_size / t["forward"],
                     "train_flops_per_s": 6 * macs * args.batch_size / t["train"]})
        print(f"{shape} k{kernel} s{strides} x{count}: forward {rows[-1]['forward_flops_per_s'] / 1e9:.0f}, "
              f"train {rows[-1]['train_flops_per_s'] / 1e9:.0f} GFLOP/s", flush=True)
    conv_macs = sum(r["macs_per_example"] * r["count"] for r in rows)
    conv = {name: sum(r[f"{name}_s"] * r["count"] for r in rows) for name in ("forward", "train")}
    networks = {name: benchmark.run_isolated(dict(model=name, batch_size=args.batch_size, steps=args.network_steps,
                                                  repeats=args.repeats, warmup=1, modes=["train", "infer"]))
                for name in NETWORKS}
    network = networks["cnnzoo_resnet50"]
    step = {"train": args.batch_size / network["train"]["examples_per_s"],
            "forward": args.batch_size / network["infer"]["examples_per_s"]}
    report = {
        "machine": benchmark.machine_name(), "batch_size": args.batch_size,
        "matmul_peak_flops": peak, "matmul_flops_by_size": peak_by_size,
        "network_macs_per_example": total_macs, "conv_macs_per_example": conv_macs,
        "convolutions": len(calls), "distinct_convolutions": len(rows), "rows": rows,
        "conv_total_s": conv, "network_step_s": step,
        "conv_share_of_peak": {k: (6 if k == "train" else 2) * conv_macs * args.batch_size / conv[k] / peak
                               for k in conv},
        "network_share_of_peak": {k: (6 if k == "train" else 2) * total_macs * args.batch_size / step[k] / peak
                                  for k in step},
        "conv_share_of_step": {k: conv[k] / step[k] for k in conv},
        "networks": {name: {"description": NETWORKS[name], "macs": n["macs"],
                            "train_s": args.batch_size / n["train"]["examples_per_s"],
                            "forward_s": args.batch_size / n["infer"]["examples_per_s"],
                            "train_share_of_peak": n["train"]["flops_per_s"] / peak} for name, n in networks.items()},
        "command": shlex.join(["python", "benchmarks/conv_ceiling.py"] + (sys.argv[1:] if argv is None else argv)),
    }
    benchmark.write_report(report, args.out, markdown)


def markdown(r):
    peak = r["matmul_peak_flops"]
    lines = [f"Machine: {r['machine']}; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s; ResNet-50 (cnnzoo, "
             f"stride_in_1x1, conv_bias), batch {r['batch_size']}: {r['convolutions']} convolutions, "
             f"{r['distinct_convolutions']} distinct, "
             f"{100 * r['conv_macs_per_example'] / r['network_macs_per_example']:.2f}% "
             "of the MACs.", "",
             "| input | kernel | stride | count | forward GFLOP/s | train GFLOP/s | train % of peak |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in sorted(r["rows"], key=lambda row: -row["train_s"] * row["count"]):
        lines.append(f"| {'x'.join(map(str, row['input']))} | {row['kernel'][0]}x{row['kernel'][1]}, "
                     f"{row['kernel'][2]}->{row['kernel'][3]} | {row['strides'][0]} | {row['count']} "
                     f"| {row['forward_flops_per_s'] / 1e9:.0f} | {row['train_flops_per_s'] / 1e9:.0f} "
                     f"| {100 * row['train_flops_per_s'] / peak:.0f}% |")
    lines += ["", "| | convolutions alone | whole network | convolutions' share of the step |", "|---|---:|---:|---:|"]
    for k in ("train", "forward"):
        lines.append(f"| {k} ({1e3 * r['conv_total_s'][k]:.0f} ms / {1e3 * r['network_step_s'][k]:.0f} ms a batch) "
                     f"| {100 * r['conv_share_of_peak'][k]:.0f}% of peak "
                     f"| {100 * r['network_share_of_peak'][k]:.0f}% of peak "
                     f"| {100 * r['conv_share_of_step'][k]:.0f}% |")
    lines += ["", "| network | train ms a batch | train % of peak | forward ms a batch |", "|---|---:|---:|---:|"]
    lines += [f"| {n['description']} | {1e3 * n['train_s']:.0f} | {100 * n['train_share_of_peak']:.0f}% "
              f"| {1e3 * n['forward_s']:.0f} |" for n in r["networks"].values()]
    lines += ["", f"Command: `{r['command']}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
