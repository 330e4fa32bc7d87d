"""Throughput benchmark: the seed article's CNN family on CIFAR-shaped synthetic data.

Runs the same fixed list of configurations (sampled once from search_spaces/seed-cnn.yaml
with fixed seeds) as:

  a. a plain Optuna loop (``study.optimize`` in one process, one GPU),
  b. KerasTuner's RandomSearch in one process,
  c. automl on one GPU with 1 and with K trials per GPU,
  d. automl on every GPU given (K per GPU),
  e. (c) with K again, with JAX's persistent compilation cache cold, then warm;
  ``cKhost`` and ``dhost``: (c) with K and (d) with each worker's data in host memory
  (``PoolSettings(data_on_device=False)``; automl keeps it on the GPU by default), to
  compare with ``cK`` and ``d`` in the same run; ``cKray``: (c) with K on the actors of a
  one-node Ray cluster (``--cluster``'s backend) instead of the process pool.

and prints trials per minute, mean GPU utilisation, the share of each trial spent
outside ``fit``, and the ratios against (a). Every mode runs in this one invocation on
the same machine; ``--repeat N`` runs them all N times, every other round in reverse
order. Usage (JAX backend, GPUs):

  KERAS_BACKEND=jax python benchmarks/throughput.py --configs 8 --epochs 2 --images 10000 \
      --k 4 --gpus 0,1 --out results.json
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


BACKEND = ["jax"]
# ``--sampler tpe``: every mode searches with Optuna's TPE (seed 0) for ``--configs`` trials
# instead of running the fixed list: a sampler that concentrates on good architectures
# repeats them, which is when shared programs pay (issue 23).
SAMPLER = ["fixed"]


class GpuSampler:
    """Samples ``nvidia-smi`` every 200 ms (utilisation, SM clock, power, temperature) and the
    host's CPU use every second, in the background: a slow mode shows whether the GPUs were
    throttled or the host was busy."""

    FIELDS = ("util", "sm_mhz", "power_w", "temp_c")

    def __init__(self) -> None:
        self.samples: list[tuple[float, int, tuple[float, ...]]] = []
        self.cpu: list[tuple[float, float]] = []
        self._stop = threading.Event()
        exe = shutil.which("nvidia-smi")
        self.proc = None
        if exe:
            self.proc = subprocess.Popen([exe, "--query-gpu=index,utilization.gpu,clocks.sm,power.draw,temperature.gpu",
                                          "--format=csv,noheader,nounits", "-lms", "200"],
                                         stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()
        if Path("/proc/stat").exists():
            threading.Thread(target=self._read_cpu, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                i, *vals = line.split(",")
                self.samples.append((time.monotonic(), int(i), tuple(float(v) for v in vals)))
            except ValueError:
                continue

    @staticmethod
    def _cpu_times() -> tuple[float, float]:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return sum(fields), idle

    def _read_cpu(self) -> None:
        total0, idle0 = self._cpu_times()
        while not self._stop.wait(1.0):
            total1, idle1 = self._cpu_times()
            if total1 > total0:
                self.cpu.append((time.monotonic(), 100.0 * (1 - (idle1 - idle0) / (total1 - total0))))
            total0, idle0 = total1, idle1

    def mean(self, t0: float, t1: float, gpus: list[int], field: str = "util") -> float | None:
        j = self.FIELDS.index(field)
        vals = [v[j] for t, i, v in self.samples if t0 <= t <= t1 and i in gpus]
        return round(statistics.mean(vals), 1) if vals else None

    def host_cpu(self, t0: float, t1: float) -> float | None:
        vals = [u for t, u in self.cpu if t0 <= t <= t1]
        return round(statistics.mean(vals), 1) if vals else None

    def close(self) -> None:
        self._stop.set()
        if self.proc:
            self.proc.terminate()


RUNTIME_KEYS = ("rate", "learning_rate", "momentum")  # values that change no shape (issue 23)


def sample_params(n: int, first_seed: int = 0, arch_repeat: int = 1) -> list[dict[str, Any]]:
    """``n`` configurations; with ``arch_repeat`` R, each architecture (everything that
    sets a shape, the optimizer and the batch size) is used by R of them, which differ in
    the dropout rate, the learning rate and the momentum, as a sampler that has found good
    architectures proposes them. The architectures take turns (a, b, c, a, b, c, …), so
    that a repeat does not start beside its first trial, before that one has compiled."""
    from automl.space import HP, load_space

    class SeededHP(HP):
        def __init__(self, seed: int) -> None:
            self.rng = random.Random(seed)
            self.values: dict[str, Any] = {}

        def int(self, name, low, high, *, step=1, log=False):  # type: ignore[no-untyped-def]
            self.values[name] = self.rng.randrange(low, high + 1, step)
            return self.values[name]

        def float(self, name, low, high, *, step=None, log=False):  # type: ignore[no-untyped-def]
            self.values[name] = round(self.rng.uniform(low, high), 6)
            return self.values[name]

        def choice(self, name, values):  # type: ignore[no-untyped-def]
            self.values[name] = self.rng.choice(list(values))
            return self.values[name]

    space = load_space(ROOT / "search_spaces" / "seed-cnn.yaml")
    out = []
    for i, seed in enumerate(range(first_seed, first_seed + n)):
        hp = SeededHP(seed)
        space.sample(hp)
        values = hp.values
        if i % arch_repeat:  # the architecture of the first of its group, this one's own other values
            values = {k: v if k.split(".")[-1] in RUNTIME_KEYS else out[-1][k] for k, v in values.items()}
            if set(values) != set(out[-1]):  # another optimizer drew other keys: the group's own
                values = {**out[-1], **{k: v for k, v in values.items() if k in out[-1]}}
        out.append(values)
    return [out[g * arch_repeat + r] for r in range(arch_repeat) for g in range(len(out) // arch_repeat)] + \
        out[len(out) // arch_repeat * arch_repeat:]


def timeline(trials: list[Any], t0_wall: float) -> dict[str, Any]:
    """When trials started and ended, from the store: the first start after the mode began,
    and the steady rate (trials finished between the 25th and the 90th percentile of the
    finishing times, so that neither start-up nor the last stragglers count)."""
    starts = sorted(t.datetime_start.timestamp() for t in trials if t.datetime_start)
    ends = sorted(t.datetime_complete.timestamp() for t in trials if t.datetime_complete)
    out: dict[str, Any] = {"first_trial_start_s": round(starts[0] - t0_wall, 2) if starts else None}
    lo, hi = int(0.25 * len(ends)), max(int(0.9 * len(ends)) - 1, 0)
    if hi > lo and ends[hi] > ends[lo]:
        out["steady_trials_per_min"] = round(60 * (hi - lo) / (ends[hi] - ends[lo]), 2)
    return out


def fixed_costs(wall: float, first_start: float | None, trial_seconds: list[float], slots: int) -> dict[str, Any]:
    """What a run paid besides its trials: ``fixed_cost_s`` is the wall time minus the
    trials' seconds shared over the slots; ``tail_s`` is how much longer the trials take
    replayed in order on ``slots`` slots, each to the first free one, than shared evenly
    (the last trials finishing unevenly); ``gaps_s`` is what is left after the first
    trial's start and that replay (waits between trials, workers ready at different
    times, stopping the workers)."""
    if not trial_seconds or first_start is None:
        return {}
    free = [0.0] * slots
    for t in trial_seconds:
        heapq.heapreplace(free, free[0] + t)
    even = sum(trial_seconds) / slots
    return {"fixed_cost_s": round(wall - even, 2), "tail_s": round(max(free) - even, 2),
            "gaps_s": round(wall - first_start - max(free), 2)}


def analyse(paths: list[str]) -> None:
    """Print each automl mode's fixed costs (:func:`fixed_costs`) from saved results; the
    slots are read from the mode's label (GPUs × K)."""
    for path in paths:
        for label, r in json.loads(Path(path).read_text())["modes"].items():
            found = re.search(r"(\d+) GPUs?, K=(\d+)", label)
            if found and r.get("trial_seconds"):
                slots = int(found[1]) * int(found[2])
                costs = fixed_costs(r["wall_s"], r.get("first_trial_start_s"), r["trial_seconds"], slots)
                print(f"{Path(path).name} | {label} | {r['trials_per_min']} trials/min | first trial at "
                      f"{r.get('first_trial_start_s')} s | " + " | ".join(f"{k} {v}" for k, v in costs.items()))
                steps = r.get("coordinator", {}).get("start_steps_s")
                if steps:  # recorded since run 29
                    names = [n for n in steps[0] if all(n in s for s in steps)]
                    print("    workers' start, first-last to end each step (s): " + ", ".join(
                        f"{n} {min(s[n] for s in steps):.2f}-{max(s[n] for s in steps):.2f}" for n in names))


