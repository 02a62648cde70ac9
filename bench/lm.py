#!/usr/bin/python3
"""The reference for bench/lm: the same LLaMA-style model, LoRA and training step in eager
PyTorch (Debian's python3-torch). Prints {"tokens_per_second": ...}.

  lm.py STEPS BATCH SEQ THREADS
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, H, I, L, HEADS, KV = 8000, 384, 1024, 8, 6, 2
D = H // HEADS


class LoraLinear(nn.Module):
    def __init__(self, cin, cout, rank=0, alpha=16):
        super().__init__()
        self.base = nn.Linear(cin, cout, bias=False)
        self.base.weight.requires_grad_(False)
        self.rank = rank
        if rank:
            self.a = nn.Linear(cin, rank, bias=False)
            self.b = nn.Linear(rank, cout, bias=False)
            nn.init.normal_(self.a.weight, std=1 / rank)
            nn.init.zeros_(self.b.weight)
            self.scale = alpha / rank

    def forward(self, x):
        y = self.base(x)
        return y + self.scale * self.b(self.a(x)) if self.rank else y


class RMSNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(H), requires_grad=False)

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rotate_half(x):
    return torch.cat((-x[..., D // 2:], x[..., :D // 2]), dim=-1)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k = LoraLinear(H, H, 8), LoraLinear(H, KV * D)
        self.v, self.o = LoraLinear(H, KV * D, 8), LoraLinear(H, H)
        self.gate, self.up, self.down = LoraLinear(H, I), LoraLinear(H, I), LoraLinear(I, H)
        self.n1, self.n2 = RMSNorm(), RMSNorm()

    def forward(self, h, cos, sin, mask):
        b, t, _ = h.shape
        x = self.n1(h)
        q = self.q(x).view(b, t, HEADS, D).transpose(1, 2)
        k = self.k(x).view(b, t, KV, D).transpose(1, 2)
        v = self.v(x).view(b, t, KV, D).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(HEADS // KV, 1), v.repeat_interleave(HEADS // KV, 1)
        s = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(mask, float("-inf"))
        h = h + self.o((torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, t, H))
        x = self.n2(h)
        return h + self.down(F.silu(self.gate(x)) * self.up(x))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, H)
        self.embed.weight.requires_grad_(False)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.norm = RMSNorm()
        self.head = LoraLinear(H, V)

    def forward(self, ids):
        t = ids.shape[1]
        inv = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
        emb = torch.cat([torch.outer(torch.arange(t, dtype=torch.float64), inv)] * 2, -1)
        cos, sin = emb.cos().float(), emb.sin().float()
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        h = self.embed(ids)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        return self.head(self.norm(h))


def main(steps, batch, seq, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Model()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(V, (batch, seq + 1))
    x, y = ids[:, :-1], ids[:, 1:]

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1)).backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    print(json.dumps({"tokens_per_second": steps * batch * seq / (time.perf_counter() - start)}))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))
