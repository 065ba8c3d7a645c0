#!/usr/bin/env python3
"""Writes the bundled Fashion-MNIST subset (classical/data/fashion_mnist/) from the full set.

A seeded stratified pick: for each split, the indices of the full set are shuffled once with
Python's `random.Random(SEED)` (Mersenne Twister; `shuffle` has drawn the same permutation since
Python 3.2), the first PER_CLASS indices of every class in that order are kept, and the kept indices
are written in their original order as gzip IDX files (mtime 0, so reruns give identical bytes for
the same zlib). Prints the label counts and the pixel byte sums the Rust tests check.

Usage: python3 scripts/gen_fashion_mnist_subset.py [SRC_DIR] (default: Debian's
dataset-fashion-mnist path /usr/share/datasets/fashion-mnist). Standard library only.
"""
import gzip
import os
import random
import struct
import sys

SEED = 19
SPLITS = {"train": ("train", 1000), "t10k": ("t10k", 200)}  # split prefix -> (name, images per class)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "classical", "data", "fashion_mnist")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = struct.unpack(">" + "I" * ndims, data[4 : 4 + 4 * ndims])
    return list(dims), data[4 + 4 * ndims :]


def write_idx(path, dims, body):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as f:
        f.write(gzip.compress(header + body, compresslevel=9, mtime=0))


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    os.makedirs(OUT, exist_ok=True)
    for prefix, (_, per_class) in SPLITS.items():
        idims, pixels = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"))
        ldims, labels = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"))
        n, h, w = idims
        assert ldims == [n]
        order = list(range(n))
        random.Random(SEED).shuffle(order)
        taken = [0] * 10
        keep = []
        for i in order:
            if taken[labels[i]] < per_class:
                taken[labels[i]] += 1
                keep.append(i)
        keep.sort()
        img = b"".join(pixels[i * h * w : (i + 1) * h * w] for i in keep)
        lab = bytes(labels[i] for i in keep)
        write_idx(os.path.join(OUT, f"{prefix}-images-idx3-ubyte.gz"), [len(keep), h, w], img)
        write_idx(os.path.join(OUT, f"{prefix}-labels-idx1-ubyte.gz"), [len(keep)], lab)
        counts = [lab.count(c) for c in range(10)]
        print(f"{prefix}: {len(keep)} images, label counts {counts}, pixel byte sum {sum(img)}, "
              f"first labels {list(lab[:10])}, first kept indices {keep[:5]}")


if __name__ == "__main__":
    main()