def space_for(epochs: int) -> Any:
    from automl.space import load_space, resolve_space

    return resolve_space(load_space(ROOT / "search_spaces" / "seed-cnn.yaml"), epochs=epochs, batch_size=128)


def plain_optuna(params: list[dict[str, Any]], data: Any, epochs: int) -> dict[str, Any]:
    """(a): the loop a user writes by hand: study.optimize, one process."""
    import optuna

    from automl.engines._optuna import OptunaHP
    from automl.model import build_model, import_keras

    keras = import_keras(BACKEND[0])
    space = space_for(epochs)
    outside: list[float] = []

    def objective(trial: Any) -> float:
        t0 = time.perf_counter()
        keras.backend.clear_session()
        config = space.sample(OptunaHP(trial))
        model = build_model(config, data.input_shape, data.num_classes)
        t1 = time.perf_counter()
        h = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                      batch_size=128, verbose=0)
        t2 = time.perf_counter()
        outside.append((t1 - t0) / (t2 - t0))
        return float(h.history["val_accuracy"][-1])

    tpe = SAMPLER[0] == "tpe"
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0) if tpe else None)
    for p in [] if tpe else params:
        study.enqueue_trial(p)
    t0, t0_wall = time.monotonic(), time.time()
    study.optimize(objective, n_trials=len(params))
    return {"wall_s": time.monotonic() - t0, "trials": len(study.trials), "outside_fit": outside,
            "best_value": study.best_value, **timeline(study.trials, t0_wall)}


