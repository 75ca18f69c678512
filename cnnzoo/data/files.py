"""What the dataset file readers (`cnnzoo.data.idx`, `cnnzoo.data.cifar`) share."""

import gzip


class DatasetFileError(ValueError):
    """A dataset file is missing, truncated or not what its name says."""


def read_bytes(path):
    """The bytes of ``path``, gunzipped when it is gzipped; an unreadable file raises `DatasetFileError`."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise DatasetFileError(f"{path}: cannot be read ({e}); the file may be truncated") from None
