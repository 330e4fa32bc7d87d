"""How long the commands that read a store take: ``automl studies``, ``trials`` and ``best``,
each a fresh process as a user runs it, against the same reads through Optuna's
``RDBStorage`` (what those commands did before they read Optuna's tables directly), run
side by side, interleaved, on the same store.

    python benchmarks/read_store.py [--studies 3] [--trials 40] [--repeat 7] [--out FILE]

Prints the median wall time of each and their ratio; ``--out`` writes the raw times as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The old path: Optuna's storage (its imports, Alembic's schema check) and Optuna's objects.
_VIA_OPTUNA = """
import sys
from automl._tables import studies_table, trials_table
from automl.storage import best_trial, leaderboard, list_studies, load_study, open_storage
from automl.storage._snapshot import snapshot
import optuna
from rich.console import Console
storage = open_storage(sys.argv[1], must_exist=True)
cmd = sys.argv[2]
out = Console(width=160)
if cmd == "studies":
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    out.print(studies_table(list_studies([snapshot(load_study(storage, n)) for n in names]), "studies"))
elif cmd == "trials":
    out.print(trials_table(leaderboard(load_study(storage, sys.argv[3])), "study"))
else:
    print(best_trial(load_study(storage, sys.argv[3])))
"""


def _fill(url: str, n_studies: int, n_trials: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from automl.storage import open_storage

    storage = open_storage(url)
    for s in range(n_studies):
        study = optuna.create_study(study_name=f"s{s}", storage=storage, direction="maximize")
        study.set_user_attr("automl:objective", "val_accuracy")
        for _ in range(n_trials):
            t = study.ask()
            units = t.suggest_int("units", 16, 256, step=16)
            t.suggest_categorical("activation", ["relu", "tanh", "gelu"])
            lr = t.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
            history = [min(0.99, 0.5 + 0.05 * e + lr) for e in range(8)]
            for e, v in enumerate(history):
                t.report(v, e)
            t.set_user_attr("automl:history", {"val_accuracy": history, "loss": history[::-1]})
            t.set_user_attr("automl:params_count", units * 100)
            study.tell(t, history[-1])


def _time(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=3)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        _fill(url, args.studies, args.trials)
        commands = {"studies": [], "trials": ["s0"], "best": ["s0"]}
        times: dict[str, dict[str, list[float]]] = {c: {"automl": [], "via_optuna": []} for c in commands}
        for r in range(args.repeat):
            for c, rest in commands.items():
                pair = [("automl", [sys.executable, "-m", "automl", c, *rest, "--storage", url]),
                        ("via_optuna", [sys.executable, "-c", _VIA_OPTUNA, url, c, *rest])]
                for mode, cmd in (pair if r % 2 == 0 else pair[::-1]):
                    times[c][mode].append(_time(cmd))
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.node(), "cpus": _cpus(),
              "studies": args.studies, "trials": args.trials, "repeat": args.repeat, "seconds": times}
    print(f"{'command':10} {'automl s':>9} {'via Optuna s':>13} {'ratio':>6}")
    for c, t in times.items():
        a, o = statistics.median(t["automl"]), statistics.median(t["via_optuna"])
        print(f"{c:10} {a:9.3f} {o:13.3f} {o / a:6.2f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