def kerastuner_random(params: list[dict[str, Any]], data: Any, epochs: int, tmp: Path) -> dict[str, Any]:
    """(b): KerasTuner's RandomSearch over the same configurations, one process."""
    from automl.model import build_model, import_keras

    import_keras(BACKEND[0])
    import keras_tuner as kt

    space = space_for(epochs)
    from automl.space import FixedHP

    configs = [space.sample(FixedHP(p)) for p in params]

    def build(hp: Any) -> Any:
        return build_model(configs[hp.Int("config", 0, len(configs) - 1)], data.input_shape, data.num_classes)

    tuner = kt.RandomSearch(build, objective="val_accuracy", max_trials=len(configs), directory=str(tmp),
                            project_name="kt", overwrite=True, seed=0)
    t0 = time.monotonic()
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                 batch_size=128, verbose=0)
    return {"wall_s": time.monotonic() - t0, "trials": len(tuner.oracle.trials), "outside_fit": []}


def automl_run(params: list[dict[str, Any]], data: Any, epochs: int, gpus: list[int], k: int,
               tmp: Path, name: str, data_on_device: bool = True, share_programs: bool = True,
               ray: bool = False) -> dict[str, Any]:
    """(c)/(d)/(e): automl's parallel runner, the same configurations enqueued; ``ray``: on
    the actors of a local Ray cluster (``RayBackend``) instead of the process pool."""
    from automl._search import make_engine
    from automl.runner._heartbeat import Heartbeat
    from automl.runner._loop import LoopStats, run_trials
    from automl.runner._pool import PoolSettings, ProcessPoolBackend
    from automl.runner._slots import plan_slots

    space = space_for(epochs)
    url = f"sqlite:///{tmp / (name + '.db')}"
    tpe = SAMPLER[0] == "tpe"
    eng = make_engine("optuna", space, data, url=url, study_name=name, sampler="tpe" if tpe else "random",
                      pruner="none", algorithm=None, seed=0, n_trials=len(params))
    for p in [] if tpe else params:
        eng.study.enqueue_trial(p)  # type: ignore[attr-defined]
    slots = plan_slots(",".join(map(str, gpus)), k, None, available=gpus)
    beat = Heartbeat(eng.storage, 10)  # type: ignore[attr-defined]
    stats = LoopStats()
    t0, t0_wall = time.monotonic(), time.time()
    settings = PoolSettings(backend=BACKEND[0], seed=0, data_on_device=data_on_device,
                            share_programs=share_programs)
    pool: Any
    if ray:
        from automl.runner._ray import RayBackend

        pool = RayBackend("auto", space, data, settings, trials_per_gpu=k, workers=len(slots))
    else:
        pool = ProcessPoolBackend(slots, space, data, settings)
    run_trials(eng, pool, n_trials=len(params), heartbeat=beat, stats=stats)
    wall = time.monotonic() - t0
    beat.close()
    trials = eng.study.get_trials()  # type: ignore[attr-defined]
    outside = []
    for t in trials:
        fit = t.user_attrs.get("automl:fit_seconds") or 0.0
        dur = t.duration.total_seconds() if t.duration else 0.0
        if dur > 0:
            outside.append(max(0.0, dur - fit) / dur)
    states = {t.state.name for t in trials}
    compiles = [t.user_attrs["automl:compiles"] for t in trials if "automl:compiles" in t.user_attrs]
    done = [t.value for t in trials if t.value is not None]
    return {"wall_s": wall, "trials": len(trials), "outside_fit": outside, "states": sorted(states),
            "best_value": max(done) if done else None,
            **epoch_times(trials),
            "compiles": {"programs_per_trial": round(statistics.mean(c["programs"] for c in compiles), 2),
                         "compile_s_per_trial": round(statistics.mean(c["compile_seconds"] for c in compiles), 3),
                         "trials_compiling_nothing": sum(1 for c in compiles if c["programs"] == 0)}
            if compiles else None,
            "coordinator": {"engine_ms_per_trial": round(1000 * stats.engine_seconds / max(stats.trials, 1), 1),
                            "worker_wait_ms_per_trial":
                                round(1000 * stats.worker_wait_seconds / max(stats.trials, 1), 1),
                            "workers_ready_after_s": [round(x, 2) for x in stats.ready_after],
                            "close_s": round(stats.close_seconds, 2), "data_write_s": round(stats.data_seconds, 2),
                            "start_steps_s": stats.start_steps},
            "trial_seconds": [t.duration.total_seconds() for t in trials if t.duration],
            "trial_spans_s": [[round(t.datetime_start.timestamp() - t0_wall, 2),
                               round(t.datetime_complete.timestamp() - t0_wall, 2),
                               t.user_attrs.get("automl:device", "?")] for t in trials if t.duration],
            "per_device": per_device(trials), **(tl := timeline(trials, t0_wall)),
            **fixed_costs(wall, tl.get("first_trial_start_s"),
                          [t.duration.total_seconds() for t in trials if t.duration],
                          len(slots))}


