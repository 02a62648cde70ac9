"""PyTorch's DistributedDataParallel on CPU ranks over Gloo, the anchor of bench/ddp: the same
MLP, data, per-rank batch, optimizer and threads per rank as the entrenar run it is compared with.
Prints {"steps": N, "seconds": S, "allreduce_seconds_per_step": A} for the timed steps.

  /usr/bin/python3 bench/ddp_mlp.py --csv wide.csv --hidden 256 --batch 128 --ranks 2 --steps 300
"""
import argparse
import json
import os
import socket
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def load(csv):
    data = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float32)
    x, y = data[:, :-1], data[:, -1].astype(np.int64)
    lo, hi = x.min(0), x.max(0)
    x = (x - lo) / np.where(hi > lo, hi - lo, 1)
    return torch.from_numpy(x), torch.from_numpy(y)


def rank_main(rank, args, port, out):
    torch.set_num_threads(args.threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    torch.manual_seed(0)
    x, y = load(args.csv)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], args.hidden), torch.nn.ReLU(),
        torch.nn.Linear(args.hidden, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(ddp.parameters(), lr=2e-3, weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    sampler = torch.utils.data.distributed.DistributedSampler(
        torch.utils.data.TensorDataset(x, y), num_replicas=args.ranks, rank=rank, seed=0)
    step, warmup, start = 0, 20, None
    epoch = 0
    while step < args.steps + warmup:
        sampler.set_epoch(epoch)
        idx = torch.tensor(list(iter(sampler)))
        for b in range(0, len(idx) - args.batch + 1, args.batch):
            if step == warmup:
                dist.barrier()
                start = time.perf_counter()
            rows = idx[b:b + args.batch]
            opt.zero_grad()
            loss = loss_fn(ddp(x[rows]), y[rows])
            loss.backward()
            opt.step()
            step += 1
            if step == args.steps + warmup:
                break
        epoch += 1
    seconds = time.perf_counter() - start
    # The all-reduce alone: the gradients' size, timed on its own as DDP's buckets would be.
    grads = [p.grad.detach().clone() for p in model.parameters()]
    dist.barrier()
    t = time.perf_counter()
    for _ in range(50):
        for g in grads:
            dist.all_reduce(g)
    allreduce = (time.perf_counter() - t) / 50
    if rank == 0:
        out.put({"steps": args.steps, "seconds": seconds, "allreduce_seconds_per_step": allreduce})
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=rank_main, args=(r, args, port, out)) for r in range(args.ranks)]
    for proc in procs:
        proc.start()
    result = out.get()
    for proc in procs:
        proc.join()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
