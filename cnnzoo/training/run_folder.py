"""A run folder knows what made it: `claim` records a run's identity when it starts and refuses other settings.

Every run (a recipe, ``cnnzoo train``, ``cnnzoo finetune``, `cnnzoo.training.engine.fit`) writes
``<out>/run.json`` before its first step: the resolved configuration, the model's name and an
architecture fingerprint (`architecture_fingerprint`), and a fingerprint of the data
(`cnnzoo.files.array_fingerprint` of arrays, `cnnzoo.files.files_fingerprint` of a scanned folder's
paths and sizes; cnnzoo's pipelines carry theirs as ``cnnzoo_identity``). Running again into the same
folder resumes (a finished run runs again) only when every one of them matches; a mismatch is a
`RunFolderError` naming the keys that differ and the two ways out: another output folder, or
``overwrite``, which moves the old run aside (``<out>.old-<time>``), never deleting it. A folder that
holds files but no ``run.json`` is refused the same way (a run made by an older cnnzoo can be moved
aside; a folder that holds no run at all is never touched).

Settings that decide nothing about the result (progress output, steps per execution, XLA, TensorBoard,
op determinism) are left out of the identity: changing them resumes.
"""

import datetime
import json
import os
import sys

from cnnzoo.files import array_fingerprint, atomic_write_text, short_digest

RECORD = "run.json"
VERSION = 1
# What a run writes: a folder holding any of these (and no run.json) is a run of an older cnnzoo.
RUN_FILES = ("results.json", "backup", "final.keras", "best.keras", "model.keras", "log.csv", "curves.png", "head",
             "finetune", "classes.json")
# TrainConfig fields that change how fast or how verbosely a run goes, not what it computes.
NOT_DECIDING = ("tensorboard", "steps_per_execution", "jit_compile", "deterministic", "verbose")


class RunFolderError(ValueError):
    """An output folder holds a run made with other settings (or no cnnzoo run at all)."""


