"""The Optuna engine: Optuna's samplers and pruners decide, through ask/tell."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import Any

from automl._logging import get_logger
from automl._keys import ATTR, attr
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.engines._draw import draw
from automl.engines._record import finish_trial, finished_count, new_trial, pop_retry, set_state
from automl.engines._registry import BuildRequest, EngineOptions, engine_kind
from automl.errors import UsageError
from automl.space import HP, SearchSpace
from automl.storage._artifacts import TrialWeights
from automl.storage._stale import adopt_orphans, fail_stale
from automl.storage._optuna_private import study_id, study_storage

__all__ = ["OptunaEngine", "OptunaHP", "SAMPLERS", "PRUNERS", "make_sampler", "make_pruner", "pruner_warmup",
           "KIND", "check", "build", "from_study"]

KIND = engine_kind("optuna")  # declared in automl/engines/_registry.py (light, for the command line)
SAMPLERS = KIND.algorithms
PRUNERS = KIND.pruners
_log = get_logger()


class OptunaHP(HP):
    """The ``hp`` protocol over an ``optuna.Trial`` (define-by-run: conditions need no marking)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self.trial.suggest_int(name, low, high, step=step, log=log))

    def float(self, name: str, low: float, high: float, *, step: float | None = None,
              log: bool = False) -> float:
        return float(self.trial.suggest_float(name, low, high, step=step, log=log))

    def choice(self, name: str, values: Sequence[Any]) -> Any:
        return self.trial.suggest_categorical(name, list(values))


def make_sampler(name: str, seed: int | None) -> Any:
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise UsageError("sampler cmaes needs the cmaes package: pip install cmaes")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        if importlib.util.find_spec("torch") is None:
            raise UsageError("sampler gp needs PyTorch: pip install 'automl[torch]'")
        return optuna.samplers.GPSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise UsageError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def pruner_warmup(max_epochs: int) -> int:
    """Epochs a trial trains before any pruner may stop it: a tenth of the epoch budget.

    Validation scores of the first epochs rank configurations poorly (on MNIST-1D they move
    by several points from one epoch to the next, benchmarks/README.md); cutting after one
    epoch lost the best configurations."""
    return max(1, max_epochs // 10)


def make_pruner(name: str, max_epochs: int) -> Any:
    import optuna

    warmup = pruner_warmup(max_epochs)
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=warmup)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=max(max_epochs, warmup))
    raise UsageError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")


def retry_failed(study: Any, number: int, max_retries: int) -> bool:
    """Enqueue the same values again (Optuna's RetryFailedTrialCallback); the failed trial's
    budget unit passes to its retry, which starts without claiming one (``pop_retry``).
    False when no retries are left."""
    import optuna

    if max_retries < 1:
        return False
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or \
        optuna.storages.RetryFailedTrialCallback  # Optuna < 4.9
    import copy

    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    if len(retry.retry_history(frozen)) >= max_retries:
        return False
    # The retry starts with none of its original's results (Optuna copies user attributes).
    clean = copy.deepcopy(frozen)
    clean.user_attrs = {k: v for k, v in frozen.user_attrs.items() if not k.startswith(ATTR)}
    retry(max_retry=max_retries, inherit_intermediate_values=False)(study, clean)
    return True


class OptunaEngine(Engine):
    """Ask/tell over an Optuna study whose sampler and pruner were set when it was loaded."""

    name = "optuna"

    def __init__(self, study: Any, space: SearchSpace, *, objective: str, max_retries: int = 1,
                 weights: TrialWeights | None = None) -> None:
        self.study = study
        self.max_retries = max_retries
        self.weights = weights
        self.space = space
        self.objective = objective
        self.algorithm = type(study.sampler).__name__

    @property
    def can_prune(self) -> bool:
        import optuna

        return not isinstance(self.study.pruner, optuna.pruners.NopPruner)

    def ask(self) -> TrialSpec:
        return self._spec(new_trial(self.study, self.claim_token))

    def ask_retry(self) -> TrialSpec | None:
        trial = pop_retry(self.study)
        return None if trial is None else self._spec(trial)

    def _spec(self, trial: Any) -> TrialSpec:
        config, error = draw(self.space.sample, OptunaHP(trial), self.draw_timeout)
        trial.set_user_attr(attr("trial", "engine"), self.name)
        set_state(trial, "config", config)  # always: a retry starts with a copy of its original's
        spec = TrialSpec(number=trial.number, params=dict(trial.params), config=config,
                         epochs=int(config.get("epochs", 1)), error=error, handle=trial)
        if self.weights is not None:
            self.weights.attach(spec)
        return spec

    def report(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> Decision:
        import optuna

        value = metrics.get(self.objective)
        if value is None or not math.isfinite(value) or len(self.study.directions) > 1:
            # Optuna keeps no intermediate values for multi-objective studies (nor prunes them).
            return Decision.CONTINUE
        trial = spec.handle
        try:
            trial.report(float(value), epoch)
        except optuna.exceptions.UpdateFinishedTrialError:
            return Decision.PRUNE  # another process ended it (taken for stale): training it is wasted
        if epoch >= spec.epochs:  # trained in full: pruning it now saves nothing and hides a complete result
            return Decision.CONTINUE
        return Decision.PRUNE if trial.should_prune() else Decision.CONTINUE

    def tell(self, spec: TrialSpec, outcome: TrialOutcome) -> bool:
        if not finish_trial(self.study, spec.handle, outcome, self.objective):
            return False  # ended by another process, which retried it
        return outcome.retryable and outcome.state == "failed" and \
            retry_failed(self.study, spec.number, self.max_retries)

    def finished(self) -> int:
        return finished_count(self.study)

    def reap_stale(self) -> None:
        adopt_orphans(study_storage(self.study), study_id(self.study))
        fail_stale(self.study)


def check(options: EngineOptions, n_objectives: int) -> None:
    """Optuna neither prunes multi-objective studies nor samples them with CMA-ES or QMC."""
    if n_objectives < 2:
        return
    if options.pruner != "none":
        raise UsageError("pruning needs a single objective: Optuna does not prune multi-objective studies")
    if options.algorithm in ("cmaes", "qmc"):
        raise UsageError(f"sampler {options.algorithm} does not handle several objectives; use tpe, random, "
                         f"nsga2 or gp")


def build(request: BuildRequest) -> OptunaEngine:
    """The sampler and pruner made (a missing optional package is refused here), then the study."""
    o, retries = request.options, request.retries
    sampler, pruner = make_sampler(o.algorithm, o.seed), make_pruner(o.pruner, request.epochs)

    def on_stale(study: Any, trial: Any) -> None:
        # A trial whose process stopped beating: failed by Optuna, retried here.
        if retry_failed(study, trial.number, retries):
            _log.warning("trial %d was left running by a process that stopped; retrying it", trial.number)

    _, study = request.open_study({"algorithm": o.algorithm, "sampler": o.algorithm, "pruner": o.pruner},
                                  sampler, pruner, on_stale)
    return OptunaEngine(study, request.space, objective=request.space.objective.metric, max_retries=retries,
                        weights=request.weights() if request.keep_weights else None)


def from_study(attrs: dict[str, Any]) -> dict[str, Any]:
    return {"sampler": attrs.get(f"{ATTR}sampler", KIND.default_algorithm),
            "pruner": attrs.get(f"{ATTR}pruner", KIND.pruners[0])}
