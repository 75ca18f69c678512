"""Regenerates the results table in recipes/README.md from recipes/results/*.json.

    python recipes/make_results_table.py

Each JSON is the results.json a recipe wrote (copied here when a run is
published), so every row traces back to a real run and its command.
"""

import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def portable(command):
    """The command with the data folder written as DATA (the JSON keeps the path of the run)."""
    return re.sub(r"--data-dir\s+\S+", "--data-dir DATA", command or "?")


BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def backend(env):
    """The Keras backend the run trained on, with its version (runs before it was recorded: TensorFlow)."""
    name = env.get("keras_backend", "tensorflow")
    version = env.get("tensorflow") if name == "tensorflow" else env.get("keras_backend_version")
    return f"{BACKEND_NAMES.get(name, name)} {version or '?'}"


def rows():
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "results", "*.json"))):
        with open(path) as f:
            r = json.load(f)
        env = r.get("environment", {})
        machine = f"{env.get('cpu_count', '?')} CPU cores" + (f", {len(env['gpus'])} GPU" if env.get("gpus") else "")
        acc = r.get("final_test_accuracy")
        out.append(
            f"| {r['model']} | {r['dataset'].get('name', '?')} | "
            f"{'' if acc is None else f'{100 * acc:.2f}%'} | {r['epochs_run']} | "
            f"{r['wall_time_s'] / 60:.1f} min | {machine} | {backend(env)} | "
            f"`{portable(r.get('command'))}` |"
        )
    return out


def main():
    table = "\n".join(
        ["| model | dataset | test accuracy | epochs | wall time | machine | Keras backend | command |",
         "|---|---|---:|---:|---:|---|---|---|", *rows(), "",
         "DATA: the folder with the dataset's native files (on the project's machines `../shared/data`);",
         "without `--data-dir` the recipes read `CNNZOO_DATA_DIR`."]
    )
    readme = os.path.join(HERE, "README.md")
    with open(readme) as f:
        text = f.read()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    with open(readme, "w") as f:
        f.write(text[:start] + "\n" + table + "\n" + text[stop:])
    print(table)


if __name__ == "__main__":
    main()
