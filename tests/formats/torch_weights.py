#!/usr/bin/python3
"""Writes a PyTorch nn.Sequential(64-128-10)'s state_dict as safetensors (with PyTorch's own
names, `0.weight`...) and prints the weights as JSON {name: [values...]}.

  torch_weights.py PATH
"""
import json
import struct
import sys

import torch

torch.manual_seed(3)
model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                            torch.nn.Linear(128, 10))
header, blobs, offset = {"__metadata__": {"writer": "pytorch"}}, [], 0
for name, t in model.state_dict().items():
    data = t.detach().numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape),
                    "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
print(json.dumps({k: v.reshape(-1).tolist() for k, v in model.state_dict().items()}))
