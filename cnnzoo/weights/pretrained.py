"""``weights="imagenet"``: fetch a published file once, convert it once, load it offline from then on.

The builder of every registered model goes through `build`: with ``weights``
None or a Keras file it builds as before; with a weight set's name it checks
the other arguments (options that change the network torchvision trained
raise), builds, and loads the set; with a ``.pth`` / ``.safetensors`` path it
converts that torchvision state dict by name.

The cache lives in Keras's (``$KERAS_HOME``, else ``~/.keras``), under
``models/cnnzoo/``: the published file, checked against the SHA-256 its
publisher gives, and beside it the converted ``<file>.cnnzoo.weights.h5``,
written once (to a temporary name, then renamed) and loaded with no network
from then on. ``CNNZOO_WEIGHTS_URL`` replaces the publisher's folder
(``https://download.pytorch.org/models/``) with a mirror: another server, or a
``file://`` folder holding the files.
"""

import inspect
import os
import shutil
import tempfile
import urllib.parse
import urllib.request

import numpy as np

from cnnzoo.files import sha256
from cnnzoo.layers.rank import check_arguments
from cnnzoo.weights import catalog
from cnnzoo.weights.torchvision import load_torchvision_state

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")
# Builder arguments that leave the pretrained network's weights meaning what they meant:
# the head (replaced or dropped as keras.applications does), input size, regularization used
# only in training, and dilation instead of stride (torchvision's replace_stride_with_dilation).
FREE_ARGS = frozenset({
    "include_top", "weights", "input_tensor", "input_shape", "pooling", "classes", "classifier_activation",
    "name", "dropout", "features_only", "drop_path_rate", "output_stride", "aux_logits", "zero_init_residual",
})