def _epoch_seconds(t: Any) -> list[float] | None:
    """A trial's seconds per epoch: a system attribute since 2026-12-02, a user one before."""
    key = "automl:epoch_seconds"
    return t.system_attrs.get(key) or t.user_attrs.get(key)


def epoch_times(trials: list[Any]) -> dict[str, float | None]:
    """Median seconds of a trial's first epoch (it compiles the steps) and of its later ones
    (training speed), over all trials: whether a slower mode compiles or trains slower."""
    first = [e[0] for t in trials if (e := _epoch_seconds(t))]
    later = [x for t in trials if (e := _epoch_seconds(t)) for x in e[1:]]
    return {"first_epoch_median_s": round(statistics.median(first), 3) if first else None,
            "later_epoch_median_s": round(statistics.median(later), 3) if later else None}


def per_device(trials: list[Any]) -> dict[str, dict[str, float]]:
    """Trials finished and their mean and median seconds on each device (one GPU slower shows here)."""
    by: dict[str, list[float]] = {}
    for t in trials:
        if t.duration:
            by.setdefault(str(t.user_attrs.get("automl:device", "?")), []).append(t.duration.total_seconds())
    return {dev: {"trials": len(xs), "mean_s": round(statistics.mean(xs), 2),
                  "median_s": round(statistics.median(xs), 2)}
            for dev, xs in sorted(by.items())}


