#!/usr/bin/python3
"""A reference LLaMA forward pass in PyTorch (Debian's python3-torch), written from Hugging
Face's modeling_llama (LlamaRMSNorm, LlamaRotaryEmbedding with linear scaling, rotate_half,
repeat_kv, SDPA with a causal mask, LlamaMLP), for the engine's decoder tests. Weights come from
a model.safetensors read with numpy (tests/formats/safetensors_numpy.py's reader).

  llama_reference.py MODEL_DIR IDS.json   prints the logits [batch][seq][vocab] as JSON
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_numpy  # noqa: E402


def load(directory):
    cfg = json.load(open(os.path.join(directory, "config.json")))
    raw = open(os.path.join(directory, "model.safetensors"), "rb").read()
    import numpy as np
    import struct
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    weights = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=safetensors_numpy.DTYPES[e["dtype"]])
        weights[name] = torch.tensor(arr.reshape(e["shape"]).astype("float32"))
    return cfg, weights


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, ids):
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    d = cfg["hidden_size"] // heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    factor = (cfg.get("rope_scaling") or {}).get("factor", 1.0)
    b, t = ids.shape
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    pos = torch.arange(t, dtype=torch.float64) / factor
    emb = torch.cat([torch.outer(pos, inv_freq)] * 2, dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()
    h = w["model.embed_tokens.weight"][ids]
    causal = torch.full((t, t), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = (x @ w[p + "self_attn.q_proj.weight"].T).view(b, t, heads, d).transpose(1, 2)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).view(b, t, kv, d).transpose(1, 2)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).view(b, t, kv, d).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k[:, :, None].expand(b, kv, heads // kv, t, d).reshape(b, heads, t, d)
        v = v[:, :, None].expand(b, kv, heads // kv, t, d).reshape(b, heads, t, d)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + causal, dim=-1) @ v
        h = h + att.transpose(1, 2).reshape(b, t, heads * d) @ w[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(x @ w[p + "mlp.gate_proj.weight"].T)
        h = h + (gate * (x @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return h @ head.T


def main(directory, ids_path):
    cfg, w = load(directory)
    ids = torch.tensor(json.load(open(ids_path)), dtype=torch.long)
    with torch.no_grad():
        print(json.dumps(forward(cfg, w, ids).tolist()))


if __name__ == "__main__":
    main(*sys.argv[1:3])
