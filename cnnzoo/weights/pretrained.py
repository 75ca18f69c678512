"""``weights="imagenet"``: fetch a published file once, convert it once, load it offline from then on.

The model builder (`cnnzoo.models.builder.build_model`) decides what
``weights=`` means and checks the other arguments; this module fetches a
published file, checks its hash, converts it once and loads it
(`load_weight_set`).

The cache lives in Keras's (``$KERAS_HOME``, else ``~/.keras``), under
``models/cnnzoo/``: the published file, checked against the SHA-256 its
publisher gives, and beside it the converted ``<file>.cnnzoo.weights.h5``,
written once (to a temporary name, then renamed) and loaded with no network
from then on. ``CNNZOO_WEIGHTS_URL`` replaces the publisher's folder
(``https://download.pytorch.org/models/``) with a mirror: another server, or a
``file://`` folder holding the files.
"""

import os
import shutil
import tempfile
import urllib.parse
import urllib.request

from cnnzoo.files import keras_home, sha256
from cnnzoo.weights.torchvision import load_torchvision_state

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


def torch_file(weights):
    """True for a path to a torchvision state dict (``.pth``, ``.pt``, ``.bin``, ``.safetensors``)."""
    return isinstance(weights, (str, os.PathLike)) and os.fspath(weights).lower().endswith(TORCH_SUFFIXES)


def cache_dir():
    """Keras's cache folder for cnnzoo's weights: ``$KERAS_HOME/models/cnnzoo`` (``~/.keras`` by default)."""
    return os.path.join(keras_home(), "models", "cnnzoo")


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


def load_weight_set(model, weight_set, progress=True):
    """Loads ``weight_set`` into ``model``, the network the set describes (built by its family with the
    set's classes and loading arguments): a Keras file directly, a torchvision file converted by name
    on first use and cached as a ``.weights.h5``.
    """
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
