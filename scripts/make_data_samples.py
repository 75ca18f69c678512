"""Writes the small real samples shipped in cnnzoo/data/samples/ (run once, from the full files).

    python scripts/make_data_samples.py ../shared/data

Takes the first N_TRAIN training and N_TEST test records of MNIST and
Fashion-MNIST, in their own IDX .gz format, so the sample goes through the
same reader as the full data.
"""

import gzip
import os
import sys

from cnnzoo.data import datasets, idx

N_TRAIN, N_TEST = 2000, 1000


def write_idx(path, array):
    codes = {"uint8": 0x08}
    header = bytes([0, 0, codes[str(array.dtype)], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.tobytes())


def main(root):
    out_root = os.path.join(os.path.dirname(datasets.__file__), "samples")
    for name in ("mnist", "fashion_mnist"):
        out = os.path.join(out_root, name)
        os.makedirs(out, exist_ok=True)
        for split, n in (("train", N_TRAIN), ("test", N_TEST)):
            images, labels = idx.read_idx_split(os.path.join(root, name), split)
            image_stem, label_stem = idx.IDX_FILES[split]
            write_idx(os.path.join(out, image_stem + ".gz"), images[:n, ..., 0])
            write_idx(os.path.join(out, label_stem + ".gz"), labels[:n].astype("uint8"))


if __name__ == "__main__":
    main(sys.argv[1])