def cache_dir():
    """Keras's cache folder for cnnzoo's weights: ``$KERAS_HOME/models/cnnzoo`` (``~/.keras`` by default)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", "cnnzoo")


def _origin(weight_set):
    mirror = os.environ.get("CNNZOO_WEIGHTS_URL")
    if not mirror:
        return weight_set.url
    return mirror.rstrip("/") + "/" + weight_set.file_name


def fetch(weight_set, progress=True):
    """The published file of ``weight_set``, downloaded once into `cache_dir` and its hash checked.

    A file whose hash differs is deleted (so the next call downloads it again)
    and raises ``ValueError`` naming both hashes.
    """
    os.makedirs(cache_dir(), exist_ok=True)
    path = os.path.join(cache_dir(), weight_set.file_name)
    if not os.path.exists(path):
        origin = _origin(weight_set)
        if progress:
            print(f"cnnzoo: downloading {weight_set.source or weight_set.tag} from {origin}", flush=True)
        fd, partial = tempfile.mkstemp(dir=cache_dir(), prefix=weight_set.file_name + ".", suffix=".part")
        os.close(fd)
        try:
            with urllib.request.urlopen(origin, timeout=60) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            os.replace(partial, path)
        except (OSError, ValueError) as e:
            raise OSError(f"Could not download the {weight_set.model} weights {weight_set.tag!r} from {origin} "
                          f"({e}). Put {weight_set.file_name} in {cache_dir()}, set CNNZOO_WEIGHTS_URL to a "
                          "mirror, or pass weights=<path to the file>.") from None
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    digest = sha256(path)
    if not digest.startswith(weight_set.sha256.lower()):
        os.remove(path)
        raise ValueError(f"{path} has SHA-256 {digest}, but {weight_set.source or weight_set.tag} publishes "
                         f"{weight_set.sha256}: the file was deleted (a damaged or different download). "
                         "Try again, or check the mirror.")
    return path


def converted_path(weight_set):
    """Where the converted ``.weights.h5`` of a torchvision weight set is cached."""
    stem = weight_set.file_name.rsplit(".", 1)[0]
    return os.path.join(cache_dir(), f"{stem}.cnnzoo.weights.h5")


def _reference(builder, weight_set):
    """The network the weight file holds: the model's defaults, the set's classes and builder arguments."""
    return builder(classes=weight_set.num_classes, **weight_set.builder_kwargs)


def reference_model(builder, weight_set, progress=True):
    """The cnnzoo network the weight set describes, with its weights (converted and cached on first use)."""
    model = _reference(builder, weight_set)
    if weight_set.format == "keras":
        model.load_weights(fetch(weight_set, progress))
        return model
    cached = converted_path(weight_set)
    if os.path.exists(cached):
        try:
            model.load_weights(cached)
            return model
        except Exception as e:  # a damaged cache entry: convert again from the published file
            print(f"cnnzoo: the converted cache {cached} is unreadable ({type(e).__name__}); converting again",
                  flush=True)
            os.remove(cached)
    original = fetch(weight_set, progress)
    load_torchvision_state(weight_set.model, model, original)
    fd, tmp = tempfile.mkstemp(dir=cache_dir(), suffix=".weights.h5")
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return model


def _head_layer(top):
    return top == "predictions" or top.startswith(("head_", "aux"))


def copy_by_path(source, target, what):
    """Copies every variable of ``target`` from ``source`` by variable path; only the head may differ."""
    values = {v.path: v for v in source.weights}
    problems = []
    for v in target.weights:
        top = v.path.split("/")[0]
        src = values.get(v.path)
        if src is not None and tuple(src.shape) == tuple(v.shape):
            v.assign(np.asarray(src))
        elif not _head_layer(top):
            problems.append(f"{v.path} {tuple(v.shape)}" + ("" if src is None else f" (weights: {tuple(src.shape)})"))
    if problems:
        raise ValueError(f"{what} do not fit this {target.name}: " + ", ".join(problems[:8])
                         + (f" ... ({len(problems)} in all)" if len(problems) > 8 else ""))


def _check_args(key, builder, weight_set, arguments):
    """Options that change the trained network raise; their defaults pass."""
    defaults = {name: p.default for name, p in inspect.signature(builder).parameters.items()
                if p.default is not inspect.Parameter.empty}
    for name, value in arguments.items():
        if name in FREE_ARGS or (name in defaults and _same(defaults[name], value)):
            continue
        raise ValueError(f"weights={weight_set.tag!r} are {key} as {weight_set.source or 'published'} trained it; "
                         f"{name}={value!r} would change that network. Leave {name} at its default "
                         f"({defaults.get(name, 'unset')!r}) or build without weights. Received: {name}={value!r}")


def _same(a, b):
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b


def _check_input(model, key, weight_set):
    shape = tuple(model.inputs[0].shape[1:])
    rank = 3 if weight_set.preprocessing.kind == "video" else 2
    if len(shape) - 1 != rank or shape[-1] != 3:
        expected = "(T, H, W, 3)" if rank == 3 else "(H, W, 3)"
        raise ValueError(f"weights={weight_set.tag!r} of {key} take {expected} RGB inputs. "
                         f"Received: input_shape={shape}")


def build(key, builder, args, kwargs):
    """Builds a registered model, loading named or torchvision weights (see the module docstring)."""
    signature = inspect.signature(builder)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{key}: {e}") from None
    arguments = dict(bound.arguments)
    for name, p in signature.parameters.items():
        if p.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    check_arguments(builder, arguments)
    if arguments.get("features_only"):
        ignored = [f"{k}={arguments[k]!r}" for k in ("include_top", "pooling", "classes", "classifier_activation")
                   if k in arguments]
        if ignored:
            raise ValueError(f"{key}: features_only=True returns the stage outputs, so {', '.join(ignored)} would be "
                             f"ignored. Build with features_only=True alone. Received: {', '.join(ignored)}")
    weights = arguments.get("weights")
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    torch_file = isinstance(weights, str) and weights.lower().endswith(TORCH_SUFFIXES)
    if not (catalog.is_weight_name(weights) or isinstance(weights, catalog.WeightSet) or torch_file):
        return builder(*args, **kwargs)
    arguments["weights"] = None
    if torch_file:
        model = builder(**arguments)
        load_torchvision_state(key, model, weights)
        return model
    weight_set = catalog.get_weights(key, weights)
    _check_args(key, builder, weight_set, {k: v for k, v in arguments.items() if k != "weights"})
    model = builder(**arguments)
    _check_input(model, key, weight_set)
    reference = reference_model(builder, weight_set)
    copy_by_path(reference, model, f"weights={weight_set.tag!r}")
    model.pretrained = weight_set
    return model
