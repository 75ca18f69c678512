"""Reading weight files written by PyTorch, without PyTorch: ``.pth`` / ``.pt`` and ``.safetensors``.

A Keras user should not install a multi-GB framework to read a state dict,
and a ``.pth`` file is a pickle: unpickled as is, it can run any code it
names. `read_state_dict` reads both of PyTorch's formats, the zip archive
(``torch.save`` since 1.6, torchvision's newer files) and the legacy stream
(torchvision's older files, such as its VGG and AlexNet weights), with an
unpickler that accepts only the globals a state dict is made of (an ordered
dict, the tensor and parameter rebuilders, the typed storages); anything else
raises `UnsafeCheckpointError` naming it. Tensors come back as NumPy arrays
(bfloat16 as ``ml_dtypes.bfloat16``, which Keras already depends on).
``.safetensors`` files go through the ``safetensors`` library itself.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import ml_dtypes
import numpy as np

# torch's typed storages, as named inside the pickle, and their element types.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint's pickle names something other than tensors and containers."""


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage named in the pickle; its bytes are attached once they are read."""

    def __init__(self, dtype, key):
        self.dtype, self.key = dtype, key
        self.array = None


class _LazyTensor:
    """``_rebuild_tensor_v2``'s arguments, turned into an array once the storage is read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self):
        base = self.storage.array
        if base is None:
            raise ValueError(f"the checkpoint names storage {self.storage.key!r} but holds no data for it")
        if not self.size:
            return np.array(base[self.offset])
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, base.dtype)
        if needed > base.size:
            raise ValueError(f"tensor of shape {self.size} runs past the end of storage {self.storage.key!r}")
        item = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(base[self.offset:], shape=self.size,
                                               strides=[s * item for s in self.stride])
        return np.array(view)  # a copy: the strided view never leaves this function


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _Storage):
        raise UnsafeCheckpointError("a tensor in the checkpoint is not backed by a storage")
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of a state dict; storages come from ``storage_for``."""

    def __init__(self, file, storage_for):
        super().__init__(file)
        self._storage_for = storage_for

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"refusing to load {module}.{name}: a weights file may hold only tensors in dicts and lists "
            "(cnnzoo never runs code from a checkpoint)"
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafeCheckpointError(f"unexpected persistent id in the checkpoint: {pid!r}")
        return self._storage_for(pid)


def _materialize(obj):
    """Tensors as arrays, through nested dicts (a state dict, or a training checkpoint holding one); anything else
    is left as it is, since no state dict keeps its tensors in a list.
    """
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    return obj


def _read_zip(path):
    storages = {}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise ValueError(f"{path!r} is a zip archive without a data.pkl: not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()

        def storage_for(pid):
            _, storage_type, key, _location, _numel = pid[:5]
            if not isinstance(storage_type, _StorageType):
                raise UnsafeCheckpointError(f"unexpected storage type {storage_type!r}")
            if key not in storages:
                storages[key] = _Storage(storage_type.dtype, str(key))
            return storages[key]

        obj = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storage_for).load()
        for key, storage in storages.items():
            name = f"{prefix}data/{key}"
            if name not in names:
                raise ValueError(f"{path!r} names storage {key!r} but the archive has no {name!r}")
            dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
            storage.array = np.frombuffer(archive.read(name), dtype=dtype).astype(storage.dtype, copy=False)
    return _materialize(obj)


def _read_legacy(path):
    storages = {}

    def storage_for(pid):
        _, storage_type, key, _location, _numel, view = (tuple(pid) + (None,))[:6]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(f"unexpected storage type {storage_type!r}")
        if view is not None:
            raise ValueError(f"{path!r} uses storage views (PyTorch < 0.4): re-save it with a current PyTorch")
        if key not in storages:
            storages[key] = _Storage(storage_type.dtype, str(key))
        return storages[key]

    with open(path, "rb") as f:
        header = _RestrictedUnpickler(f, storage_for)
        try:
            magic = header.load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            if isinstance(e, UnsafeCheckpointError):
                raise
            raise ValueError(f"{path!r} is neither a zip nor a legacy PyTorch checkpoint ({e})") from None
        if magic != _LEGACY_MAGIC:
            raise ValueError(f"{path!r} is not a PyTorch checkpoint (no zip archive, no legacy magic number)")
        protocol = header.load()
        if protocol != _LEGACY_PROTOCOL:
            raise ValueError(f"{path!r}: unsupported legacy checkpoint protocol {protocol!r}")
        sys_info = header.load()
        little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
        obj = _RestrictedUnpickler(f, storage_for).load()
        keys = _RestrictedUnpickler(f, storage_for).load()
        for key in keys:
            storage = storages.get(key)
            if storage is None:
                raise ValueError(f"{path!r} lists storage {key!r} that no tensor uses")
            (numel,) = struct.unpack("<q" if little else ">q", f.read(8))
            raw = f.read(numel * storage.dtype.itemsize)
            if len(raw) != numel * storage.dtype.itemsize:
                raise ValueError(f"{path!r} is truncated: storage {key!r} is incomplete")
            dtype = storage.dtype.newbyteorder("<" if little else ">")
            storage.array = np.frombuffer(raw, dtype=dtype).astype(storage.dtype, copy=False)
    return _materialize(obj)


def _unwrap(obj, path):
    """The state dict itself: torchvision saves it bare; training checkpoints nest it."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict) and not isinstance(obj.get(key), np.ndarray):
                return _unwrap(obj[key], path)
        arrays = {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}
        if arrays and len(arrays) == len(obj):
            return dict(arrays)
    raise ValueError(f"{path!r} holds no state dict (a flat mapping from names to tensors)")


def read_state_dict(source):
    """A PyTorch state dict as ``{name: numpy array}``, without PyTorch.

    Args:
        source: a path to a ``.pth`` / ``.pt`` / ``.bin`` file (zip or legacy
            format) or a ``.safetensors`` file, or a mapping of names to arrays
            (NumPy arrays, or anything with ``.numpy()`` such as torch tensors).

    Returns:
        A dict of NumPy arrays, in the file's order.

    Raises:
        UnsafeCheckpointError: the pickle names anything but tensors and containers.
        ValueError: the file is not a checkpoint or holds no state dict.
    """
    if isinstance(source, dict):
        out = {}
        for key, value in source.items():
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            out[str(key)] = np.asarray(value)
        return out
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"state_dict_or_path must be a path or a dict of arrays. Received: {type(source).__name__}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found. Received: {path!r}")
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        try:
            return dict(load_file(path))
        except Exception as e:  # the library raises its own error types
            raise ValueError(f"{path!r} is not a readable .safetensors file ({e})") from None
    if zipfile.is_zipfile(path):
        return _unwrap(_read_zip(path), path)
    return _unwrap(_read_legacy(path), path)
