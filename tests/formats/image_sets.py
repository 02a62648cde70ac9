#!/usr/bin/python3
"""The binary image data sets as their publishers lay them out, written and read back here with
numpy (the independent side of tests/unit/image/datasets_test.cc).

  image_sets.py DIR   writes MNIST-style idx files (one gzip-compressed) and CIFAR-10 and
                      CIFAR-100 batches into DIR, and DIR/expected.json: for each file the images
                      as numpy reads them (HWC bytes, hex) and the labels
"""
import gzip
import json
import struct
import sys

import numpy as np


def main():
    d = sys.argv[1]
    rng = np.random.default_rng(5)
    expected = {}
    # MNIST: 7 grey images of 6 rows x 5 columns; the labels; the images gzip-compressed too.
    images = rng.integers(0, 256, size=(7, 6, 5), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    idx = struct.pack(">IIII", 0x803, 7, 6, 5) + images.tobytes()
    with open(f"{d}/images-idx3-ubyte", "wb") as f:
        f.write(idx)
    with gzip.open(f"{d}/images-idx3-ubyte.gz", "wb") as f:
        f.write(idx)
    with open(f"{d}/labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, 7) + labels.tobytes())
    expected["idx"] = {"hex": [im.tobytes().hex() for im in images],
                       "labels": labels.tolist()}
    # CIFAR-10: label byte + R, G and B planes of 32 x 32; CIFAR-100: coarse and fine labels.
    for name, heads in (("cifar10", 1), ("cifar100", 2)):
        n = 4
        planes = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        head = rng.integers(0, 10 if heads == 1 else 20, size=(n, heads), dtype=np.uint8)
        if heads == 2:
            head[:, 1] = rng.integers(0, 100, size=n, dtype=np.uint8)
        records = np.concatenate([head, planes.reshape(n, 3072)], axis=1)
        with open(f"{d}/{name}.bin", "wb") as f:
            f.write(records.tobytes())
        hwc = planes.transpose(0, 2, 3, 1)  # as torchvision's CIFAR10 reads them
        expected[name] = {"hex": [im.tobytes().hex() for im in hwc],
                          "labels": head.tolist()}
    with open(f"{d}/expected.json", "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
