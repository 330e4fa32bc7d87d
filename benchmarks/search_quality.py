"""Search-quality benchmark on MNIST-1D (generated offline) with the Conv1D space.

For each engine / algorithm / pruner and seed: the best validation accuracy, the test
accuracy of that trial's kept model (the 1,000 test signals the search never sees), and the
epochs trained in all. Reference (Greydanus 2020, default 4,000/1,000 split): MLP 68 %,
hand-designed CNN 94 %.

  python benchmarks/search_quality.py --trials 20 --epochs 20 --seeds 0,1 --out quality.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "optuna-tpe": {"engine": "optuna", "sampler": "tpe", "pruner": "none"},
    "optuna-tpe-median": {"engine": "optuna", "sampler": "tpe", "pruner": "median"},
    "optuna-tpe-hyperband": {"engine": "optuna", "sampler": "tpe", "pruner": "hyperband"},
    "kerastuner-random": {"engine": "kerastuner", "algorithm": "random"},
    "kerastuner-hyperband": {"engine": "kerastuner", "algorithm": "hyperband"},
}


def run(variant: str, seed: int, trials: int, epochs: int, workers: int, tmp: Path) -> dict[str, Any]:
    import optuna

    import automl
    from automl._export import evaluate_model

    url = f"sqlite:///{tmp / f'{variant}-{seed}.db'}"
    t0 = time.monotonic()
    r = automl.search("mnist1d-conv1d", "mnist1d", n_trials=trials, storage=url, study_name="q", seed=seed,
                      epochs=epochs, workers=workers, **VARIANTS[variant])
    wall = time.monotonic() - t0
    study = optuna.load_study(study_name="q", storage=url)
    trained = sum(len((t.user_attrs.get("automl:history") or {}).get("loss", [])) for t in study.trials)
    test = evaluate_model(study, url, None)
    return {"variant": variant, "seed": seed, "trials": len(study.trials), "best_val_accuracy": r.best_value,
            "test_accuracy": test["accuracy"], "epochs_trained": trained, "epochs_budget": trials * epochs,
            "pruned": r.count("PRUNED"), "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="quality.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("AUTOML_CACHE", str(Path(d) / "cache"))
        for variant in args.variants.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = run(variant, seed, args.trials, args.epochs, args.workers, Path(d))
                rows.append(row)
                print(json.dumps(row), flush=True)
                Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
