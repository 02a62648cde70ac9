#!/usr/bin/python3
"""Reads LibTorch archives (an optimizer's state, as entrenar writes optimizer.pt) with PyTorch.

usage: torch_archive_tensors.py A [B]
Prints the number of tensors in A. With B, exits 1 unless B holds the same tensors (names,
shapes, values) as A.
"""
import sys

import torch


def tensors(path):
    module = torch.jit.load(path, map_location="cpu")
    return {name: t.detach() for name, t in module.state_dict().items()}


def main():
    a = tensors(sys.argv[1])
    if len(sys.argv) > 2:
        b = tensors(sys.argv[2])
        if sorted(a) != sorted(b):
            sys.exit("the archives name different tensors: %s / %s" % (sorted(a), sorted(b)))
        for name, t in a.items():
            if t.shape != b[name].shape or not torch.equal(t, b[name]):
                sys.exit("tensor %s differs" % name)
    print(len(a))


if __name__ == "__main__":
    main()