def _subprocess_mode(args: Any, mode: str, tmp: Path) -> Any:
    def run() -> dict[str, Any]:
        out = tmp / f"inner_{mode}.json"
        cmd = [sys.executable, __file__, "--configs", str(args.configs), "--epochs", str(args.epochs), "--images",
               str(args.images), "--k", str(args.k), "--gpus", args.gpus, "--modes", mode, "--backend",
               args.backend, "--out", str(out), "--inner", "--arch-repeat", str(args.arch_repeat),
               "--sampler", SAMPLER[0]]
        subprocess.run(cmd, check=True)
        r = next(iter(json.loads(out.read_text())["modes"].values()))
        r["outside_fit"] = [r.pop("outside_fit_mean")] if r.get("outside_fit_mean") is not None else []
        r.pop("gpu_util_mean", None)
        r.pop("trials_per_min", None)
        return dict(r)

    return run


def on_local_ray(gpus: int, fn: Any) -> Any:
    """Run ``fn`` with a one-node Ray cluster of ``gpus`` GPUs started beforehand (as a user's
    cluster is running before ``--cluster`` joins it) and stopped after."""
    import ray

    ray.init(num_gpus=gpus, num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        return fn()
    finally:
        ray.shutdown()


def build_plan(args: Any, params: list[dict[str, Any]], data: Any, gpus: list[int], ks: list[int],
               tmp: Path) -> list[tuple[str, Any, list[int]]]:
    """(label, function returning the mode's result, GPUs it uses) for each mode asked for."""
    modes = args.modes.split(",")
    plan: list[tuple[str, Any, list[int]]] = []
    if "c1" in modes:
        plan.append(("c: automl, 1 GPU, K=1",
                     lambda: automl_run(params, data, args.epochs, gpus[:1], 1, tmp, "c1"), gpus[:1]))
    if "cK" in modes:
        for k in ks:
            plan.append((f"c: automl, 1 GPU, K={k}",
                         lambda k=k: automl_run(params, data, args.epochs, gpus[:1], k, tmp, f"c{k}"), gpus[:1]))
    if "d" in modes and len(gpus) > 1:
        plan.append((f"d: automl, {len(gpus)} GPUs, K={ks[-1]}",
                     lambda: automl_run(params, data, args.epochs, gpus, ks[-1], tmp, "d"), gpus))
    if "cKhost" in modes:
        plan.append((f"c: automl, 1 GPU, K={ks[-1]}, data in host memory",
                     lambda: automl_run(params, data, args.epochs, gpus[:1], ks[-1], tmp, "chost", False), gpus[:1]))
    if "dhost" in modes and len(gpus) > 1:
        plan.append((f"d: automl, {len(gpus)} GPUs, K={ks[-1]}, data in host memory",
                     lambda: automl_run(params, data, args.epochs, gpus, ks[-1], tmp, "dhost", False), gpus))
    if "cKown" in modes:  # side by side with cK: each trial compiles its own programs
        plan.append((f"c: automl, 1 GPU, K={ks[-1]}, programs not shared",
                     lambda: automl_run(params, data, args.epochs, gpus[:1], ks[-1], tmp, "cown",
                                        share_programs=False), gpus[:1]))
    if "cKray" in modes:  # side by side with cK: the same slots as Ray actors
        plan.append((f"c: automl, 1 GPU, K={ks[-1]}, Ray backend",
                     lambda: on_local_ray(len(gpus[:1]), lambda: automl_run(
                         params, data, args.epochs, gpus[:1], ks[-1], tmp, "cray", ray=True)), gpus[:1]))
    if "e" in modes:
        cache = tmp / "xla-cache"

        def cached(tag: str) -> Any:
            os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache)
            os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
            os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
            try:
                return automl_run(params, data, args.epochs, gpus[:1], ks[-1], tmp, tag)
            finally:
                for v in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
                          "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"):
                    os.environ.pop(v, None)

        plan.append((f"e: automl, 1 GPU, K={ks[-1]}, compile cache cold", lambda: cached("e_cold"), gpus[:1]))
        plan.append((f"e: automl, 1 GPU, K={ks[-1]}, compile cache warm", lambda: cached("e_warm"), gpus[:1]))
    # Each in-process baseline runs in a fresh process of its own, so that neither
    # inherits the other's compiled XLA programs.
    for m, label in (("a", "a: plain Optuna loop, 1 GPU"), ("b", "b: KerasTuner RandomSearch, 1 GPU")):
        if m not in modes:
            continue
        if args.inner:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus[0])
            # A hand-written loop runs with JAX's and XLA's defaults: no persistent
            # compilation cache, Triton GEMM autotuning on (automl changes both).
            os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_enable_triton_gemm=true").strip()
            fn = (lambda: plain_optuna(params, data, args.epochs)) if m == "a" else \
                (lambda: kerastuner_random(params, data, args.epochs, tmp))
            plan.append((label, fn, gpus[:1]))
        else:
            plan.append((label, _subprocess_mode(args, m, tmp), gpus[:1]))
    return plan


