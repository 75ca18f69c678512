"""Where the MNIST recipe's input pipeline spends its time inside training, part by part.

Each source feeds ``model.fit`` of a near-empty model (one pixel to a softmax) at
the recipes' 32 steps per execution, so a source's microseconds per step are what
it costs the training loop per batch. The sources add the pipeline's parts one at
a time, from one in-memory batch to the recipe's whole pipeline (blocks of 32
batches, crop with 2 pixels of padding). Runs are interleaved in ABBA order; the
table gives medians.

    python benchmarks/pipeline_parts.py [--repeats 6] [--out benchmarks/results/pipeline_parts]
"""

import argparse
import os
import shlex
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from cnnzoo.bench.harness import machine_name, near_empty_model, timed_fit, write_report  # noqa: E402


def sources(steps, batch=128, shape=(28, 28, 1)):
    import tensorflow as tf

    from cnnzoo import data

    rng = np.random.default_rng(0)
    n = steps * batch
    dataset = data.Dataset("mnist", "train", rng.integers(0, 256, (n,) + shape, dtype=np.uint8),
                           rng.integers(0, 10, n), 10, "synthetic")
    recipe = data.make_pipeline(dataset, batch, training=True, augment=("crop",), crop_padding=2, background=False)
    x, y = next(iter(recipe))
    per_call = data.pipeline.batches_per_call(batch, shape)
    xs, ys = tf.stack([x] * per_call), tf.stack([y] * per_call)
    raw = tf.constant(rng.integers(0, 256, (per_call, batch) + shape, dtype=np.uint8))
    options = data.pipeline.pipeline_options(background=False)  # as the recipe's pipeline: no prefetch thread
    return {name: source.with_options(options) for name, source in {
        "one in-memory batch": tf.data.Dataset.from_tensors((x, y)).repeat(),
        "+ unbatch of a float32 block": tf.data.Dataset.from_tensors((xs, ys)).repeat().unbatch(),
        "+ a map that returns the block": tf.data.Dataset.range(2**62).map(lambda i: (xs, ys)).unbatch(),
        "+ uint8 to float32 in the map": tf.data.Dataset.range(2**62).map(
            lambda i: (data.pipeline._affine(raw, int(np.prod(shape)), 1 / 255.0), ys)).unbatch(),
        "+ shuffled gather, labels (the pipeline without crop)": data.make_pipeline(
            dataset, batch, training=True, background=False).repeat(),
        "+ crop (the recipe's pipeline)": recipe.repeat(),
    }.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=480,
                        help="steps per timed run (default: a full MNIST epoch); each run starts a new iterator "
                             "(~25 ms for the pipelines), so short runs weigh it more")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--out", help="folder for results.json and results.md")
    args = parser.parse_args(argv)
    feeds = sources(args.steps)
    model = near_empty_model((28, 28, 1), 10)  # at the recipes' 32 steps per execution
    model.fit(feeds["one in-memory batch"], steps_per_epoch=64, verbose=0)  # tracing
    runs = {name: [] for name in feeds}
    for i in range(args.repeats):
        for name in (list(feeds) if i % 2 == 0 else list(feeds)[::-1]):
            runs[name] += timed_fit(model, feeds[name], args.steps, 1, warmup=False)
    rows = [{"source": name, "us_per_step": round(1e6 / statistics.median(r), 1)} for name, r in runs.items()]
    report = {"machine": machine_name(), "steps": args.steps, "repeats": args.repeats, "rows": rows,
              "command": shlex.join(["python", "benchmarks/pipeline_parts.py"]
                                    + (argv if argv is not None else sys.argv[1:]))}

    def to_markdown(rep):
        lines = [f"Machine: {rep['machine']}; near-empty model, batch 128, 32 steps per execution, "
                 f"{rep['steps']} steps x {rep['repeats']} runs (median).", "",
                 "| source | us per step | added by this part |", "|---|---:|---:|"]
        previous = None
        for row in rep["rows"]:
            added = "" if previous is None else f"{row['us_per_step'] - previous:+.1f}"
            lines.append(f"| {row['source']} | {row['us_per_step']} | {added} |")
            previous = row["us_per_step"]
        return "\n".join(lines + ["", f"Command: `{rep['command']}`"])

    if args.out:
        write_report(report, args.out, to_markdown)
    else:
        print(to_markdown(report))
    return report


if __name__ == "__main__":
    main()