def _without_names(value):
    """A layer config with every ``name`` left out (Keras numbers automatic names per process)."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in ("name", "trainable")}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def _config_value(value):
    """A configuration's value that JSON has no form for: its text, as always, unless that holds the object's address
    (an initializer object's did, so the fingerprint differed every build): then as Keras serializes it, else its type.
    """
    text = str(value)
    if f"0x{id(value):x}" not in text:
        return text
    import keras

    try:
        return keras.saving.serialize_keras_object(value)
    except Exception:  # not a Keras object
        return type(value).__qualname__


def architecture_fingerprint(model):
    """A short hash of ``model``'s layers in order: each one's class, its configuration (names and trainable
    flags left out) and its weights' shapes. Two builds of the same network agree; another depth, width,
    head, input or activation differs.
    """
    from cnnzoo import compat

    parts = []
    for layer in compat.flatten_layers(model):
        try:
            config = _without_names(layer.get_config())
        except Exception:  # a layer without a config: its class and weights still say much
            config = None
        parts.append(json.dumps([type(layer).__name__, config, [list(w.shape) for w in layer.weights]],
                                sort_keys=True, default=_config_value))
    return short_digest(parts)


def data_identity(data):
    """What identifies training or validation data: a fingerprint for arrays, the type and batch structure
    otherwise (a ``tf.data.Dataset`` or a ``PyDataset`` cannot be read without consuming it).
    """
    if isinstance(data, tuple) and len(data) == 2:
        return {"kind": "arrays", "examples": len(data[1]), "fingerprint": array_fingerprint(*data)}
    if data is None:
        return None
    describe = getattr(data, "cnnzoo_identity", None)  # cnnzoo's pipelines say what they read
    if callable(describe):
        return describe()
    info = {"kind": type(data).__name__}
    spec = getattr(data, "element_spec", None)
    if spec is not None:
        info["element_spec"] = str(spec)
    try:
        info["batches"] = int(len(data))
    except TypeError:
        pass
    return info


def deciding(values, leave_out=NOT_DECIDING):
    """``values`` (a dict) without the settings that decide nothing about the result."""
    return {k: v for k, v in values.items() if k not in leave_out}


def _jsonable(value):
    return json.loads(json.dumps(value, sort_keys=True, default=_config_value))


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def differences(recorded, identity):
    """``[(key, recorded value, new value)]`` for the dotted keys on which two identities differ."""
    a, b = _flatten(_jsonable(recorded)), _flatten(_jsonable(identity))
    return [(k, a.get(k, "(absent)"), b.get(k, "(absent)")) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def move_aside(out_dir):
    """Moves a non-empty ``out_dir`` to ``<out_dir>.old-<time>`` (``--overwrite``: nothing is deleted); returns the
    new path, or None when there was nothing to move. A recipe that writes several runs under one folder calls
    this once before its first run.
    """
    if not os.path.isdir(out_dir) or not os.listdir(out_dir):
        return None
    return _aside(out_dir)


def _aside(out_dir):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    target, n = f"{os.path.normpath(out_dir)}.old-{stamp}", 1
    while os.path.exists(target):
        n += 1
        target = f"{os.path.normpath(out_dir)}.old-{stamp}-{n}"
    os.rename(out_dir, target)
    print(f"cnnzoo: --overwrite: the earlier run in {out_dir} was moved to {target}", file=sys.stderr, flush=True)
    return target


def _ways_out(out_dir):
    return (f"Give another output folder (--out / out_dir=), or overwrite it (--overwrite / overwrite=True), which "
            f"moves the old run aside to {os.path.normpath(out_dir)}.old-<time> rather than deleting it")


def read(out_dir):
    """The identity recorded in ``out_dir`` (None when there is none)."""
    path = os.path.join(out_dir, RECORD)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("identity")


def claim(out_dir, identity, overwrite=False):
    """Makes ``out_dir`` the folder of the run ``identity`` describes (a JSON-ready dict), before it starts.

    A new or empty folder (or one holding only runs of its own, in sub-folders with their ``run.json``) is
    claimed: ``run.json`` written. A folder that holds the same identity is the same run: it resumes. Otherwise
    `RunFolderError`. With ``overwrite`` (start afresh), a run folder (one with a ``run.json`` or a run's
    files) is moved aside to ``<out_dir>.old-<time>``, whatever made it, and ``out_dir`` claimed anew.

    Returns:
        ``"new"``, ``"same"`` (a run of the same settings is there: resume) or the path the old run was
        moved to.

    Raises:
        RunFolderError: naming the keys that differ, or why the folder is not a run's, and the ways out.
    """
    identity = _jsonable(identity)
    result = "new"
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RunFolderError(f"the output folder is a file. Received: out_dir={os.fspath(out_dir)!r}")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        try:
            recorded = read(out_dir)
            unreadable = None
        except (OSError, ValueError) as e:
            recorded, unreadable = None, f"its {RECORD} cannot be read ({type(e).__name__}: {e})"
        if recorded == identity and not overwrite:
            return "same"
        # runs of their own inside (a recipe's baseline beside it, fine-tuning's phases) and the scratch folders of
        # this run's other workers (engine.fit: worker_<pid>, made before the chief claims) do not make it another's
        names = {n for n in os.listdir(out_dir) if not os.path.isfile(os.path.join(out_dir, n, RECORD))
                 and not (n.startswith("worker_") and os.path.isdir(os.path.join(out_dir, n)))}
        if recorded is None and unreadable is None and not names:
            names = None
        is_run = names is None or recorded is not None or RECORD in names or names & set(RUN_FILES)  # (an unreadable
        # record is a run's: its run.json is there)
        if not is_run:
            raise RunFolderError(
                f"the output folder {out_dir} is not empty and holds no cnnzoo run ({', '.join(sorted(names)[:5])}"
                f"{'...' if len(names) > 5 else ''}): give a new or empty folder (--out / out_dir=)")
        if names is None:  # only runs of its own inside: claimed afresh, they stay
            pass
        elif not overwrite:
            if recorded is None:
                why = unreadable or f"holds a run with no record of its settings (no {RECORD}: an older cnnzoo's)"
            else:
                diff = differences(recorded, identity)
                shown = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, a, b in diff[:8])
                why = f"holds a run made with other settings ({shown}{'; ...' if len(diff) > 8 else ''})"
            raise RunFolderError(f"{out_dir} {why}. Its files were left as they are. {_ways_out(out_dir)}.")
        else:
            result = _aside(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, RECORD),
                      json.dumps({"version": VERSION, "identity": identity}, indent=1, sort_keys=True) + "\n")
    return result
