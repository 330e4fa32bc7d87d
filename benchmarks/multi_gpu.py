"""A trial on two GPUs against the same trial on one: does ``--gpus-per-trial`` pay, and from
what model size (benchmarks/README.md, "Trials on several GPUs").

Each variant runs in its own process, started the way a worker is (``CUDA_VISIBLE_DEVICES``
set before JAX starts), and trains the same configuration through automl's own
``InProcessExecutor`` with ``devices`` = the GPUs it sees (Keras's ``DataParallel``); the
same global batch, so the same training. Reported: each epoch's seconds, and the steady
epoch (the median of the epochs after the first, which compiles).

Usage (JAX backend, two GPUs):

  KERAS_BACKEND=jax python benchmarks/multi_gpu.py --sizes small,large --epochs 4 --out multi.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The seed CNN as the catalog has it (small), and a wider, deeper one whose steps are long
# enough for splitting a batch across GPUs to matter (large).
SIZES: dict[str, dict[str, Any]] = {
    "small": {"filters": (32, 64, 64), "dense": 64, "batch": 128},
    "large": {"filters": (256, 512, 512), "dense": 1024, "batch": 1024},
}


def space(size: str) -> dict[str, Any]:
    s = SIZES[size]
    f1, f2, f3 = s["filters"]
    return {"name": f"multi-{size}", "input_shape": [32, 32, 3], "num_classes": 10,
            "model": {"layers": [
                {"type": "conv2d", "filters": f1, "kernel_size": 3, "padding": "same", "activation": "relu"},
                {"type": "conv2d", "filters": f1, "kernel_size": 3, "padding": "same", "activation": "relu"},
                {"type": "max_pool2d", "pool_size": 2},
                {"type": "conv2d", "filters": f2, "kernel_size": 3, "padding": "same", "activation": "relu"},
                {"type": "conv2d", "filters": f2, "kernel_size": 3, "padding": "same", "activation": "relu"},
                {"type": "max_pool2d", "pool_size": 2},
                {"type": "conv2d", "filters": f3, "kernel_size": 3, "activation": "relu"},
                {"type": "flatten"},
                {"type": "dense", "units": s["dense"], "activation": "relu"},
                {"type": "dropout", "rate": 0.2}]},
            "optimizer": {"name": "adam", "learning_rate": 1e-3},
            "training": {"batch_size": s["batch"], "epochs": 1, "metrics": ["accuracy"]},
            "objective": {"metric": "val_accuracy", "direction": "maximize"}}


def child(size: str, epochs: int, samples: int) -> dict[str, Any]:
    """One trial in this process, on every GPU it sees."""
    sys.path.insert(0, str(ROOT))
    import jax

    from automl.data import load_data
    from automl.engines import Decision, TrialSpec
    from automl.runner import InProcessExecutor
    from automl.space import FixedHP, parse_space

    n = len(jax.devices())
    sp = parse_space(space(size))
    config = sp.sample(FixedHP({}))
    data = load_data(f"synthetic:32x32x3:10:{samples}")
    ex = InProcessExecutor(sp, data, backend="jax", devices=n, device=f"gpu x{n}")
    t0 = time.perf_counter()
    out = ex.run(TrialSpec(0, {}, config, epochs=epochs), lambda e, m: Decision.CONTINUE)
    return {"size": size, "gpus": n, "state": out.state, "error": out.error, "device": out.device,
            "params": out.params_count, "epoch_seconds": out.epoch_seconds,
            "steady_epoch_s": statistics.median(out.epoch_seconds[1:]) if len(out.epoch_seconds) > 1 else None,
            "value": out.value, "wall_s": time.perf_counter() - t0}


def run_variant(size: str, gpus: str, epochs: int, samples: int) -> dict[str, Any]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpus, XLA_PYTHON_CLIENT_PREALLOCATE="false", KERAS_BACKEND="jax")
    r = subprocess.run([sys.executable, __file__, "--child", size, "--epochs", str(epochs), "--samples", str(samples)],
                       env=env, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        return {"size": size, "gpus": gpus, "error": r.stderr[-2000:]}
    return dict(json.loads(r.stdout.strip().splitlines()[-1]), visible=gpus)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="small,large")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--samples", type=int, default=50000)
    p.add_argument("--out", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.epochs, a.samples)))
        return
    rows = []
    for size in a.sizes.split(","):
        for gpus in ("0", "0,1", "0"):  # one GPU before and after: the drift between them
            row = run_variant(size, gpus, a.epochs, a.samples)
            rows.append(row)
            print(json.dumps({k: row.get(k) for k in ("size", "visible", "state", "steady_epoch_s", "error")}),
                  flush=True)
    summary = {}
    for size in a.sizes.split(","):
        one = [r["steady_epoch_s"] for r in rows if r["size"] == size and r.get("visible") == "0"
               and r.get("steady_epoch_s")]
        two = [r["steady_epoch_s"] for r in rows if r["size"] == size and r.get("visible") == "0,1"
               and r.get("steady_epoch_s")]
        if one and two:
            summary[size] = {"one_gpu_s": statistics.mean(one), "two_gpus_s": two[0],
                             "speedup": statistics.mean(one) / two[0]}
    print(json.dumps({"summary": summary}))
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
