#!/usr/bin/python3
"""An independent GGUF tensor reader for the format tests, on numpy: parses the header, key/values
and tensor infos, and decodes F32, F16, Q8_0 and Q4_0 data as ggml defines them (blocks of 32:
an f16 scale, then int8 quants, resp. 16 bytes of nibbles, low nibbles the first 16 values, each
value (q - 8) * d).

  gguf_numpy.py FILE   prints {"tensors": {name: {"shape": [...], "type": n, "values": [...]}}}
"""
import json
import struct
import sys

import numpy as np

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
           11: "<q", 12: "<d"}


class Reader:
    def __init__(self, raw):
        self.raw, self.pos = raw, 0

    def get(self, fmt):
        (v,) = struct.unpack_from(fmt, self.raw, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.get("<Q")
        s = self.raw[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.get("<I"), self.get("<Q")
            return [self.value(et) for _ in range(n)]
        return self.get(SCALARS[t])


def dequantize(data, ggml_type, count):
    if ggml_type == 0:
        return np.frombuffer(data, "<f4", count)
    if ggml_type == 1:
        return np.frombuffer(data, "<f2", count).astype(np.float32)
    if ggml_type == 8:
        blocks = np.frombuffer(data, np.dtype([("d", "<f2"), ("q", "i1", 32)]))
        return (blocks["d"].astype(np.float32)[:, None] * blocks["q"]).reshape(-1)
    if ggml_type == 2:
        blocks = np.frombuffer(data, np.dtype([("d", "<f2"), ("q", "u1", 16)]))
        low = (blocks["q"] & 0x0F).astype(np.int8) - 8
        high = (blocks["q"] >> 4).astype(np.int8) - 8
        q = np.concatenate([low, high], axis=1)
        return (blocks["d"].astype(np.float32)[:, None] * q).reshape(-1)
    raise ValueError(f"ggml type {ggml_type}")


def main(path):
    raw = open(path, "rb").read()
    r = Reader(raw)
    assert r.get("<I") == 0x46554747, "magic"
    assert r.get("<I") == 3, "version"
    n_tensors, n_kv = r.get("<Q"), r.get("<Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.get("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.get("<Q") for _ in range(r.get("<I"))]
        infos.append((name, dims, r.get("<I"), r.get("<Q")))
    align = meta.get("general.alignment", 32)
    start = (r.pos + align - 1) // align * align
    sizes = {0: 4.0, 1: 2.0, 8: 34 / 32, 2: 18 / 32}
    out = {}
    for name, dims, t, offset in infos:
        count = int(np.prod(dims))
        data = raw[start + offset:start + offset + int(count * sizes[t])]
        out[name] = {"shape": list(reversed(dims)), "type": t,
                     "values": [float(v) for v in dequantize(data, t, count)]}
    print(json.dumps({"tensors": out, "metadata_keys": list(meta)}))


if __name__ == "__main__":
    main(sys.argv[1])