def measure(label: str, fn: Any, used: list[int], sampler: GpuSampler) -> dict[str, Any]:
    """Run one mode and add its rates, GPU utilisation and the share of trials outside ``fit``."""
    t0 = time.monotonic()
    r: dict[str, Any] = fn()
    t1 = time.monotonic()
    r["trials_per_min"] = round(60 * r["trials"] / r["wall_s"], 2)
    r["gpu_util_mean"] = sampler.mean(t0, t1, used)
    if len(used) > 1:
        r["gpu_util_each"] = {str(g): sampler.mean(t0, t1, [g]) for g in used}
    for field in ("sm_mhz", "power_w", "temp_c"):
        r[f"gpu_{field}_each"] = {str(g): sampler.mean(t0, t1, [g], field) for g in used}
    r["host_cpu_percent"] = sampler.host_cpu(t0, t1)
    out = r.pop("outside_fit")
    r["outside_fit_mean"] = round(statistics.mean(out), 3) if out else None
    long = [o for o, d in zip(out, r.get("trial_seconds", [])) if d >= 20]
    r["outside_fit_mean_trials_20s_plus"] = round(statistics.mean(long), 3) if long else None
    r["trials_20s_plus"] = len(long)
    print(f"{label}: {r['trials']} trials in {r['wall_s']:.1f} s = {r['trials_per_min']} trials/min "
          f"(steady {r.get('steady_trials_per_min')}, first trial at {r.get('first_trial_start_s')} s), "
          f"GPU util {r['gpu_util_mean']}%, host CPU {r['host_cpu_percent']}%, outside fit {r['outside_fit_mean']}, "
          f"epochs (first/later) {r.get('first_epoch_median_s')}/{r.get('later_epoch_median_s')} s, "
          f"coordinator {r.get('coordinator')}, "
          f"per device {r.get('per_device')}", flush=True)
    return r


