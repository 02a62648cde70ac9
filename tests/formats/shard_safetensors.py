#!/usr/bin/python3
"""Splits a safetensors file into shards with an index, as transformers' save_pretrained writes a
large model (model-00001-of-00002.safetensors ..., model.safetensors.index.json). Plain Python:
the safetensors layout is an 8-byte little-endian header length, a JSON header, the data.

  shard_safetensors.py SRC.safetensors DST_DIR SHARDS
"""
import json
import os
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return header, data[8 + n:]


def write(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, blob) in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    src, dst, shards = sys.argv[1], sys.argv[2], int(sys.argv[3])
    header, data = read(src)
    metadata = header.pop("__metadata__", None)
    names = sorted(header)
    total = sum(header[n]["data_offsets"][1] - header[n]["data_offsets"][0] for n in names)
    weight_map = {}
    per = (len(names) + shards - 1) // shards
    os.makedirs(dst, exist_ok=True)
    for i in range(shards):
        part = names[i * per:(i + 1) * per]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        tensors = []
        for n in part:
            a, b = header[n]["data_offsets"]
            tensors.append((n, (header[n]["dtype"], header[n]["shape"], data[a:b])))
            weight_map[n] = file
        write(os.path.join(dst, file), tensors, metadata)
    with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    main()
