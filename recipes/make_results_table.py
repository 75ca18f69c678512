"""Regenerates the results tables in recipes/README.md and README.md, and the measured results `cnnzoo recipes` prints
(cnnzoo/recipes/measured.json), from recipes/results/.

    python recipes/make_results_table.py

Each JSON under recipes/results/ is the results.json a recipe wrote (copied there when a run is
published), so every row traces back to real runs and their commands. Runs of the same recipe,
model, dataset and Keras backend that differ only in the seed are one row: mean +- standard
deviation over the seeds, with min and max. Files under a ``baselines/`` folder (the keras.io
convnet the fast recipe times, stopped at 99.2%) are left out of the main table;
``results/mnist_fast/summary.json`` makes the fast recipe's own table.
"""

import collections
import glob
import json
import os
import re
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
FAST_BEGIN, FAST_END = "<!-- fast:begin -->", "<!-- fast:end -->"
MEASURED = os.path.join(os.path.dirname(HERE), "cnnzoo", "recipes", "measured.json")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def portable(command):
    """The command with the data folder written as DATA and the seed and output folder left out."""
    command = re.sub(r"--data-dir\s+\S+", "--data-dir DATA", command or "?")
    return re.sub(r"\s+--(seed|out)\s+\S+", "", command)


def backend(env):
    """The Keras backend the run trained on, with its version (runs before it was recorded: TensorFlow)."""
    name = env.get("keras_backend", "tensorflow")
    version = env.get("tensorflow") if name == "tensorflow" else env.get("keras_backend_version")
    return f"{BACKEND_NAMES.get(name, name)} {version or '?'}"


def recipe_name(record):
    if record.get("recipe"):
        return record["recipe"]["name"]
    match = re.search(r"recipes/(\w+)\.py|cnnzoo train (\w+)", record.get("command") or "")
    return (match.group(1) or match.group(2)) if match else "?"


def records():
    for path in sorted(glob.glob(os.path.join(HERE, "results", "**", "*.json"), recursive=True)):
        rel = os.path.relpath(path, os.path.join(HERE, "results"))
        if rel.startswith(("experiments", "baselines")) or "/baselines/" in rel or rel.endswith("summary.json"):
            continue
        with open(path) as f:
            yield json.load(f)


def spread(values, fmt):
    """'mean +- std (min-max, n seeds)', or the one value and '1 seed'."""
    if len(values) == 1:
        return f"{fmt(values[0])} (1 seed)"
    return (f"{fmt(statistics.mean(values))} ± {fmt(statistics.stdev(values))} "
            f"({fmt(min(values))}–{fmt(max(values))}, {len(values)} seeds)")


def groups():
    grouped = collections.defaultdict(list)
    for r in records():
        env = r.get("environment", {})
        key = (recipe_name(r), r["model"], r["dataset"].get("name", "?"), backend(env))
        grouped[key].append(r)
    return grouped


def rows():
    out, measured = [], collections.defaultdict(list)
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    order = lambda key: (key[0], key[1], not key[3].startswith("TensorFlow"), key[3])  # noqa: E731
    for (recipe, model, dataset, engine), runs in sorted(groups().items(), key=lambda item: order(item[0])):
        env = runs[0].get("environment", {})
        machine = f"{env.get('cpu_count', '?')} CPU cores" + (f", {len(env['gpus'])} GPU" if env.get("gpus") else "")
        if all("test_map50" in r for r in runs):  # a detector: COCO's mAP@.5 on held-out images
            accuracy = "mAP@.5 " + spread([r["test_map50"] for r in runs], lambda v: f"{v:.3f}")
        else:
            accuracy = spread([r["final_test_accuracy"] for r in runs], pct)
        minutes = spread([r["wall_time_s"] / 60 for r in runs], lambda v: f"{v:.1f} min")
        epochs = sorted({r["epochs_run"] for r in runs})
        out.append(f"| {recipe} | {model} | {dataset} | {accuracy} | {'/'.join(map(str, epochs))} | {minutes} | "
                   f"{machine} | {engine} | `{portable(runs[0].get('command'))}` |")
        what = "on held-out images" if accuracy.startswith("mAP") else "test accuracy"
        measured[recipe].append(f"{model} on {dataset}: {accuracy} {what}, {minutes} ({machine}, {engine})")
    return out, measured


