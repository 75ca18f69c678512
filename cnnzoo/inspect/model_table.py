"""The table of every model (``cnnzoo list``): name, family, parameters, MACs, default input, pretrained weights.

Read from ``model_table.json`` beside this module, so ``cnnzoo list`` answers without building a model or
loading a framework (building them all takes ~40 s on 2 cores). The file is written from the registry, the
built models and the weight catalog by ``python -m cnnzoo.inspect.model_table``;
tests/test_models.py checks it against them (names, families, inputs and weights in the fast suite, every
model's built counts in the slow one), so a model added without regenerating it fails a test.
"""

import fnmatch
import json
import os
import sys

TABLE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_table.json")
COLUMNS = ("model", "family", "params (torch)", "MACs", "default input", "pretrained")


def read_table():
    """``[{"name", "family", "params", "macs", "input_shape", "pretrained"}, ...]`` as recorded, sorted by name."""
    with open(TABLE_FILE) as f:
        return json.load(f)["models"]


def row_for(name):
    """One model's row, computed: the registry's information, its built counts, its weight sets."""
    from cnnzoo import registry
    from cnnzoo.inspect.analysis import summary
    from cnnzoo.weights import catalog

    info = registry.model_info(name)
    s = summary(name)
    return {"name": name, "family": info.family, "params": s.params("torch"), "macs": s.macs,
            "input_shape": list(s.input_shape), "pretrained": [w.tag for w in catalog.list_weights(name)]}


def build_table():
    """Every registered model's row, computed (`row_for`)."""
    import gc

    from cnnzoo import registry

    rows = []
    for name in sorted(registry.list_models()):
        rows.append(row_for(name))
        gc.collect()  # each network built for its row is garbage in reference cycles: all 31 held 6.9 GB at once
    return rows


def format_table(rows):
    """The rows as aligned text columns (numbers right-aligned), a header first."""
    cells = [[r["name"], r["family"] or "-", f"{r['params']:,}", f"{r['macs']:,}",
              "x".join(str(d) for d in r["input_shape"]), ", ".join(r["pretrained"]) or "-"] for r in rows]
    widths = [max(len(c[i]) for c in cells + [list(COLUMNS)]) for i in range(len(COLUMNS))]
    right = (False, False, True, True, False, False)

    def line(values):
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()

    return "\n".join([line(COLUMNS)] + [line(c) for c in cells])


def list_table(pattern=None):
    """The recorded rows whose name matches the fnmatch ``pattern`` (all when None)."""
    return [r for r in read_table() if pattern is None or fnmatch.fnmatch(r["name"], pattern)]


def main():
    """Writes ``model_table.json`` from the registry, the built models and the weight catalog."""
    rows = build_table()
    with open(TABLE_FILE, "w") as f:
        json.dump({"note": "written by python -m cnnzoo.inspect.model_table; tests/test_models.py checks it",
                   "models": rows}, f, indent=1)
        f.write("\n")
    print(f"wrote {TABLE_FILE} ({len(rows)} models)", file=sys.stderr)


if __name__ == "__main__":
    main()
