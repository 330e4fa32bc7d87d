"""``automl.search``: validate everything, open the store, run the loop, report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from automl._checks import check_data_arguments, check_search_arguments, check_space_arguments, check_task
from automl._logging import get_logger
from automl._plan import DataOptions, ParallelSettings, SearchSettings, SpaceOverrides
from automl.data import Dataset, DataSpec, data_differences, data_fingerprint, data_from_description, load_data
from automl._keys import ATTR, attr
from automl.engines._base import Engine
from automl.engines._registry import BuildRequest, engine_kind, engine_names, kinds
from automl.errors import DataError, StudyConflictError, UsageError
from automl.runner import SearchObserver
from automl.runner._heartbeat import Heartbeat
from automl.runner._loop import run_trials
from automl.runner._make import make_backend
from automl.runner._slots import Slot, plan_slots, runs_in_process
from automl.space import AnySpace, SearchSpace, Space, resolve_space, space_from_definition
from automl.space._parse_training import check_precision
from automl.space._task import for_task
from automl.storage import TrialRow, best_trial, leaderboard, open_storage, pareto_front, redact, resolve_url
from automl.storage._study import prepare_study
from automl.storage._url import with_heartbeat

__all__ = ["search", "SearchResult", "ENGINES", "prepare", "plan_search", "run_plan", "Plan", "check_search_arguments",
           "check_space_arguments", "check_data_arguments", "check_task"]

ENGINES = engine_names()
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
    finished: int = 0  # trials counted against the budget (complete, pruned, failed not retried)
    n_trials: int = 0  # the budget asked for
    already_done: bool = False  # the study held n_trials finished trials already: nothing ran

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
            test_split: float = 0.0, data_seed: int = 0, label_column: str | None = None,
            image_size: str | tuple[int, int] | None = None, color_mode: str | None = None,
            task: str | None = None, categorical: Any = None, numeric: Any = None, ignore: Any = None,
            flags: bool = False) -> Prepared:
    """Validate the space and the data and check that they fit together; the space is
    turned to the data's task (declared by ``task``, the space, or inferred from the
    labels); a table's column kinds follow ``categorical``, ``numeric``, ``ignore``. Writes
    nothing. ``flags``: errors name command-line flags."""
    check_space_arguments(epochs=epochs, batch_size=batch_size, objective=objective, direction=direction,
                          flags=flags)
    val_split, test_split, data_seed, label_column = check_data_arguments(
        val_split=val_split, test_split=test_split, data_seed=data_seed, label_column=label_column, flags=flags)
    check_task(task, flags)
    resolved = resolve_space(space, epochs=epochs, batch_size=batch_size, objective=objective,
                             direction=direction)
    loaded = isinstance(data, Dataset)
    if loaded and task is not None and data.task != task:  # type: ignore[union-attr]
        raise UsageError(f"the data's task is {data.task}, not {task}")  # type: ignore[union-attr]
    ds = load_data(data, val_split=val_split, test_split=test_split, seed=data_seed, label_column=label_column,
                   num_classes=getattr(resolved, "num_classes", None), image_size=image_size, color_mode=color_mode,
                   task=task or getattr(resolved, "task", None), categorical=categorical, numeric=numeric,
                   ignore=ignore)
    resolved = for_task(resolved, ds.task, ds.head(), objective_given=objective is not None)
    _check_compatible(resolved, ds)
    if not loaded:
        _log.info("%s", task_line(ds))
    return Prepared(resolved, ds)


def task_line(data: Dataset) -> str:
    """The line a search starts with: what holds the labels, the task and why."""
    why = "" if data.task_reason == "declared" else f" (inferred: {data.task_reason})"
    return f"label: {data.label_text()}; task: {data.task}{why}"


def _stored_space_and_data(storage: Any, study_name: str, data: DataSpec | None,
                           label_column: str | None, **image: Any) -> tuple[SearchSpace, Dataset]:
    """The study's space, and its data reloaded (or ``data``, split as the study's was)."""
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
    if label_column is not None:
        desc = dict(desc, label_column=label_column)
    desc = dict(desc, **{k: v for k, v in image.items() if v is not None})  # --image-size, --color-mode
    ds = data_from_description(desc, data)
    _log.info("%s", task_line(ds))
    return for_task(space, ds.task, ds.head()), ds


def search(space: AnySpace | None = None, data: DataSpec | None = None, *, engine: str = "optuna",
           n_trials: int = 20, timeout: float | None = None, sampler: str = "tpe", pruner: str = "none",
           algorithm: str | None = None, seed: int | None = None, storage: str | None = None,
           study_name: str | None = None, epochs: int | None = None, batch_size: int | None = None,
           objective: str | None = None, direction: str | None = None, val_split: float = 0.2,
           test_split: float = 0.0, data_seed: int = 0, label_column: str | None = None,
           image_size: str | tuple[int, int] | None = None, color_mode: str | None = None,
           task: str | None = None, categorical: Any = None, numeric: Any = None, ignore: Any = None,
           backend: str | None = None, observer: SearchObserver | None = None, gpus: str = "auto",
           trials_per_gpu: int | str = "auto", workers: int | None = None, retries: int = 1,
           trial_timeout: float | None = None, heartbeat_s: float = 10.0, keep_weights: bool = True,
           cluster: str | None = None, artifacts: str | None = None, gpus_per_trial: int = 1) -> SearchResult:
    """Search ``space`` on ``data`` until the study holds ``n_trials`` finished trials.

    ``space``: a YAML path, a catalog name (``demo``), ``FILE.py:FUNCTION``, a dict, a
    :class:`~automl.space.Space` or a ``build_model(hp)`` callable. ``data``: a built-in
    name (default ``digits``), a ``keras.datasets`` name (``cifar10``), a ``.npz``/``.csv``
    path, an ``x.npy`` beside its ``y.npy`` (``.npy`` and ``.npz`` are memory-mapped), a
    pandas DataFrame (``label_column`` names its label), a folder of images
    (``image_size="HxW"``, ``color_mode``), ``(x, y)`` or a Dataset. A table's columns are
    numeric, boolean or categorical, inferred unless declared: ``categorical`` and
    ``numeric`` (``"a,b"`` or a list), ``ignore`` (columns left out).
    ``task`` (``classification``, ``binary``, ``multilabel``, ``regression``) is inferred
    from the labels when neither it nor the space declares it; it sets the model's head,
    loss, metrics and default objective (docs/data.md, "Tasks"). With ``space=None`` the
    study named ``study_name`` is continued from what the store holds. ``gpus`` (``auto``,
    ``none``, ``"0,1"``), ``trials_per_gpu`` and ``workers`` set the device slots: one CPU
    slot runs trials in this process, anything more runs one worker process per slot.
    ``cluster`` (``ray://HOST:PORT``, ``HOST:PORT`` or ``auto``) runs the trials on
    actors of that Ray cluster instead, ``trials_per_gpu`` on each of its GPUs; with
    ``gpus_per_trial`` N > 1 each trial trains data-parallel on N GPUs (JAX; docs/parallel.md).
    ``n_trials`` is a global budget counted in the store, shared by every process working on
    the study. With ``keep_weights`` every finished trial's weights are saved under
    ``$AUTOML_CACHE/checkpoints/`` and in Optuna's artifact store (``artifacts``, a folder
    every host reaches; by default beside a SQLite store) so ``automl export`` needs no
    retraining, on any host. Everything is validated before the store is opened: bad input raises a
    :class:`~automl.errors.UsageError` and writes nothing.

    Example::

        result = automl.search("demo", "digits", n_trials=10, storage="sqlite:///demo.db")
        print(result.best_value, result.best_params)
    """
    settings = SearchSettings(engine=engine, n_trials=n_trials, timeout=timeout, sampler=sampler, pruner=pruner,
                              algorithm=algorithm, seed=seed, storage=storage, study_name=study_name,
                              backend=backend, retries=retries, heartbeat_s=heartbeat_s, keep_weights=keep_weights,
                              artifacts=artifacts)
    parallel = ParallelSettings(gpus=gpus, trials_per_gpu=trials_per_gpu, workers=workers,
                                trial_timeout=trial_timeout, cluster=cluster, gpus_per_trial=gpus_per_trial)
    overrides = SpaceOverrides(epochs=epochs, batch_size=batch_size, objective=objective, direction=direction)
    options = DataOptions(val_split=val_split, test_split=test_split, data_seed=data_seed, label_column=label_column,
                          image_size=image_size, color_mode=color_mode, task=task, categorical=categorical,
                          numeric=numeric, ignore=ignore)
    return run_plan(plan_search(space, data, settings, parallel, overrides, options), observer)


@dataclass
class Plan:
    """A search validated and ready to run, nothing written yet: the resolved space and the
    loaded data, the settings (numbers normalized), the store's URL and the study's name,
    and the local slots (none on a cluster: its slots come from its resources). ``store``
    is the store opened to read a continued study, which running it uses again (a process
    opens its store once)."""

    space: SearchSpace
    data: Dataset
    search: SearchSettings
    parallel: ParallelSettings
    url: str
    study_name: str
    slots: list[Slot]
    store: Any = None

    @property
    def in_process(self) -> bool:
        """Trials run in this process (:func:`automl.runner._slots.runs_in_process`)."""
        return runs_in_process(self.slots, self.parallel.trial_timeout, self.parallel.cluster)

    @property
    def keras_here(self) -> bool:
        """Whether this process imports Keras: trials run in it, or the engine builds models
        in the coordinator to draw values (KerasTuner)."""
        return self.in_process or engine_kind(self.search.engine).keras_in_coordinator


def plan_search(space: AnySpace | None, data: DataSpec | None, settings: SearchSettings,
                parallel: ParallelSettings = ParallelSettings(), overrides: SpaceOverrides = SpaceOverrides(),
                options: DataOptions = DataOptions(), *, flags: bool = False, store: Any = None) -> Plan:
    """Validate every setting once (``flags``: errors name the command line's flags), resolve
    the space, load the data (a continued study's, ``space=None``, from the store, read
    only; ``store``: the store opened already) and check that they fit together. Writes
    nothing."""
    check_search_arguments(**asdict(settings), **asdict(parallel), flags=flags)
    settings = replace(settings, n_trials=int(settings.n_trials),  # NumPy integers stored as numbers
                       seed=None if settings.seed is None else int(settings.seed))
    slots = [] if parallel.cluster else plan_slots(parallel.gpus, parallel.trials_per_gpu, parallel.workers,
                                                   gpus_per_trial=parallel.gpus_per_trial)
    url = resolve_url(settings.storage)
    o = options
    if space is None:
        study_name = settings.study_name
        if not study_name:
            raise UsageError("give a search space, or the --study to continue")
        check_space_arguments(**asdict(overrides), flags=flags)
        _, _, _, label_column = check_data_arguments(label_column=o.label_column, flags=flags)
        check_task(o.task, flags)
        if any(v is not None for v in (o.categorical, o.numeric, o.ignore)):
            raise UsageError("a study's column kinds are recorded with it: leave out categorical, numeric and ignore "
                             "(--categorical, --numeric, --ignore) to continue it, or start another --study")
        store = store if store is not None else open_storage(url, must_exist=True)
        resolved, ds = _stored_space_and_data(store, study_name, data, label_column, image_size=o.image_size,
                                              color_mode=o.color_mode)
        if o.task is not None and o.task != ds.task:
            raise UsageError(f"study {study_name!r} searches a {ds.task} task, not {o.task}; leave out --task to "
                             f"continue it, or start another --study")
        _check_compatible(resolved, ds)
    else:
        prep = prepare(space, "digits" if data is None else data, **asdict(overrides), **asdict(options), flags=flags)
        resolved, ds = prep.space, prep.data
        study_name = settings.study_name or resolved.name
    if isinstance(resolved, Space):
        check_precision(resolved.training, on_gpu=bool(parallel.cluster) or any(s.gpu is not None for s in slots))
    return Plan(resolved, ds, settings, parallel, url, study_name, slots, store)


def run_plan(plan: Plan, observer: SearchObserver | None = None) -> SearchResult:
    """Open the store and the study (the first write), then run the trials until the study
    holds its budget; what the store then holds."""
    st, par, resolved, ds, url = plan.search, plan.parallel, plan.space, plan.data, plan.url
    eng = make_engine(st.engine, resolved, ds, url=url, study_name=plan.study_name, sampler=st.sampler,
                      pruner=st.pruner, algorithm=st.algorithm, seed=st.seed, n_trials=st.n_trials,
                      backend=st.backend if plan.keras_here else None, retries=st.retries,
                      heartbeat_s=st.heartbeat_s, keep_weights=st.keep_weights, artifacts=st.artifacts,
                      store=plan.store)
    study = eng.study  # type: ignore[attr-defined]
    finished = eng.finished()
    _log.info("study %s in %s: %d trials requested, %d finished already, on %s", study.study_name,
              redact(url), st.n_trials, finished,
              ", ".join(s.device for s in plan.slots) or f"the Ray cluster at {par.cluster}")
    if finished >= st.n_trials:  # nothing to run: no workers, no progress display
        eng.close()
        return SearchResult(study.study_name, redact(url), resolved.objective.direction, best_trial(study),
                            leaderboard(study), 0, pareto_front(study), finished=finished, n_trials=st.n_trials,
                            already_done=True)
    beat = Heartbeat(eng.storage, st.heartbeat_s, on_beat=eng.beat)  # type: ignore[attr-defined]
    try:
        backend = make_backend(plan.slots, resolved, ds, backend=st.backend, seed=st.seed or 0,
                               trial_timeout=par.trial_timeout, cluster=par.cluster,
                               trials_per_gpu=par.trials_per_gpu, workers=par.workers,
                               gpus_per_trial=par.gpus_per_trial)
        ran = run_trials(eng, backend, n_trials=st.n_trials, timeout=st.timeout, observer=observer, heartbeat=beat,
                         trial_timeout=par.trial_timeout)
    finally:
        beat.close()
        eng.close()
    return SearchResult(study.study_name, redact(url), resolved.objective.direction, best_trial(study),
                        leaderboard(study), ran, pareto_front(study), finished=eng.finished(), n_trials=st.n_trials)


def make_engine(engine: str, space: SearchSpace, data: Dataset, *, url: str, study_name: str, sampler: str,
                pruner: str, algorithm: str | None, seed: int | None, n_trials: int,
                backend: str | None = None, retries: int = 1, heartbeat_s: float = 10.0,
                keep_weights: bool = True, artifacts: str | None = None, store: Any = None) -> Engine:
    """Validate the engine's settings, then open the store (``store``: the one this process
    opened already) and the study (the first write)."""
    from automl._paths import checkpoint_dir
    from automl.engines._record import set_study_state, study_state
    from automl.storage._artifacts import TrialWeights, artifact_location, here, open_artifacts

    kind = engine_kind(engine)
    objectives = space.objectives
    if len(objectives) > 1 and not kind.multi_objective:
        several = " or ".join(k.title for k in kinds() if k.multi_objective)
        raise UsageError(f"several objectives need the {several} engine ({kind.one_objective})")
    options = kind.options(algorithm=algorithm, sampler=sampler, pruner=pruner, seed=seed)
    code = kind.code()
    code.check(options, len(objectives))
    epochs = int(space.training.epochs if isinstance(space, Space) else space.epochs)
    data_fp = data_fingerprint(data)
    common: dict[str, Any] = {"fingerprint": space.fingerprint, "definition": space.definition, "data": data.describe(),
              "direction": ",".join(o.direction for o in objectives),
              "objective": ",".join(o.metric for o in objectives), "engine": kind.name}
    opened: list[Any] = []

    def open_study(settings: dict[str, Any], sampler: Any, pruner: Any, failed_trial_callback: Any) -> tuple[Any, Any]:
        storage = with_heartbeat(store, heartbeat_s, failed_trial_callback) if store is not None else \
            open_storage(url, heartbeat_s=heartbeat_s, failed_trial_callback=failed_trial_callback)
        study = prepare_study(storage, study_name, **common,
                              settings={**settings, "seed": seed, "data_fingerprint": data_fp},
                              sampler=sampler, pruner=pruner)
        _check_same_data(study, study_name, data, data_fp)
        _record_task(study, data)
        opened[:] = [storage, study]
        return storage, study

    def weights() -> TrialWeights:
        study = opened[1]
        recorded = study_state(study, "artifacts")
        location = artifact_location(artifacts, url, recorded)
        if recorded is not None and location != recorded:
            raise UsageError(f"study {study_name!r} keeps its trials' weights in {recorded}, not {location}: leave "
                             f"out --artifacts (set AUTOML_ARTIFACTS where this host mounts that folder elsewhere)")
        if location is not None:
            open_artifacts(here(location) or location, create=True)
            if recorded is None:
                set_study_state(study, "artifacts", location)
        return TrialWeights(checkpoint_dir(url, study_name), location)

    eng = code.build(BuildRequest(space=space, url=url, study_name=study_name, options=options, n_trials=n_trials,
                                  epochs=epochs, backend=backend, retries=retries, keep_weights=keep_weights,
                                  weights=weights, open_study=open_study))
    storage, study = opened
    return _with_budget(eng, storage, study, n_trials)


def _record_task(study: Any, data: Dataset) -> None:
    """The task, as the system attribute ``automl:task``: what export, evaluate, predict
    and the reports read to name outputs (the data's description holds the class names
    and the targets' statistics)."""
    from automl.engines._record import set_study_state

    set_study_state(study, "task", {"task": data.task, "reason": data.task_reason,
                                    "label": data.options.get("label_columns"),
                                    "class_names": data.options.get("class_names")})


def _check_same_data(study: Any, study_name: str, data: Dataset, fingerprint: dict[str, Any]) -> None:
    """Refuse to continue a study on other data than it was run on (its trials would not
    compare, and the export would rebuild a model for the wrong shapes). A study made
    before fingerprints were stored gets one from the data its description reloads, once
    that data is found to be this one."""
    stored = study.user_attrs.get(f"{ATTR}data_fingerprint")
    if not isinstance(stored, dict):
        stored = _fingerprint_of_old_study(study)
        if stored is None:
            return
        if not data_differences(stored, fingerprint):
            study.set_user_attr(attr("study", "data_fingerprint"), stored)
    differences = data_differences(stored, fingerprint)
    if differences:
        old = (study.user_attrs.get(f"{ATTR}data") or {}).get("name", "?")
        raise StudyConflictError(f"study {study_name!r} was run on other data than {data.name}: "
                                 f"{'; '.join(differences)} (the study's data: {old}); continue it on the study's "
                                 f"data (leave out --data) or use another --study name")


def _fingerprint_of_old_study(study: Any) -> dict[str, Any] | None:
    """The fingerprint of the data a study without one was run on, reloaded from its
    description; None for a new study, or when that data cannot be reloaded here."""
    desc = study.user_attrs.get(f"{ATTR}data")
    if not isinstance(desc, dict) or not study.get_trials(deepcopy=False):
        return None
    try:
        return data_fingerprint(data_from_description(desc))
    except Exception as e:  # noqa: BLE001 - a file moved, a dataset not cached here: nothing to compare with
        _log.info("study %s has no data fingerprint and its data cannot be reloaded to make one (%s): not "
                  "checked", study.study_name, e)
        return None


def _with_budget(engine: Engine, storage: Any, study: Any, n_trials: int) -> Engine:
    from automl.engines._record import finished_count, pending_count
    from automl.storage._budget import Budget

    engine.storage = storage  # type: ignore[attr-defined]
    engine.budget = Budget(storage.engine, study.study_name)
    engine.budget.ensure(finished_count(study) + pending_count(study))
    study.set_user_attr(attr("study", "n_trials"), n_trials)
    return engine
