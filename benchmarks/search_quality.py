"""Search-quality benchmark on MNIST-1D (generated offline), the Conv1D space by default.

For each engine / algorithm / pruner and seed: the best validation accuracy, the test
accuracy of that trial's kept model (the 1,000 test signals the search never sees), and the
epochs trained in all against the budget (trials × epochs of the unpruned searches).
Reference (Greydanus 2020, default 4,000/1,000 split): MLP 68 %, GRU 91 %, hand-designed CNN 94 %.

Every (variant, seed) is one search in a process of its own, run ``--jobs`` at a time and
spread over ``--gpus`` (one sequential worker each, so that the algorithms see every result
before they propose the next trial, as in a one-worker search).

  python benchmarks/search_quality.py --trials 20 --epochs 40 --seeds 0,1,2 --jobs 8 --out quality.json
  KERAS_BACKEND=jax python benchmarks/search_quality.py --gpus 0,1 --jobs 24 ...   # on GPUs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# "trials": how many trials the variant gets, as a multiple of --trials. KerasTuner's
# Hyperband counts every bracket rung as a trial (most of them 2-5 epochs long): with
# --trials alone it never leaves its first bracket, so it gets three times as many.
VARIANTS: dict[str, dict[str, Any]] = {
    "optuna-random": {"engine": "optuna", "sampler": "random", "pruner": "none"},
    "optuna-tpe": {"engine": "optuna", "sampler": "tpe", "pruner": "none"},
    "optuna-cmaes": {"engine": "optuna", "sampler": "cmaes", "pruner": "none"},
    "optuna-tpe-median": {"engine": "optuna", "sampler": "tpe", "pruner": "median", "baseline": "optuna-tpe"},
    "optuna-tpe-sha": {"engine": "optuna", "sampler": "tpe", "pruner": "sha", "baseline": "optuna-tpe"},
    "optuna-tpe-hyperband": {"engine": "optuna", "sampler": "tpe", "pruner": "hyperband",
                             "baseline": "optuna-tpe"},
    "kerastuner-random": {"engine": "kerastuner", "algorithm": "random"},
    "kerastuner-bayesian": {"engine": "kerastuner", "algorithm": "bayesian"},
    "kerastuner-hyperband": {"engine": "kerastuner", "algorithm": "hyperband", "trials": 3,
                             "baseline": "kerastuner-random"},
}


def run_one(variant: str, seed: int, trials: int, epochs: int, gpu: str, folder: Path,
            timeout: float | None = None, n: int | None = None, space: str = "mnist1d-conv1d") -> dict[str, Any]:
    """One search, in this process; its row of results."""
    import optuna

    import automl
    from automl._export import evaluate_model
    from automl.engines._record import epochs_of

    settings = {k: v for k, v in VARIANTS[variant].items() if k not in ("baseline", "trials")}
    n = n or trials * int(VARIANTS[variant].get("trials", 1))
    url = f"sqlite:///{folder / f'{variant}-{seed}.db'}"
    placement = {"gpus": gpu, "trials_per_gpu": 1} if gpu != "none" else {"gpus": "none", "workers": 1}
    t0 = time.monotonic()
    r = automl.search(space, "mnist1d", n_trials=n, storage=url, study_name="q", seed=seed,
                      epochs=epochs, timeout=timeout, **placement, **settings)
    wall = time.monotonic() - t0
    study = optuna.load_study(study_name="q", storage=url)
    trained = sum(epochs_of(t) for t in study.trials)
    test = evaluate_model(study, url, None)
    return {"space": space, "variant": variant, "seed": seed, "trials": len(study.trials),
            "best_val_accuracy": r.best_value,
            "best_trial": r.best.number if r.best else None, "test_accuracy": test["accuracy"],
            "epochs_trained": trained, "pruned": r.count("PRUNED"), "failed": r.count("FAIL"),
            "trials_asked": n, "wall_s": round(wall, 1)}


def summarize(rows: list[dict[str, Any]], trials: int, epochs: int) -> list[dict[str, Any]]:
    """Per variant: means over seeds, and each pruned variant against its unpruned baseline."""
    budget = trials * epochs
    out = []
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    for variant, rs in by_variant.items():
        s = {"variant": variant, "seeds": sorted(r["seed"] for r in rs),
             "best_val_accuracy": round(statistics.mean(r["best_val_accuracy"] for r in rs), 4),
             "test_accuracy": round(statistics.mean(r["test_accuracy"] for r in rs), 4),
             "test_accuracy_max": round(max(r["test_accuracy"] for r in rs), 4),
             "epochs_trained": round(statistics.mean(r["epochs_trained"] for r in rs), 1),
             "epochs_share_of_unpruned_budget": round(statistics.mean(r["epochs_trained"] for r in rs) / budget, 3),
             "trials": rs[0]["trials"], "wall_s": round(statistics.mean(r["wall_s"] for r in rs), 1)}
        base = VARIANTS.get(variant, {}).get("baseline")
        if base in by_variant:
            b = by_variant[base]
            s["baseline"] = base
            s["val_vs_baseline_pt"] = round(100 * (s["best_val_accuracy"] - statistics.mean(
                r["best_val_accuracy"] for r in b)), 2)
            s["test_vs_baseline_pt"] = round(100 * (s["test_accuracy"] - statistics.mean(
                r["test_accuracy"] for r in b)), 2)
            s["epochs_vs_baseline"] = round(s["epochs_trained"] / statistics.mean(r["epochs_trained"] for r in b), 3)
        out.append(s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--gpus", default="none", help="GPU indices to spread the searches over, or none (CPU)")
    ap.add_argument("--jobs", type=int, default=1, help="searches at once")
    ap.add_argument("--out", default="quality.json")
    ap.add_argument("--search-timeout", type=float, default=None,
                    help="seconds after which each search starts no new trial (its row says how many ran)")
    ap.add_argument("--variant-trials", default="",
                    help="trials for some variants instead, as optuna-tpe-median=40,optuna-tpe-hyperband=24")
    ap.add_argument("--inner", nargs=3, metavar=("VARIANT", "SEED", "GPU"), help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--space", default="mnist1d-conv1d", help="a bundled MNIST-1D space (mnist1d-gru, ...)")
    args = ap.parse_args()
    overrides = {k: int(v) for k, v in (item.split("=") for item in args.variant_trials.split(",") if item)}
    if args.inner:
        variant, seed, gpu = args.inner
        row = run_one(variant, int(seed), args.trials, args.epochs, gpu, Path(args.folder), args.search_timeout,
                      overrides.get(variant), args.space)
        Path(args.out).write_text(json.dumps(row))
        return
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    jobs = [(v, int(s)) for s in args.seeds.split(",") for v in args.variants.split(",")]
    gpus = args.gpus.split(",")
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {"space": args.space, "trials": args.trials, "epochs": args.epochs, "rows": rows}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        os.environ.setdefault("AUTOML_CACHE", str(folder / "cache"))
        running: list[tuple[Any, Path, str]] = []
        pending = list(enumerate(jobs))
        while pending or running:
            while pending and len(running) < args.jobs:
                i, (variant, seed) = pending.pop(0)
                gpu = gpus[i % len(gpus)]
                out = folder / f"row-{i}.json"
                env = dict(os.environ)
                if gpu != "none":
                    env["CUDA_VISIBLE_DEVICES"] = gpu
                log = open(folder / f"log-{i}.txt", "w")  # noqa: SIM115 - closed with the process
                p = subprocess.Popen([sys.executable, __file__, "--inner", variant, str(seed), gpu, "--folder", d,
                                      "--trials", str(args.trials), "--epochs", str(args.epochs), "--out", str(out),
                                      "--space", args.space]
                                     + (["--search-timeout", str(args.search_timeout)] if args.search_timeout else [])
                                     + (["--variant-trials", args.variant_trials] if args.variant_trials else []),
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
                running.append((p, out, f"{variant} seed {seed}"))
            time.sleep(1)
            for item in list(running):
                p, out, label = item
                if p.poll() is None:
                    continue
                running.remove(item)
                if p.returncode == 0 and out.is_file():
                    rows.append(json.loads(out.read_text()))
                    print(json.dumps(rows[-1]), flush=True)
                else:
                    log_text = (folder / f"log-{out.stem.split('-')[1]}.txt").read_text()
                    print(f"{label} failed (exit {p.returncode}):\n{log_text[-3000:]}", flush=True)
                results["summary"] = summarize(rows, args.trials, args.epochs)
                Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results.get("summary", []), indent=2))


if __name__ == "__main__":
    main()
