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

CASES += [
    ("one_cycle_cos", {"name": "one_cycle", "max_lr": 0.1, "pct_start": 0.3, "div_factor": 25,
                       "final_div_factor": 10000}, 0.1, 50,
     lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=50, pct_start=0.3, div_factor=25,
                            final_div_factor=10000, cycle_momentum=False)),
    ("one_cycle_linear", {"name": "one_cycle", "max_lr": 0.05, "pct_start": 0.25,
                          "anneal_strategy": "linear", "div_factor": 10, "final_div_factor": 100},
     0.05, 40,
     lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=40, pct_start=0.25, anneal_strategy="linear",
                            div_factor=10, final_div_factor=100, cycle_momentum=False)),
]


def plateau_case():
    """ReduceLROnPlateau fed a fixed series of validation losses: the lr after each one."""
    metrics = [1.0, 0.9, 0.95, 0.92, 0.91, 0.905, 0.93, 0.94, 0.8, 0.85, 0.86, 0.87, 0.88, 0.79]
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, threshold=0.01)
    lrs = []
    for v in metrics:
        sched.step(v)
        lrs.append(opt.param_groups[0]["lr"])
    return {"name": "plateau", "scheduler": {"name": "plateau", "factor": 0.5, "patience": 2,
                                              "threshold": 0.01}, "lr": 0.1, "metrics": metrics,
            "pytorch": torch.__version__, "lrs": lrs}


out = [plateau_case()]
for name, config, base, steps, make in CASES:
    out.append({"name": name, "scheduler": config, "lr": base, "total_steps": steps,
                "pytorch": torch.__version__, "lrs": sequence(base, make, steps)})
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_lr.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(out)} cases to {path}")
