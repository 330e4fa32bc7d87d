"""Store overhead: what one trial's bookkeeping costs in an SQLite store.

A trial of the search is, for the store, a creation, one report per epoch, a heartbeat and
a result: each its own transaction. This times that sequence (Optuna's ``ask``, a
suggested value, ``report`` for every epoch, ``tell``) on two SQLite files in the same
folder, side by side, alternating rounds:

  baseline: Optuna's ``RDBStorage`` on a WAL file with SQLite's default ``synchronous=FULL``
            (a disk flush at every commit; what automl did before),
  automl:   the storage ``automl.storage.open_storage`` returns (WAL, ``synchronous=NORMAL``).

It prints milliseconds per trial and the ratio. The store's folder is the temporary folder
unless ``--dir`` names another (the disk is what is measured).

``--queue N`` also times taking N trials enqueued beforehand (``study.enqueue_trial``, as
the throughput benchmark does, or a user with a list of configurations), each then told,
on automl's storage, alternating rounds:

  baseline: Optuna's ``study.ask()`` (it loads every WAITING trial to find the first; the
            coordinator did that twice a trial before, for retries and for enqueued trials),
  automl:   ``automl.engines._record.new_trial`` (reads the ids only, starts the trial with
            one conditional UPDATE).

Usage:

  python benchmarks/store_overhead.py --trials 40 --epochs 16 --rounds 3 --queue 400 --out store.json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def baseline_storage(path: Path) -> Any:
    import optuna

    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 30}})


def automl_storage(path: Path) -> Any:
    from automl.storage import open_storage

    return open_storage(f"sqlite:///{path}")


def synchronous(storage: Any) -> int:
    """SQLite's ``synchronous`` setting of a new connection of the storage (1 NORMAL, 2 FULL)."""
    import sqlalchemy as sa

    with storage.engine.connect() as con:
        return int(con.execute(sa.text("PRAGMA synchronous")).scalar())


def time_trials(storage: Any, name: str, trials: int, epochs: int) -> float:
    """Milliseconds per trial of ask, one suggestion, ``epochs`` reports and tell."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    t0 = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        for epoch in range(epochs):
            trial.report(lr * epoch, epoch)
        study.tell(trial, lr)
    return 1000 * (time.perf_counter() - t0) / trials


def time_queue(storage: Any, name: str, trials: int, taker: str) -> float:
    """Milliseconds per trial of taking one of ``trials`` enqueued trials and telling it."""
    import optuna

    from automl.engines._record import new_trial

    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    for i in range(trials):
        study.enqueue_trial({"lr": 10 ** (-4 + 3 * i / trials)})
    t0 = time.perf_counter()
    for _ in range(trials):
        trial = study.ask() if taker == "baseline" else new_trial(study)
        study.tell(trial, trial.suggest_float("lr", 1e-4, 1e-1, log=True))
    ms = 1000 * (time.perf_counter() - t0) / trials
    assert len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) == trials
    return ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (each times both stores)")
    ap.add_argument("--queue", type=int, default=0, help="also time taking this many enqueued trials")
    ap.add_argument("--dir", type=Path, default=None, help="where the SQLite files go (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="automl-store-", dir=args.dir))
    stores = {"baseline": baseline_storage(folder / "baseline.db"), "automl": automl_storage(folder / "automl.db")}
    settings = {k: synchronous(s) for k, s in stores.items()}
    times: dict[str, list[float]] = {k: [] for k in stores}
    for r in range(args.rounds):
        order = list(stores) if r % 2 == 0 else list(reversed(stores))
        for k in order:
            times[k].append(time_trials(stores[k], f"round{r}", args.trials, args.epochs))
    result = {"trials": args.trials, "epochs": args.epochs, "rounds": args.rounds, "folder": str(folder),
              "synchronous": settings, "ms_per_trial": times,
              "median_ms_per_trial": {k: round(statistics.median(v), 1) for k, v in times.items()}}
    med = result["median_ms_per_trial"]
    result["automl_over_baseline"] = round(med["automl"] / med["baseline"], 3)
    for k in stores:
        print(f"{k}: synchronous={settings[k]}, {med[k]} ms a trial (rounds: "
              f"{', '.join(f'{t:.1f}' for t in times[k])})")
    print(f"automl / baseline: {result['automl_over_baseline']}")
    if args.queue:
        queue: dict[str, list[float]] = {"baseline": [], "automl": []}
        for r in range(args.rounds):
            for k in (list(queue) if r % 2 == 0 else list(reversed(queue))):
                queue[k].append(time_queue(stores["automl"], f"queue-{k}{r}", args.queue, k))
        qmed = {k: round(statistics.median(v), 1) for k, v in queue.items()}
        result["queue"] = {"enqueued": args.queue, "ms_per_trial": queue, "median_ms_per_trial": qmed,
                           "automl_over_baseline": round(qmed["automl"] / qmed["baseline"], 3)}
        for k, v in queue.items():
            print(f"{args.queue} enqueued, {k}: {qmed[k]} ms a trial (rounds: {', '.join(f'{t:.1f}' for t in v)})")
        print(f"enqueued trials, automl / baseline: {result['queue']['automl_over_baseline']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
