"""The KerasTuner engine: KerasTuner's own Oracles decide, the store records.

No ``Tuner`` and no project folder: an Oracle is driven through ask/tell directly.
Its file writes are turned off; its state (``Oracle.get_state()``) and each trial's
state (``Trial.get_state()``) are kept in the SQL store as system attributes
``automl:kt_state`` (study) and ``automl:kt_trial`` (trial), so a search resumes from the
store alone.

Every KerasTuner trial is mirrored, as it runs, by an Optuna trial of the same study:
the values KerasTuner chose are suggested to it through a sampler that only replays
them, so params carry Optuna distributions and the dashboard shows the study as usual.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator, Sequence
from typing import Any

from automl._logging import get_logger
from automl._keys import ATTR, attr
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.engines._draw import draw
from automl.engines._record import (finish_trial, finished_count, new_trial, pending_count, plain, set_state,
                                    set_study_state, state_of, study_state)
from automl.engines._registry import BuildRequest, EngineOptions, engine_kind
from automl.errors import AutomlError, StudyConflictError, UsageError
from automl.space import HP, SearchSpace
from automl.storage._artifacts import TrialWeights
from automl.storage._lease import Lease
from automl.storage._optuna_private import study_id, trial_id
from automl.storage._stale import grace_seconds, heartbeats_on, live_running

__all__ = ["KerasTunerEngine", "KerasTunerHP", "ALGORITHMS", "make_oracle", "EngineError", "KIND", "check",
           "build", "from_study"]

KIND = engine_kind("kerastuner")  # declared in automl/engines/_registry.py (light, for the command line)
ALGORITHMS = KIND.algorithms
_TUNER_ID = "automl"
_log = get_logger("engines.kerastuner")


class EngineError(AutomlError):
    """The engine stopped the search (KerasTuner raised one of its fatal errors)."""


class KerasTunerHP(HP):
    """The ``hp`` protocol over ``keras_tuner.HyperParameters``."""

    def __init__(self, hps: Any) -> None:
        self.hps = hps
        # A name drawn again in one build is not registered again: under another condition it
        # would be a second entry of that name, and KerasTuner drops the name's one value
        # whenever any of its entries is inactive (HyperParameters.ensure_active_values).
        self._drawn: dict[str, Any] = {}

    def _once(self, name: str, draw: Any) -> Any:
        if name not in self._drawn:
            self._drawn[name] = draw()
        return self._drawn[name]

    def int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._once(name, lambda: self.hps.Int(name, low, high, step=None if log else step,
                                                     sampling="log" if log else "linear"))

    def float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        return self._once(name, lambda: self.hps.Float(name, low, high, step=step,
                                                       sampling="log" if log else "linear"))

    def choice(self, name: str, values: Sequence[Any]) -> Any:
        if all(isinstance(v, bool) for v in values):
            return bool(self._once(name, lambda: self.hps.Boolean(name)))
        return self._once(name, lambda: self.hps.Choice(name, list(values)))

    @contextlib.contextmanager
    def conditional(self, parent: str, values: Sequence[Any]) -> Iterator[None]:
        with self.hps.conditional_scope(parent, list(values)):
            yield


class _TeeHP(HP):
    """Takes each value from KerasTuner and records it on the Optuna trial with its distribution."""

    def __init__(self, kt: KerasTunerHP, trial: Any, replay: dict[str, Any]) -> None:
        self.kt, self.trial, self.replay = kt, trial, replay

    def int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.replay[name] = self.kt.int(name, low, high, step=step, log=log)
        return int(self.trial.suggest_int(name, low, high, step=step, log=log))

    def float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        self.replay[name] = self.kt.float(name, low, high, step=step, log=log)
        return float(self.trial.suggest_float(name, low, high, step=step, log=log))

    def choice(self, name: str, values: Sequence[Any]) -> Any:
        self.replay[name] = self.kt.choice(name, values)
        return self.trial.suggest_categorical(name, list(values))

    def conditional(self, parent: str, values: Sequence[Any]) -> Any:
        return self.kt.conditional(parent, values)


def _replay_sampler(values: dict[str, Any]) -> Any:
    import optuna

    class ReplaySampler(optuna.samplers.BaseSampler):
        """Answers every suggestion with the value KerasTuner already chose."""

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {}

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            return {}

        def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
            return values[param_name]

    return ReplaySampler()


def make_oracle(algorithm: str, *, objective: str, direction: str, n_trials: int, max_epochs: int,
                seed: int | None) -> Any:
    """A KerasTuner Oracle whose file writes are off (the store keeps its state)."""
    import keras_tuner as kt

    classes = {"random": kt.oracles.RandomSearchOracle, "bayesian": kt.oracles.BayesianOptimizationOracle,
               "hyperband": kt.oracles.HyperbandOracle, "grid": kt.oracles.GridSearchOracle}
    if algorithm not in classes:
        raise UsageError(f"unknown KerasTuner algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    stored = type(f"Stored{classes[algorithm].__name__}", (classes[algorithm],),
                  {"save": lambda self: None, "_save_trial": lambda self, trial: None})
    obj = kt.Objective(objective, direction="max" if direction == "maximize" else "min")
    # Like the Optuna engine, a run of failed trials does not end the search.
    common = {"objective": obj, "seed": seed, "max_consecutive_failed_trials": None}
    if algorithm == "hyperband":
        # Enough Hyperband iterations that the trial budget, not Hyperband, ends the search.
        oracle = stored(max_epochs=max(max_epochs, 1), factor=3, hyperband_iterations=max(n_trials, 1), **common)
    else:
        oracle = stored(max_trials=n_trials, **common)
    oracle.verbose = 0
    return oracle


class KerasTunerEngine(Engine):
    """Ask/tell over a KerasTuner Oracle, mirrored into an Optuna study."""

    name = "kerastuner"

    def __init__(self, storage: Any, study: Any, space: SearchSpace, oracle: Any, replay: dict[str, Any], *,
                 algorithm: str, objective: str, n_trials: int, weights: TrialWeights | None,
                 max_retries: int = 1) -> None:
        self.storage, self.study, self.space, self.oracle, self.replay = storage, study, space, oracle, replay
        self.algorithm, self.objective, self.weights = algorithm, objective, weights
        # KerasTuner retries a trial ended INVALID (tell marks only retryable failures so).
        oracle.max_retries_per_trial = max_retries
        self._kt_to_number: dict[str, int] = {}
        self._kt_trials: dict[int, Any] = {}
        self._asked = 0
        self._owed_releases = 0
        self._replaces: list[int] = []  # trials of a dead run that new trials replace
        self._recount_budget = False
        self.lease = self._take_lease()
        try:
            self._restore(n_trials)
        except BaseException:
            self.close()
            raise

    def _take_lease(self) -> Lease | None:
        """A KerasTuner study takes one coordinator at a time (its Oracle lives in that
        process): hold the study's lease while this engine runs it, or stop, changing nothing."""
        if not heartbeats_on(self.storage):
            return None
        grace = grace_seconds(self.storage)
        lease = Lease(self.storage.engine, self.study.study_name, ttl=grace)
        holder = lease.acquire()
        if holder is not None:
            raise StudyConflictError(
                f"KerasTuner study {self.study.study_name!r} is being run by another process ({holder.owner}, "
                f"last heard from {holder.age:.0f} s ago). A KerasTuner study takes one process at a time (its "
                f"Oracle lives there); to share a study between processes or hosts use --engine optuna. If that "
                f"process is dead, run this again in {max(1, math.ceil(grace - holder.age))} s.")
        return lease

    def beat(self) -> None:
        if self.lease is not None:
            self.lease.renew()

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()

    def _restore(self, n_trials: int) -> None:
        import keras_tuner as kt
        import optuna

        oracle = self.oracle
        state = study_state(self.study, "kt_state")
        trials = self.study.get_trials(deepcopy=False)
        if trials:
            if self.lease is None or self.lease.replaced is None:
                # No dead holder's lease was taken over: trials that still beat may belong
                # to a process that ran without one.
                self._refuse_if_running_elsewhere()
            # Units a dead run claimed without making a trial (killed between the two) go
            # back: one process runs a KerasTuner study, so the store's trials are all of them.
            self._recount_budget = True
        if state is None:
            hps = kt.HyperParameters()
            try:
                self.space.declare(KerasTunerHP(hps))
            except Exception as e:  # noqa: BLE001 - user code; each trial will record its own failure
                _log.warning("declaring the space to KerasTuner raised %s: %s (continuing with what it declared)",
                             type(e).__name__, e)
            oracle.hyperparameters = hps
        dead: list[str] = []
        for t in trials:
            st = state_of(t, "kt_trial")  # saved when the trial started, again when it ended
            if st is not None and state is not None:
                trial = kt.engine.trial.Trial.from_state(st)
                oracle.trials[trial.trial_id] = trial
                self._kt_to_number[trial.trial_id] = t.number
            if t.state != optuna.trial.TrialState.RUNNING:
                continue
            # Left RUNNING by a run that died: failed here.
            t_id = self.storage.get_trial_id_from_study_id_trial_number(study_id(self.study), t.number)
            self.storage.set_trial_user_attr(t_id, attr("trial", "error"), "interrupted: the run that owned it stopped")
            self.storage.set_trial_state_values(t_id, optuna.trial.TrialState.FAIL)
            kt_id = t.user_attrs.get(f"{ATTR}kt_trial_id")
            if kt_id is not None and kt_id in oracle.trials:  # KerasTuner is told below, and serves it again
                dead.append(kt_id)
            else:
                # The run died before it had saved the trial's KerasTuner state: a new trial
                # takes its place, and its budget unit.
                self._replaces.append(t.number)
                self._owed_releases += 1
        if state is not None:
            # A store written before trials were saved at their start may name, as running,
            # trials it has no state of: KerasTuner cannot serve those again.
            state = dict(state, ongoing_trials={k: v for k, v in state["ongoing_trials"].items() if v in oracle.trials})
            oracle.set_state(state)
            for kt_id in dead:
                self._end_interrupted(oracle.trials[kt_id])
            for kt_trial in list(oracle.ongoing_trials.values()):
                # The dead run recorded this trial's end in the store, then died before it
                # saved the Oracle's state: told now, as its stored state says it ended.
                # (Left ongoing, KerasTuner would serve it, finished, to the tuner id it was
                # given: the search would stop there.)
                if kt_trial.status == kt.engine.trial.TrialStatus.RUNNING:
                    kt_trial.status = kt.engine.trial.TrialStatus.INVALID
                self._end_in_oracle(kt_trial)
            if self.algorithm == "grid":
                self._restore_grid_order()
        if self.algorithm != "hyperband":
            oracle.max_trials = n_trials

    def _end_interrupted(self, kt_trial: Any) -> None:
        """Tell KerasTuner that a trial of a dead run ended INVALID: it serves the same values
        again (while retries are left), and that retry's budget unit is the dead one's."""
        import keras_tuner as kt

        kt_trial.status = kt.engine.trial.TrialStatus.INVALID
        kt_trial.message = "interrupted: the run that owned it stopped"
        self._end_in_oracle(kt_trial)

    def _end_in_oracle(self, kt_trial: Any) -> None:
        """``end_trial`` for a trial of a dead run, with the status it carries; one queued for
        a retry gives its budget unit to that retry."""
        with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "N retries left"
            self._call(self.oracle.end_trial, kt_trial)
        if _retry_queued(self.oracle, kt_trial.trial_id):
            self._owed_releases += 1

    def claim(self, total: int) -> bool:
        # The budget is attached only after the engine is built: on resume it is counted
        # again from the trials first; then units of the dead run's trials that KerasTuner
        # serves again, or that new trials replace, go back.
        if self._recount_budget and self.budget is not None:
            self.budget.reset(finished_count(self.study) + pending_count(self.study))
            self._recount_budget = False
        while self._owed_releases and self.budget is not None:
            self.budget.release()
            self._owed_releases -= 1
        return super().claim(total)

    def _refuse_if_running_elsewhere(self) -> None:
        """A KerasTuner study takes one coordinator at a time (its Oracle lives in that
        process): resuming fails the RUNNING trials it finds, which is right only when their
        process is dead. One whose trials still beat is alive: stop, change nothing."""
        live = live_running(self.storage, study_id(self.study))
        if not live:
            return
        number, age = live[0]
        grace = grace_seconds(self.storage)
        raise StudyConflictError(
            f"KerasTuner study {self.study.study_name!r} is being run by another process: its trial {number} "
            f"sent a heartbeat {age:.0f} s ago. A KerasTuner study takes one process at a time (its Oracle lives "
            f"there); to share a study between processes or hosts use --engine optuna. If that process is dead, "
            f"run this again in {max(1, math.ceil(grace - age))} s.")

    def _restore_grid_order(self) -> None:
        """GridSearchOracle keeps its walk order outside ``get_state()``: rebuild it from the trials."""
        import functools

        oracle = self.oracle
        ids = [tid for tid in oracle.start_order if tid in oracle.trials]
        ids.sort(key=functools.cmp_to_key(
            lambda a, b: oracle._compare(oracle.trials[a].hyperparameters.values,  # noqa: SLF001
                                         oracle.trials[b].hyperparameters.values)))
        for tid in ids:
            oracle._ordered_ids.insert(tid)  # noqa: SLF001
        oracle._populate_next = list(ids)  # noqa: SLF001

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as e:
            if type(e).__module__.startswith("keras_tuner") or isinstance(e, RuntimeError):
                raise EngineError(f"KerasTuner stopped the search: {e}") from e
            raise

    def ask(self) -> TrialSpec | None:
        import keras_tuner as kt

        # One tuner id per trial: for a tuner id that has a trial running, KerasTuner hands
        # that same trial out again (its multi-worker-per-trial mode), not a new one.
        self._asked += 1
        kt_trial = self._call(self.oracle.create_trial, f"{_TUNER_ID}-{self._asked}")
        if kt_trial.status != kt.engine.trial.TrialStatus.RUNNING:
            return None
        values = dict(kt_trial.hyperparameters.values)
        budget = {k.removeprefix("tuner/"): v for k, v in values.items() if k.startswith("tuner/")}
        self.replay.clear()
        trial = new_trial(self.study, self.claim_token)
        tee = _TeeHP(KerasTunerHP(kt_trial.hyperparameters), trial, self.replay)
        config, error = draw(self.space.sample, tee, self.draw_timeout)
        for k, v in {"engine": self.name, "kt_trial_id": kt_trial.trial_id, "budget": budget}.items():
            trial.set_user_attr(attr("trial", k), plain(v))
        set_state(trial, "config", config)
        set_state(trial, "kt_trial", kt_trial.get_state())
        earlier = self._kt_to_number.get(kt_trial.trial_id)
        if earlier is None and self._replaces:
            earlier = self._replaces.pop(0)
        if earlier is not None:
            # KerasTuner serves a failed trial again (or a new trial replaces one a dead run
            # left): the new attempt names the one it retries, which then no longer counts
            # against the budget (as Optuna's retries do).
            self.storage.set_trial_system_attr(trial_id(trial), "failed_trial", earlier)
        self._kt_to_number[kt_trial.trial_id] = trial.number
        self._kt_trials[trial.number] = kt_trial
        # The Oracle's state is saved as each trial starts too, not only as one ends: a run
        # killed before its first trial ended is resumed like any other.
        set_study_state(self.study, "kt_state", self.oracle.get_state())
        parent = self._kt_to_number.get(str(budget["trial_id"])) if budget.get("trial_id") else None
        spec = TrialSpec(number=trial.number, params=dict(trial.params), config=config,
                         epochs=int(budget["epochs"] if "epochs" in budget else config.get("epochs", 1)),
                         initial_epoch=int(budget.get("initial_epoch", 0)), parent_number=parent,
                         error=error, handle=trial)
        if self.weights is not None:
            frozen = None if parent is None else \
                next(t for t in self.study.get_trials(deepcopy=False) if t.number == parent)
            spec.error = self.weights.attach(spec, frozen) or spec.error
        return spec

    @property
    def can_prune(self) -> bool:
        return False  # KerasTuner's Oracles never stop a trial mid-fit

    def report(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> Decision:
        value = metrics.get(self.objective)
        if value is not None and math.isfinite(value):
            kt_trial = self._kt_trials[spec.number]
            self._call(self.oracle.update_trial, kt_trial.trial_id, {self.objective: float(value)}, epoch)
            spec.handle.report(float(value), epoch)
        return Decision.CONTINUE

    def tell(self, spec: TrialSpec, outcome: TrialOutcome) -> bool:
        import keras_tuner as kt

        kt_trial = self._kt_trials.pop(spec.number)
        ok = outcome.state != "failed" and outcome.value is not None and math.isfinite(outcome.value)
        status = kt.engine.trial.TrialStatus
        kt_trial.status = status.COMPLETED if ok else status.INVALID if outcome.retryable else status.FAILED
        kt_trial.message = outcome.error
        with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner prints "N retries left"
            self._call(self.oracle.end_trial, kt_trial)
        set_state(spec.handle, "kt_trial", kt_trial.get_state())
        if outcome.state == "pruned":
            outcome.state = "complete"  # KerasTuner never prunes mid-trial
        recorded = finish_trial(self.study, spec.handle, outcome, self.objective)
        set_study_state(self.study, "kt_state", self.oracle.get_state())
        if not recorded:
            return False
        if not (outcome.retryable and _retry_queued(self.oracle, kt_trial.trial_id)):
            return False
        self.release()  # the Oracle serves it again from ``ask``, which claims a unit anew
        return True

    def finished(self) -> int:
        return finished_count(self.study)


def _retry_queued(oracle: Any, kt_id: str) -> bool:
    """Whether KerasTuner queued its trial ``kt_id`` to serve again (the Oracle's own queue,
    private: KerasTuner's, not Optuna's, so it stays in this module)."""
    return kt_id in oracle._retry_queue  # noqa: SLF001 - the Oracle has no public view of it


def check(options: EngineOptions, n_objectives: int) -> None:
    """Nothing beyond what :class:`~automl.engines._registry.EngineKind` declares."""


def build(request: BuildRequest) -> KerasTunerEngine:
    """Keras imported on the chosen backend (keras_tuner imports it), the Oracle made, the study opened."""
    from automl.model import import_keras

    o, space = request.options, request.space
    obj = space.objective
    import_keras(request.backend)  # keras_tuner imports Keras: the backend must be chosen first
    oracle = make_oracle(o.algorithm, objective=obj.metric, direction=obj.direction, n_trials=request.n_trials,
                         max_epochs=request.epochs, seed=o.seed)
    replay: dict[str, Any] = {}
    storage, study = request.open_study({"algorithm": o.algorithm, "sampler": f"kerastuner.{o.algorithm}",
                                         "pruner": "none"}, _replay_sampler(replay), None, None)
    old = study.user_attrs.get(f"{ATTR}algorithm")
    if old is not None and old != o.algorithm:
        raise StudyConflictError(f"study {request.study_name!r} was run with algorithm {old!r}, not "
                                 f"{o.algorithm!r}; use another --study name")
    weights = request.weights() if o.algorithm == "hyperband" or request.keep_weights else None
    return KerasTunerEngine(storage, study, space, oracle, replay, algorithm=o.algorithm, objective=obj.metric,
                            n_trials=request.n_trials, weights=weights, max_retries=request.retries)


def from_study(attrs: dict[str, Any]) -> dict[str, Any]:
    return {"algorithm": attrs.get(f"{ATTR}algorithm")}
