#!/usr/bin/python3
"""Checks a LoRA run against its base model, tensor by tensor, with numpy (independent of the
engine): every base tensor outside the adapted projections is unchanged in the merged model;
each adapted projection is exactly base + lora_alpha/r * B @ A from adapter_model.safetensors
(PEFT's names); and the adapters learned (B is no longer zero).

  lora_check.py BASE_DIR RUN_DIR   prints {"tensors", "adapted", "nonzero_b", "max_error"}
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_numpy import load  # noqa: E402


def main(base_dir, run_dir):
    base, _ = load(os.path.join(base_dir, "model.safetensors"))
    merged, _ = load(os.path.join(run_dir, "model.safetensors"))
    adapters, _ = load(os.path.join(run_dir, "adapter_model.safetensors"))
    config = json.load(open(os.path.join(run_dir, "adapter_config.json")))
    assert config["peft_type"] == "LORA", config
    scale = config["lora_alpha"] / config["r"]
    targets = config["target_modules"]
    assert sorted(base) == sorted(merged), (sorted(set(base) ^ set(merged)))
    adapted = nonzero_b = 0
    max_error = 0.0
    used = set()
    for name, (_, w) in base.items():
        m = merged[name][1]
        stem = name[: -len(".weight")]
        a_name = "base_model.model." + stem + ".lora_A.weight"
        if stem.split(".")[-1] in targets and a_name in adapters:
            a = adapters[a_name][1].astype(np.float64)
            b = adapters["base_model.model." + stem + ".lora_B.weight"][1].astype(np.float64)
            assert a.shape == (config["r"], w.shape[1]) and b.shape == (w.shape[0], config["r"])
            expect = w.astype(np.float64) + scale * (b @ a)
            max_error = max(max_error, float(np.abs(m - expect).max()))
            adapted += 1
            nonzero_b += int(np.abs(b).max() > 0)
            used.update([a_name, a_name.replace("lora_A", "lora_B")])
        elif not np.array_equal(w, m):
            sys.exit(f"{name} changed, but it is not an adapted projection")
    if used != set(adapters):
        sys.exit(f"adapters without a base tensor: {sorted(set(adapters) - used)}")
    print(json.dumps({"tensors": len(base), "adapted": adapted, "nonzero_b": nonzero_b,
                      "max_error": max_error}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
