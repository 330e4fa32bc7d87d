"""``automl.search``: validate everything, open the store, run the loop, report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from automl._logging import get_logger
from automl.data import Dataset, DataSpec, data_from_description, load_data
from automl.engines._base import ATTR, Engine
from automl.errors import DataError, StudyConflictError, UsageError
from automl.runner import InProcessExecutor, SearchObserver, run_loop
from automl.runner._heartbeat import Heartbeat
from automl.runner._pool import PoolSettings, run_parallel
from automl.runner._slots import plan_slots
from automl.space import AnySpace, SearchSpace, Space, resolve_space, space_from_definition
from automl.storage import TrialRow, best_trial, leaderboard, open_storage, pareto_front, redact, resolve_url
from automl.storage._study import prepare_study

__all__ = ["search", "SearchResult", "ENGINES", "prepare"]

ENGINES = ("optuna", "kerastuner")
_log = get_logger()


@dataclass
class SearchResult:
    """What a search left in the store: the best trial and the leaderboard."""

    study_name: str
    storage: str
    direction: str
    best: TrialRow | None
    leaderboard: list[TrialRow] = field(default_factory=list)
    ran: int = 0
    pareto: list[TrialRow] = field(default_factory=list)  # several objectives: the non-dominated trials

    @property
    def best_params(self) -> dict[str, Any] | None:
        return self.best.params if self.best else None

    @property
    def best_value(self) -> float | None:
        return self.best.value if self.best else None

    def count(self, state: str) -> int:
        return sum(1 for r in self.leaderboard if r.state == state)


@dataclass
class Prepared:
    space: SearchSpace
    data: Dataset


def _check_compatible(space: SearchSpace, data: Dataset) -> None:
    want = getattr(space, "input_shape", None)
    if want is not None and tuple(want) != data.input_shape:
        raise DataError(f"the data's samples have shape {data.input_shape} but the space {space.name!r} "
                        f"expects input_shape {tuple(want)}")
    space.check_data(data.input_shape, data.num_classes)


def prepare(space: AnySpace, data: DataSpec, *, epochs: int | None = None, batch_size: int | None = None,
            objective: str | None = None, direction: str | None = None, val_split: float = 0.2,
            test_split: float = 0.0, data_seed: int = 0, label_column: str | None = None) -> Prepared:
    """Validate the space and the data and check that they fit together. Writes nothing."""
    resolved = resolve_space(space, epochs=epochs, batch_size=batch_size, objective=objective,
                             direction=direction)
    ds = load_data(data, val_split=val_split, test_split=test_split, seed=data_seed, label_column=label_column,
                   num_classes=getattr(resolved, "num_classes", None))
    _check_compatible(resolved, ds)
    return Prepared(resolved, ds)


def _check_args(n_trials: int, timeout: float | None, engine: str) -> None:
    if not isinstance(n_trials, int) or n_trials < 1:
        raise UsageError(f"the number of trials must be a positive integer (got {n_trials!r})")
    if timeout is not None and (not math.isfinite(timeout) or timeout <= 0):
        raise UsageError(f"timeout must be a positive number of seconds (got {timeout!r})")
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _stored_space_and_data(storage: Any, study_name: str) -> tuple[SearchSpace, Dataset]:
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise UsageError(f"no study {study_name!r} in the store to continue; give a SPACE to start one") from None
    definition = study.user_attrs.get(f"{ATTR}space")
    desc = study.user_attrs.get(f"{ATTR}data")
    if definition is None or desc is None:
        raise UsageError(f"study {study_name!r} was not made by automl; give a SPACE and --data")
    space = space_from_definition(definition)
    return space, data_from_description(desc)


def search(space: AnySpace | None = None, data: DataSpec | None = None, *, engine: str = "optuna",
           n_trials: int = 20, timeout: float | None = None, sampler: str = "tpe", pruner: str = "none",
           algorithm: str | None = None, seed: int | None = None, storage: str | None = None,
           study_name: str | None = None, epochs: int | None = None, batch_size: int | None = None,
           objective: str | None = None, direction: str | None = None, val_split: float = 0.2,
           test_split: float = 0.0, data_seed: int = 0, label_column: str | None = None,
           backend: str | None = None, observer: SearchObserver | None = None, gpus: str = "auto",
           trials_per_gpu: int | str = "auto", workers: int | None = None, retries: int = 1,
           trial_timeout: float | None = None, heartbeat_s: float = 10.0, keep_weights: bool = True) -> SearchResult:
    """Search ``space`` on ``data`` until the study holds ``n_trials`` finished trials.

    ``space``: a YAML path, a catalog name (``demo``), ``FILE.py:FUNCTION``, a dict, a
    :class:`~automl.space.Space` or a ``build_model(hp)`` callable. ``data``: a built-in
    name (default ``digits``), a ``.npz``/``.csv`` path, ``(x, y)`` or a Dataset.
    With ``space=None`` the study named ``study_name`` is continued from what the store
    holds. ``gpus`` (``auto``, ``none``, ``"0,1"``), ``trials_per_gpu`` and ``workers`` set
    the device slots: one CPU slot runs trials in this process, anything more runs one
    worker process per slot. ``n_trials`` is a global budget counted in the store, shared
    by every process working on the study. With ``keep_weights`` every finished trial's
    weights are saved under ``$AUTOML_CACHE/checkpoints/`` so ``automl export`` needs no
    retraining. Everything is validated before the store is opened: bad input raises a
    :class:`~automl.errors.UsageError` and writes nothing.

    Example::

        result = automl.search("demo", "digits", n_trials=10, storage="sqlite:///demo.db")
        print(result.best_value, result.best_params)
    """
    _check_args(n_trials, timeout, engine)
    if retries < 0 or (trial_timeout is not None and trial_timeout <= 0) or heartbeat_s <= 0:
        raise UsageError("retries must be >= 0, and the trial timeout and heartbeat positive")
    slots = plan_slots(gpus, trials_per_gpu, workers)
    url = resolve_url(storage)
    if space is None:
        if not study_name:
            raise UsageError("give a search space, or the --study to continue")
        store = open_storage(url, must_exist=True)
        resolved, ds = _stored_space_and_data(store, study_name)
        if data is not None:
            ds = load_data(data, val_split=val_split, test_split=test_split, seed=data_seed,
                           label_column=label_column, num_classes=getattr(resolved, "num_classes", None))
        _check_compatible(resolved, ds)
    else:
        prep = prepare(space, "digits" if data is None else data, epochs=epochs, batch_size=batch_size,
                       objective=objective, direction=direction, val_split=val_split, test_split=test_split,
                       data_seed=data_seed, label_column=label_column)
        resolved, ds = prep.space, prep.data
    in_process = len(slots) == 1 and slots[0].gpu is None and trial_timeout is None
    eng = make_engine(engine, resolved, ds, url=url, study_name=study_name or resolved.name, sampler=sampler,
                      pruner=pruner, algorithm=algorithm, seed=seed, n_trials=n_trials,
                      backend=backend if in_process or engine == "kerastuner" else None, retries=retries,
                      heartbeat_s=heartbeat_s, keep_weights=keep_weights)
    study = eng.study  # type: ignore[attr-defined]
    _log.info("study %s in %s: %d trials requested, %d finished already, on %s", study.study_name,
              redact(url), n_trials, eng.finished(), ", ".join(s.device for s in slots))
    beat = Heartbeat(eng.storage, heartbeat_s, on_beat=eng.beat)  # type: ignore[attr-defined]
    try:
        if in_process:
            executor = InProcessExecutor(resolved, ds, backend=backend, seed=seed or 0)
            ran = run_loop(eng, executor, n_trials=n_trials, timeout=timeout, observer=observer, heartbeat=beat)
        else:
            settings = PoolSettings(backend=backend, seed=seed or 0, trial_timeout=trial_timeout)
            ran = run_parallel(eng, slots, resolved, ds, n_trials=n_trials, timeout=timeout, observer=observer,
                               heartbeat=beat, settings=settings)
    finally:
        beat.close()
        eng.close()
    return SearchResult(study.study_name, redact(url), resolved.objective.direction, best_trial(study),
                        leaderboard(study), ran, pareto_front(study))


def make_engine(engine: str, space: SearchSpace, data: Dataset, *, url: str, study_name: str, sampler: str,
                pruner: str, algorithm: str | None, seed: int | None, n_trials: int,
                backend: str | None = None, retries: int = 1, heartbeat_s: float = 10.0,
                keep_weights: bool = True) -> Engine:
    """Validate the engine's settings, then open the store and the study (the first write)."""
    from automl._paths import checkpoint_dir

    obj = space.objective
    objectives = space.objectives
    if len(objectives) > 1:
        if engine != "optuna":
            raise UsageError("several objectives need the Optuna engine (KerasTuner's Oracles optimize one)")
        if pruner != "none":
            raise UsageError("pruning needs a single objective: Optuna does not prune multi-objective studies")
        if (algorithm or sampler) in ("cmaes", "qmc"):
            raise UsageError(f"sampler {algorithm or sampler} does not handle several objectives; use tpe, random, "
                             f"nsga2 or gp")
    epochs = int(space.training.epochs if isinstance(space, Space) else space.epochs)
    common: dict[str, Any] = {"fingerprint": space.fingerprint, "definition": space.definition, "data": data.describe(),
              "direction": ",".join(o.direction for o in objectives),
              "objective": ",".join(o.metric for o in objectives), "engine": engine}
    if engine == "optuna":
        from automl.engines._optuna import OptunaEngine, make_pruner, make_sampler, retry_failed

        sampler = algorithm or sampler
        opt_sampler, opt_pruner = make_sampler(sampler, seed), make_pruner(pruner, epochs)

        def on_stale(study: Any, trial: Any) -> None:
            # A trial whose process stopped beating: failed by Optuna, retried here.
            if retry_failed(study, trial.number, retries):
                _log.warning("trial %d was left running by a process that stopped; retrying it", trial.number)

        storage = open_storage(url, heartbeat_s=heartbeat_s, failed_trial_callback=on_stale)
        study = prepare_study(storage, study_name, **common,
                              settings={"algorithm": sampler, "sampler": sampler, "pruner": pruner, "seed": seed},
                              sampler=opt_sampler, pruner=opt_pruner)
        eng: Engine = OptunaEngine(study, space, objective=obj.metric, max_retries=retries,
                                   checkpoints=checkpoint_dir(url, study_name) if keep_weights else None)
        return _with_budget(eng, storage, study, n_trials)

    from automl.model import import_keras

    algorithm = algorithm or "random"
    if pruner != "none":
        raise UsageError("--pruner is an Optuna setting; with KerasTuner use --algorithm hyperband")
    import_keras(backend)  # keras_tuner imports Keras: the backend must be chosen first
    from automl.engines._kerastuner import KerasTunerEngine, _replay_sampler, make_oracle

    oracle = make_oracle(algorithm, objective=obj.metric, direction=obj.direction, n_trials=n_trials,
                         max_epochs=epochs, seed=seed)
    replay: dict[str, Any] = {}
    storage = open_storage(url, heartbeat_s=heartbeat_s)
    study = prepare_study(storage, study_name, **common,
                          settings={"algorithm": algorithm, "sampler": f"kerastuner.{algorithm}", "pruner": "none",
                                    "seed": seed},
                          sampler=_replay_sampler(replay))
    old = study.user_attrs.get(f"{ATTR}algorithm")
    if old is not None and old != algorithm:
        raise StudyConflictError(f"study {study_name!r} was run with algorithm {old!r}, not {algorithm!r}; "
                                 f"use another --study name")
    checkpoints = checkpoint_dir(url, study_name) if algorithm == "hyperband" or keep_weights else None
    kt_engine = KerasTunerEngine(storage, study, space, oracle, replay, algorithm=algorithm, objective=obj.metric,
                                 n_trials=n_trials, checkpoints=checkpoints, max_retries=retries)
    return _with_budget(kt_engine, storage, study, n_trials)


def _with_budget(engine: Engine, storage: Any, study: Any, n_trials: int) -> Engine:
    from automl.engines._record import finished_count, pending_count
    from automl.storage._budget import Budget

    engine.storage = storage  # type: ignore[attr-defined]
    engine.budget = Budget(storage.engine, study.study_name)
    engine.budget.ensure(finished_count(study) + pending_count(study))
    study.set_user_attr(f"{ATTR}n_trials", n_trials)
    return engine