def fast_table():
    path = os.path.join(HERE, "results", "mnist_fast", "summary.json")
    if not os.path.exists(path):
        return "(not measured yet)", None
    with open(path) as f:
        s = json.load(f)
    lines = ["| seed | fast recipe: final test accuracy | time to 99.2% | keras.io convnet: time to 99.2% | ratio |",
             "|---:|---:|---:|---:|---:|"]
    sec = lambda v: "never" if v is None else f"{v:.0f} s"  # noqa: E731
    for row in s["seeds"]:
        theirs, ratio = sec(row["keras_io_convnet_time_to_target_s"]), "-"
        if row["time_ratio"] is not None:
            ratio = f"{row['time_ratio']:.2f}"
        elif row.get("ratio_bound") is not None:  # the convnet never got there: its time is above its whole run
            theirs = f"never in its 15 epochs ({row['keras_io_convnet_total_s']:.0f} s)"
            ratio = f"< {row['ratio_bound']:.2f}"
        lines.append(f"| {row['seed']} | {100 * row['final_test_accuracy']:.2f}% | {sec(row['time_to_target_s'])} | "
                     f"{theirs} | {ratio} |")
    r, t, k = s["time_ratio"], s["time_to_target_s"], s["keras_io_convnet_time_to_target_s"]
    if r:
        lines.append(f"| mean ± std | {100 * s['final_test_accuracy']['mean']:.2f}% ± "
                     f"{100 * s['final_test_accuracy']['std']:.2f} | {t['mean']:.0f} ± {t['std']:.0f} s | "
                     f"{k['mean']:.0f} ± {k['std']:.0f} s | {r['mean']:.2f} ± {r['std']:.2f} (max {r['max']:.2f}) |")
    verdict = "met" if s.get("target_met") else "NOT met"
    bounded = [row for row in s["seeds"] if row["time_ratio"] is None and row.get("ratio_bound") is not None]
    line = (f"ratio {r['mean']:.2f} ± {r['std']:.2f}, max {r['max']:.2f} over the {r['n']} seeds where the convnet "
            f"reached 99.2%" + (f" (on {len(bounded)} more it never did; ratio < "
                                f"{max(b['ratio_bound'] for b in bounded):.2f})" if bounded else "")
            + f"; 99.2% on every one of {len(s['seeds'])} seeds in <= 0.5x the convnet's time: {verdict}"
            ) if r else None
    return "\n".join(lines), line


def replace_between(text, begin, end, body):
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def main():
    out, measured = rows()
    table = "\n".join(
        ["| recipe | model | dataset | test accuracy (a detector: mAP@.5) | epochs | wall time | machine | "
         "Keras backend | command |",
         "|---|---|---|---:|---:|---:|---|---|---|", *out, "",
         "DATA: the folder with the dataset's native files (on the project's machines `../shared/data`);",
         "without `--data-dir` the recipes read `CNNZOO_DATA_DIR`. Several seeds: mean ± standard deviation",
         "(min–max, n seeds); add `--seed N` to the command for one of them."]
    )
    fast, fast_line = fast_table()
    if fast_line:
        measured["mnist_fast"] = [f"time to 99.2% against the keras.io convnet in the same run: {fast_line}"] + \
            measured.get("mnist_fast", [])
    for readme in (os.path.join(HERE, "README.md"), os.path.join(os.path.dirname(HERE), "README.md")):
        with open(readme) as f:
            text = f.read()
        text = replace_between(text, BEGIN, END, table)
        if FAST_BEGIN in text:
            text = replace_between(text, FAST_BEGIN, FAST_END, fast)
        with open(readme, "w") as f:
            f.write(text)
    with open(MEASURED, "w") as f:
        json.dump(dict(sorted(measured.items())), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(table)
    print(fast)


if __name__ == "__main__":
    main()
