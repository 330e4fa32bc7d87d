"""Where a worker's time goes, first trial against later ones, with N workers starting at once.

Starts N processes the way the parallel runner does (``spawn``, ``CUDA_VISIBLE_DEVICES``
set first), all at the same moment; each imports Keras on JAX, initialises its device,
then runs T trials of the throughput benchmark's configurations through automl's own
``InProcessExecutor``. Each process records, from JAX's monitoring events and clocks:

* ``spawn_s`` (launch to the worker function), ``import_s`` (Keras and JAX),
  ``import_and_warmup_s`` (the same, joined with the device warm-up thread the runner's
  workers start, ``automl/model/_warmup.py``), ``devices_s`` (``jax.devices()``: the CUDA
  context, when not warmed already), ``first_jit_s`` (a one-op program:
  the compiler's own start-up);
* per trial: total, ``fit`` seconds, time spent tracing, lowering and compiling
  (``/jax/core/compile/*``), persistent-cache hits and misses, and each epoch's end.

Usage (JAX backend, GPUs; variants run one after another, each with an empty cache):

  KERAS_BACKEND=jax python benchmarks/worker_startup.py --variants 1@0,4@0,8@0+1 --trials 5 --out s.json

A variant ``N@G+H`` starts N workers spread over GPUs G and H; ``ENV=VALUE`` items after a
colon, separated by ``;``, set environment variables for that variant's workers
(``8@0+1:XLA_FLAGS=...``); ``WARMUP=0`` starts them without the device warm-up thread,
``LEAN=0`` lets Keras import its optional integrations (the runner's workers skip them).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

_EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "trace_s",
           "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
           "/jax/core/compile/backend_compile_duration": "backend_compile_s"}


def _worker(index: int, gpu: str, env: dict[str, str], launched: float, params: list[dict[str, Any]],
            meta: dict[str, Any], epochs: int, go: Any, out: Any) -> None:
    entered = time.time()
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    os.environ.update(env)
    warm = env.pop("WARMUP", "1") != "0"
    lean = env.pop("LEAN", "1") != "0"
    rec: dict[str, Any] = {"worker": index, "gpu": gpu, "spawn_s": round(entered - launched, 3), "warmup": warm,
                           "lean_import": lean}
    t = time.perf_counter()
    from automl.model import configure_backend, import_keras
    from automl.model._warmup import start_warmup

    configure_backend("jax")  # as the runner's worker does (worker_main)
    thread = start_warmup("jax") if warm else None
    import_keras("jax", skip_optional=lean)
    import jax
    import jax.numpy as jnp

    rec["import_s"] = round(time.perf_counter() - t, 3)
    if thread is not None:
        thread.join()
    rec["import_and_warmup_s"] = round(time.perf_counter() - t, 3)
    counters: dict[str, float] = {}

    def on_duration(event: str, duration_secs: float, **_: Any) -> None:
        if event in _EVENTS:
            counters[_EVENTS[event]] = counters.get(_EVENTS[event], 0.0) + duration_secs

    def on_event(event: str, **_: Any) -> None:
        if event.startswith("/jax/compilation_cache/cache_"):
            key = event.rsplit("/", 1)[1]
            counters[key] = counters.get(key, 0) + 1

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    t = time.perf_counter()
    jax.devices()
    rec["devices_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    jax.jit(lambda v: v * 2 + 1)(jnp.ones(8)).block_until_ready()
    rec["first_jit_s"] = round(time.perf_counter() - t, 3)
    rec["ready_at_s"] = round(time.time() - launched, 3)

    from automl.engines._base import Decision, TrialSpec
    from automl.runner._executor import InProcessExecutor
    from automl.runner._worker import _load_arrays
    from throughput import space_for

    from automl.space import FixedHP

    space = space_for(epochs)
    # as the runner's GPU workers do (PoolSettings' defaults): the data kept on the GPU
    ex = InProcessExecutor(space, _load_arrays(meta), backend="jax", seed=0, device=f"cuda:{gpu}", freeze_gc=True,
                           data_on_device=True)
    go.wait()
    trials = []
    for n, p in enumerate(params):
        counters.clear()
        ends: list[float] = []
        t0 = time.perf_counter()

        def hook(epoch: int, metrics: dict[str, float]) -> Decision:
            ends.append(round(time.perf_counter() - t0, 3))
            return Decision.CONTINUE

        spec = TrialSpec(number=index * 1000 + n, params=p, config=space.sample(FixedHP(p)), epochs=epochs)
        o = ex.run(spec, hook)
        trials.append({"trial": n, "state": o.state, "error": o.error, "total_s": round(time.perf_counter() - t0, 3),
                       "fit_s": round(o.fit_seconds, 3), "epoch_ends_s": ends,
                       **{k: round(v, 3) for k, v in counters.items()}})
    rec["trials"] = trials
    rec["finished_at_s"] = round(time.time() - launched, 3)
    out.put(rec)


def run_variant(spec: str, params: list[dict[str, Any]], meta: dict[str, Any], trials: int, epochs: int,
                cache_root: Path) -> dict[str, Any]:
    head, _, envs = spec.partition(":")
    n_s, _, gpus_s = head.partition("@")
    n, gpus = int(n_s), (gpus_s or "0").split("+")
    env = dict(e.split("=", 1) for e in envs.split(";") if e) if envs else {}
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_root / spec.replace("/", "_")))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    ctx = mp.get_context("spawn")
    go, q = ctx.Event(), ctx.Queue()
    launched = time.time()
    procs = []
    for i in range(n):
        mine = params[i * trials:(i + 1) * trials]
        p = ctx.Process(target=_worker, args=(i, gpus[i % len(gpus)], env, launched, mine, meta, epochs, go, q))
        p.start()
        procs.append(p)
    go.set()  # trials start as soon as each worker is ready, as in the runner
    recs = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    wall = time.time() - launched
    firsts = [r["trials"][0] for r in recs]
    laters = [t for r in recs for t in r["trials"][1:]]

    def med(xs: list[float]) -> float | None:
        return round(statistics.median(xs), 3) if xs else None

    summary = {k: med([r[k] for r in recs]) for k in ("spawn_s", "import_s", "import_and_warmup_s", "devices_s",
                                                       "first_jit_s", "ready_at_s")}
    for label, ts in (("first", firsts), ("later", laters)):
        for k in ("total_s", "fit_s", "trace_s", "lower_s", "backend_compile_s"):
            summary[f"{label}_{k}"] = med([t.get(k, 0.0) for t in ts])
        summary[f"{label}_epoch1_s"] = med([t["epoch_ends_s"][0] for t in ts if t["epoch_ends_s"]])
        summary[f"{label}_epoch2_minus_1_s"] = med([t["epoch_ends_s"][1] - t["epoch_ends_s"][0] for t in ts
                                                   if len(t["epoch_ends_s"]) > 1])
    summary["wall_s"] = round(wall, 2)
    summary["trials_per_min"] = round(60 * n * trials / wall, 2)
    return {"variant": spec, "workers": n, "gpus": gpus, "env": {k: v for k, v in env.items() if "CACHE_DIR" not in k},
            "summary": summary, "workers_detail": sorted(recs, key=lambda r: r["worker"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="1@0,4@0,8@0+1")
    ap.add_argument("--trials", type=int, default=4, help="trials per worker")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--out", default="worker_startup.json")
    args = ap.parse_args()
    os.environ["KERAS_BACKEND"] = "jax"
    from throughput import sample_params

    from automl.data import load_data
    from automl.runner._worker import save_arrays

    variants = args.variants.split(",")
    most = max(int(v.split("@")[0]) for v in variants)
    params = sample_params(most * args.trials)
    data = load_data(f"synthetic:32x32x3:10:{args.images}")
    results: dict[str, Any] = {"trials_per_worker": args.trials, "epochs": args.epochs, "images": args.images,
                               "variants": []}
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        meta = save_arrays(data, tmp / "data")
        for v in variants:
            r = run_variant(v, params, meta, args.trials, args.epochs, tmp / "cache")
            results["variants"].append(r)
            print(v, json.dumps(r["summary"]), flush=True)
            Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
