#!/usr/bin/python3
"""The reference for bench/train_mlp: the same MLP training loop in eager PyTorch (Debian's
python3-torch). Prints {"steps": N, "seconds": S} for the training loop alone."""
import argparse
import json
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--train-fraction", type=float, default=0.8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = np.genfromtxt(args.csv, delimiter=",", skip_header=1, dtype=np.float32)
    x, y = data[:, :-1], data[:, -1].astype(np.int64)
    n = int(len(x) * args.train_fraction)
    lo, hi = x[:n].min(0), x[:n].max(0)
    x = (x - lo) / np.where(hi > lo, hi - lo, 1)
    x, y = torch.from_numpy(x[:n].copy()), torch.from_numpy(y[:n].copy())
    classes = int(y.max()) + 1
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], args.hidden), torch.nn.ReLU(),
                                torch.nn.Dropout(0.1), torch.nn.Linear(args.hidden, classes))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    steps = 0
    start = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(n)
        for b in range(0, n, args.batch):
            idx = perm[b:b + args.batch]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # read the loss each step, as a training loop that logs it does
            steps += 1
    print(json.dumps({"steps": steps, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
