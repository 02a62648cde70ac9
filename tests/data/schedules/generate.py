#!/usr/bin/python3
"""Writes pytorch_lr.json: learning-rate sequences from PyTorch's own schedulers (Debian's
python3-torch), the reference for tests/unit/engine/schedule_fixtures_test.cc. Rerun by hand
when a case is added: /usr/bin/python3 tests/data/schedules/generate.py"""
import json
import os

import torch
from torch.optim import lr_scheduler as S


def sequence(base, make, steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def warm(opt, base, start, w, then):
    return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=start / base, end_factor=1.0, total_iters=w), then],
                          milestones=[w])


CASES = [
    # (name, our scheduler config, base lr, total steps, PyTorch construction)
    ("cosine", {"name": "cosine", "T_max": 50, "eta_min": 1e-4}, 0.1, 50,
     lambda o: S.CosineAnnealingLR(o, T_max=50, eta_min=1e-4)),
    ("step", {"name": "step", "step_size": 7, "gamma": 0.5}, 0.1, 40,
     lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    ("exponential", {"name": "exponential", "gamma": 0.95}, 0.05, 40,
     lambda o: S.ExponentialLR(o, gamma=0.95)),
    ("linear", {"name": "linear", "T_max": 30, "eta_min": 0.001}, 0.1, 30,
     lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.01, total_iters=30)),
    ("constant", {"name": "constant"}, 0.02, 10, lambda o: S.ConstantLR(o, factor=1.0, total_iters=0)),
    ("warmup_cosine", {"name": "cosine_annealing", "warmup": {"steps": 10, "start_lr": 1e-5},
                       "T_max": 40, "eta_min": 0.0}, 0.1, 50,
     lambda o: warm(o, 0.1, 1e-5, 10, S.CosineAnnealingLR(o, T_max=40, eta_min=0.0))),
    ("warmup_step", {"name": "step", "warmup": {"steps": 5, "start_lr": 0.001}, "step_size": 10,
                     "gamma": 0.1}, 0.1, 40,
     lambda o: warm(o, 0.1, 0.001, 5, S.StepLR(o, step_size=10, gamma=0.1))),
]

out = []
for name, config, base, steps, make in CASES:
    out.append({"name": name, "scheduler": config, "lr": base, "total_steps": steps,
                "pytorch": torch.__version__, "lrs": sequence(base, make, steps)})
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_lr.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(out)} cases to {path}")
