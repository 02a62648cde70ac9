#!/usr/bin/python3
"""An independent safetensors reader and writer built on numpy, for the format tests.

  safetensors_numpy.py read PATH   prints {name: {"dtype", "shape", "values"}} as JSON
  safetensors_numpy.py write PATH  writes a reference file (see WRITTEN below)
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}

WRITTEN = {
    "layer.weight": np.arange(6, dtype="<f4").reshape(2, 3) / 4,
    "layer.bias": np.array([-1.5, 2.25], dtype="<f4"),
    "steps": np.array([7], dtype="<i8"),
    "mask": np.array([1, 0, 1], dtype="u1"),
}


def read(path):
    tensors, metadata = load(path)
    out = {"__metadata__": metadata}
    for name, (dtype, arr) in tensors.items():
        out[name] = {"dtype": dtype, "shape": list(arr.shape),
                     "values": [float(x) for x in arr.reshape(-1)]}
    print(json.dumps(out))


def load(path):
    """({name: (dtype, numpy array)}, metadata) of a safetensors file."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = (e["dtype"], arr)
    return tensors, metadata


def write(path):
    header, blobs, offset = {"__metadata__": {"format": "pt", "writer": "numpy"}}, [], 0
    names = {"<f4": "F32", "<i8": "I64", "|u1": "U8"}
    for name, arr in WRITTEN.items():
        blob = arr.tobytes()
        header[name] = {"dtype": names[arr.dtype.str], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