def warm_cache(args: Any, data: Any, gpus: list[int], ks: list[int], tmp: Path, results: dict[str, Any]) -> Path:
    """``--warm-from N``: N configurations sampled with other seeds (from 10,000 on), run by
    automl on all the GPUs into a cache folder of their own; returns its compilation cache
    (``$AUTOML_CACHE/xla``), which every mode then starts from a copy of."""
    os.environ["AUTOML_CACHE"] = str(tmp / "warm-cache")
    r = automl_run(sample_params(args.warm_from, first_seed=10_000), data, args.epochs, gpus, ks[-1], tmp, "warm")
    files = list((tmp / "warm-cache" / "xla").rglob("*"))
    results["warm_from"] = {"configs": args.warm_from, "wall_s": round(r["wall_s"], 1),
                            "cache_files": sum(f.is_file() for f in files),
                            "autotune_files": sum(f.is_file() and "autotune" in str(f) for f in files)}
    print(f"cache warmed by {args.warm_from} other configurations: {results['warm_from']}", flush=True)
    return tmp / "warm-cache" / "xla"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--k", default="4", help="trials per GPU for (c), several as 4,8; (d) and (e) use the last")
    ap.add_argument("--gpus", default="0")
    ap.add_argument("--modes", default="a,b,c1,cK,d,e")
    ap.add_argument("--out", default="throughput.json")
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every mode this many times, every other round in reverse order")
    ap.add_argument("--reverse", action="store_true",
                    help="run the modes in reverse order (the first round too, with --repeat)")
    ap.add_argument("--fresh-cache", action="store_true",
                    help="give each automl mode an empty AUTOML_CACHE (no compiled programs from another mode)")
    ap.add_argument("--warm-from", type=int, default=0, metavar="N",
                    help="first run N other configurations of the space on all the GPUs (not recorded as a mode), "
                         "then start each automl mode from a copy of the compilation cache they filled: a later "
                         "search of the same space on the same machine (implies --fresh-cache)")
    ap.add_argument("--sampler", choices=["fixed", "tpe"], default="fixed",
                    help="fixed: the same list of configurations in every mode; tpe: every mode searches with "
                         "Optuna's TPE (seed 0) for --configs trials")
    ap.add_argument("--arch-repeat", type=int, default=1, metavar="R",
                    help="each architecture used by R configurations in a row, differing in dropout, learning "
                         "rate and momentum (programs shared, issue 23; mode cKown compiles each trial's own)")
    ap.add_argument("--analyse", nargs="+", metavar="JSON",
                    help="print the fixed costs of the automl modes of saved results, and exit")
    args = ap.parse_args()
    SAMPLER[0] = args.sampler
    if args.analyse:
        analyse(args.analyse)
        return
    os.environ["KERAS_BACKEND"] = BACKEND[0] = args.backend
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    gpus = [int(g) for g in args.gpus.split(",")]
    ks = [int(k) for k in args.k.split(",")]
    from automl.data import load_data

    data = load_data(f"synthetic:32x32x3:10:{args.images}")
    params = sample_params(args.configs, arch_repeat=args.arch_repeat)
    sampler = GpuSampler()
    results: dict[str, Any] = {"configs": args.configs, "epochs": args.epochs, "images": args.images, "k": args.k,
                               "gpus": gpus, "arch_repeat": args.arch_repeat, "sampler": args.sampler, "modes": {}}
    with tempfile.TemporaryDirectory() as tmpd:
        warm = warm_cache(args, data, gpus, ks, Path(tmpd), results) if args.warm_from else None
        for rnd in range(args.repeat):
            tmp = Path(tmpd) / f"round{rnd + 1}"
            tmp.mkdir()
            plan = build_plan(args, params, data, gpus, ks, tmp)
            if (rnd + args.reverse) % 2:  # every other round in reverse order, (e)'s cold-then-warm pair kept last
                plan = [x for x in reversed(plan) if not x[0].startswith("e:")] + \
                    [x for x in plan if x[0].startswith("e:")]
            for n, (label, fn, used) in enumerate(plan):
                if args.repeat > 1:
                    label = f"{label} (round {rnd + 1})"
                if args.fresh_cache or warm:
                    os.environ["AUTOML_CACHE"] = str(tmp / f"cache-{n}")
                    if warm:
                        shutil.copytree(warm, tmp / f"cache-{n}" / "xla")
                r = measure(label, fn, used, sampler)
                results["modes"][label] = r
                Path(args.out).write_text(json.dumps(results, indent=2))
    sampler.close()
    base = next((v for k, v in results["modes"].items() if k.startswith("a:")), None)
    if base:
        for label, r in results["modes"].items():
            r["ratio_vs_a"] = round(r["trials_per_min"] / base["trials_per_min"], 2)
            if r.get("steady_trials_per_min") and base.get("steady_trials_per_min"):
                r["steady_ratio_vs_a"] = round(r["steady_trials_per_min"] / base["steady_trials_per_min"], 2)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
