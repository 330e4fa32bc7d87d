"""Before and after: the CPU demo search and ``store_overhead.py`` from two source trees.

A change to the coordinator (its loop, its engines, its store) must not slow a search
down. This runs the same thing from two trees of automl side by side on one machine, in
alternating rounds, so that both see the same load:

  demo:   ``automl search demo --trials N --seed 0 --gpus none --workers W`` into a fresh
          SQLite file; trials a minute from the store's own times (first trial's start to
          the last one's end) and the command's wall time, for each ``--workers`` given
          (1: the in-process loop; more: the process pool);
  store:  each tree's own ``benchmarks/store_overhead.py`` (milliseconds of bookkeeping a
          trial, beside plain Optuna on the same disk as an anchor).

Make the old tree with ``git archive`` (plain files, no checkout needed)::

  mkdir .bench_old && git archive e0e8025 | tar -x -C .bench_old
  python benchmarks/before_after.py --old .bench_old --new . --rounds 2 --workers 1,4 \\
      --out benchmarks/results/before-after.json

Anything after ``--`` goes to both searches (``-- --backend jax``). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any


def run_demo(tree: Path, db: Path, trials: int, workers: int, extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "automl", "search", "demo", "--trials", str(trials), "--seed", "0",
           "--gpus", "none", "--workers", str(workers), "--storage", f"sqlite:///{db}", *extra]
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=db.parent, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT t.datetime_start, t.datetime_complete, v.value FROM trials t "
                           "JOIN trial_values v ON v.trial_id = t.trial_id WHERE t.state = 'COMPLETE'").fetchall()
    starts = [datetime.fromisoformat(r[0]) for r in rows]
    ends = [datetime.fromisoformat(r[1]) for r in rows]
    span = (max(ends) - min(starts)).total_seconds()
    return {"complete": len(rows), "span_s": round(span, 2), "wall_s": round(wall, 2),
            "trials_per_min": round(60 * len(rows) / span, 2), "best": max(r[2] for r in rows)}


def run_store(tree: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    script = tree / "benchmarks" / "store_overhead.py"
    cmd = [sys.executable, str(script), "--trials", str(args.store_trials), "--epochs", "16", "--rounds", "3",
           "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{script} exited {done.returncode}:\n{done.stderr[-3000:]}")
    r = json.loads(out.read_text())
    return {"automl_ms": r["median_ms_per_trial"]["automl"], "optuna_ms": r["median_ms_per_trial"]["baseline"],
            "automl_over_optuna": r["automl_over_baseline"]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="the tree before the change")
    ap.add_argument("--new", type=Path, required=True, help="the tree after it")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--workers", default="1", help="comma-separated worker counts, each a demo run")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (each runs both trees)")
    ap.add_argument("--store-trials", type=int, default=40, help="trials a store_overhead.py run times")
    ap.add_argument("--no-store", action="store_true", help="skip store_overhead.py")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    trees = {"old": args.old, "new": args.new}
    folder = Path(tempfile.mkdtemp(prefix="automl-before-after-"))
    demo: dict[str, dict[str, list[dict[str, Any]]]] = {w: {k: [] for k in trees} for w in args.workers.split(",")}
    store: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for w, runs in demo.items():
            for k in order:
                res = run_demo(trees[k], folder / f"{k}-w{w}-r{r}.db", args.trials, int(w), extra)
                runs[k].append(res)
                print(f"round {r} workers {w} {k}: {res}", flush=True)
        if not args.no_store:
            for k in order:
                store[k].append(run_store(trees[k], folder / f"store-{k}-r{r}.json", args))
                print(f"round {r} store {k}: {store[k][-1]}", flush=True)
    summary: dict[str, Any] = {"demo": {}, "store": {}}
    for w, runs in demo.items():
        med = {k: statistics.median(x["trials_per_min"] for x in v) for k, v in runs.items()}
        summary["demo"][f"workers={w}"] = {"trials_per_min": med, "new_over_old": round(med["new"] / med["old"], 3)}
    if not args.no_store:
        ms = {k: statistics.median(x["automl_ms"] for x in v) for k, v in store.items()}
        anchor = {k: statistics.median(x["automl_over_optuna"] for x in v) for k, v in store.items()}
        summary["store"] = {"automl_ms_per_trial": ms, "new_over_old": round(ms["new"] / ms["old"], 3),
                            "automl_over_plain_optuna": anchor}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "extra": extra,
                                        "demo": demo, "store": store, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
