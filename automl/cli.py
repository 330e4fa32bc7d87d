"""The ``automl`` command line. Heavy imports (Keras, TensorFlow) happen inside commands."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from automl._logging import set_optuna_verbosity
from automl.engines import _registry as engines
from automl.errors import AutomlError, UsageError

__all__ = ["main", "cli"]

_err = Console(stderr=True)
# Piped output is 160 columns wide unless COLUMNS says otherwise (a terminal's own width wins).
_out = Console(soft_wrap=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)


def _setup_logging(verbose: int) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(console=_err, show_path=False, show_time=verbose > 1)
    logger = logging.getLogger("automl")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    set_optuna_verbosity(logging.WARNING if verbose < 2 else logging.INFO)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a batch scheduler, ``kill``), handled as Ctrl-C is: the running
    trials are recorded as interrupted instead of being left RUNNING until they go stale."""


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise _Terminated()


def _errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn automl's errors into one message and an exit status (2 for bad input)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return fn(*args, **kwargs)
        except UsageError as e:  # the message quotes the user's text: never read as markup
            _err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except AutomlError as e:
            _err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            sys.exit(1)
        except KeyboardInterrupt as e:
            term = isinstance(e, _Terminated)
            _err.print(f"{'terminated (SIGTERM)' if term else 'interrupted'}; the trials that were running are "
                       f"recorded as failed (the same command continues the study)", highlight=False)
            sys.exit(143 if term else 130)

    return wrapper


_STORAGE = click.option("--storage", envvar="AUTOML_STORAGE", default=None, metavar="URL",
                        help="SQLAlchemy URL of the store [env AUTOML_STORAGE; default sqlite:///automl.db].")


def _verbose_here(ctx: Any, param: Any, value: int) -> None:
    if value:  # added to what was given before the command's name
        _setup_logging(value + int(ctx.find_root().params.get("verbose") or 0))


class _Group(click.Group):
    """Gives every command the group's ``-v``, so it works after the command's name too."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_verbose_here,
                                       help="More log output (-v info, -vv debug)."))
        super().add_command(cmd, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Search Keras architectures and hyperparameters with Optuna or KerasTuner.

    Every trial is recorded in one SQL store (Optuna's schema) that `automl dashboard`,
    optuna-dashboard and optuna.load_study read.
    """
    _setup_logging(verbose)


def _trials_per_gpu(ctx: Any, param: Any, value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("a positive integer or auto") from None


def _PARALLEL(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--gpus", default="auto", show_default=True,
                     help="GPUs to use: auto, none, or indices such as 0,1."),
        click.option("--trials-per-gpu", default="auto", show_default=True, callback=_trials_per_gpu,
                     help="Trials trained at once on each GPU (auto: 4, fewer with under 4 CPU cores per worker)."),
        click.option("--gpus-per-trial", type=int, default=1, show_default=True,
                     help="GPUs each trial trains on, data-parallel (JAX backend)."),
        click.option("--workers", type=int, default=None,
                     help="Worker processes (CPU: default 1, in this process; GPUs: caps the slots)."),
        click.option("--retries", type=int, default=1, show_default=True,
                     help="Times a trial whose worker died is run again with the same values."),
        click.option("--trial-timeout", type=float, default=None, help="Stop a trial after S seconds (FAIL)."),
        click.option("--heartbeat", "heartbeat_s", type=float, default=10.0, show_default=True,
                     help="Seconds between heartbeats; trials silent for 3 are failed and retried."),
        click.option("--cluster", envvar="AUTOML_CLUSTER", default=None, metavar="ray://HOST:PORT|auto",
                     help="Train on the actors of this Ray cluster (needs automl[ray]) [env AUTOML_CLUSTER]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@cli.command()
@click.argument("space", required=False)
@click.option("--data", default=None, metavar="NAME|PATH",
              help="digits (default), digits2d, mnist1d, synthetic:SHAPE[:CLASSES[:N]], mnist, fashion_mnist, "
                   "cifar10, cifar100 (keras.datasets), a .npz/.csv file, x.npy beside y.npy, or a folder of images "
                   "(docs/data.md).")
@click.option("--trials", "n_trials", type=int, default=20, show_default=True,
              help="Total finished trials the study should hold (a re-run continues up to it).")
@click.option("--timeout", type=float, default=None, help="Stop starting new trials after S seconds.")
# Engines, their samplers and pruners: as registered (automl/engines/_registry.py).
@click.option("--engine", type=click.Choice(engines.engine_names()), default=engines.DEFAULT_ENGINE,
              show_default=True)
@click.option("--algorithm", default=None, help=engines.algorithm_help())
@click.option("--sampler", type=click.Choice(engines.sampler_choices()), default=engines.sampler_choices()[0],
              show_default=True, help=f"{'/'.join(k.title for k in engines.kinds() if k.sampler_flag)} sampler.")
@click.option("--pruner", type=click.Choice(engines.pruner_choices()), default=engines.pruner_choices()[0],
              show_default=True, help=f"{'/'.join(k.title for k in engines.kinds() if len(k.pruners) > 1)} pruner, "
                                      f"fed the objective after every epoch.")
@click.option("--seed", type=int, default=None, help="Seed of the sampler and of model initialisation.")
@_STORAGE
@click.option("--study", "study_name", default=None, help="Study name [default: the space's name].")
@click.option("--epochs", type=int, default=None, help="Override the space's epochs per trial.")
@click.option("--batch-size", type=int, default=None, help="Override the space's batch size.")
@click.option("--objective", default=None, help="Override the objective metric (e.g. val_loss).")
@click.option("--direction", type=click.Choice(["maximize", "minimize"]), default=None)
@click.option("--val-split", type=float, default=0.2, show_default=True)
@click.option("--test-split", type=float, default=0.0, show_default=True,
              help="Fraction held out as a test split, never seen by the search.")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the splits.")
@click.option("--label-column", default=None,
              help="CSV label column, or a,b for several targets [default: 'label', else the last].")
@click.option("--task", type=click.Choice(["classification", "binary", "multilabel", "regression"]), default=None,
              help="What the labels are [default: the space's task, else inferred from the labels].")
@click.option("--image-size", default=None, metavar="HxW", help="Image folders: resize every image to H x W pixels.")
@click.option("--color-mode", type=click.Choice(["rgb", "grayscale"]), default=None,
              help="Image folders: 3 channels or 1 [default: rgb].")
@click.option("--categorical", default=None, metavar="A,B", help="Tables: these columns are categories [inferred].")
@click.option("--numeric", default=None, metavar="A,B", help="Tables: these columns are numbers [inferred].")
@click.option("--ignore", default=None, metavar="A,B", help="Tables: leave these columns out.")
@click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None,
              help="Keras backend [default: KERAS_BACKEND, else tensorflow].")
@_PARALLEL
@click.option("--keep-weights/--no-keep-weights", default=True, show_default=True,
              help="Save each finished trial's weights (under $AUTOML_CACHE, and in the artifact store) so "
                   "export needs no retraining.")
@click.option("--artifacts", default=None, metavar="FOLDER",
              help="Optuna artifact store for trial weights, a folder every host reaches [default: beside a "
                   "SQLite store; none for a server store]; recorded with the study.")
@click.option("--top", type=int, default=10, show_default=True, help="Rows of the final leaderboard.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@_errors
def search(space: str | None, data: str | None, n_trials: int, timeout: float | None, engine: str,
           algorithm: str | None, sampler: str, pruner: str, seed: int | None, storage: str | None,
           study_name: str | None, epochs: int | None, batch_size: int | None, objective: str | None,
           direction: str | None, val_split: float, test_split: float, data_seed: int, label_column: str | None,
           image_size: str | None, color_mode: str | None, task: str | None, categorical: str | None,
           numeric: str | None, ignore: str | None,
           backend: str | None, keep_weights: bool, artifacts: str | None, top: int, quiet: bool,
           **parallel: Any) -> None:
    """Search SPACE (a YAML file, a catalog name such as `demo`, or FILE.py:FUNCTION).

    Without SPACE, continues the study given by --study from what the store holds.
    """
    from automl._plan import DataOptions, ParallelSettings, SearchSettings, SpaceOverrides
    from automl._progress import RichProgress
    from automl._search import plan_search, run_plan, task_line
    from automl._tables import trials_table
    from automl.model import import_keras
    from automl.storage import redact, resolve_url

    _writable(storage)
    settings = SearchSettings(engine=engine, n_trials=n_trials, timeout=timeout, sampler=sampler, pruner=pruner,
                              algorithm=algorithm, seed=seed, storage=storage, study_name=study_name,
                              backend=backend, retries=parallel.pop("retries"),
                              heartbeat_s=parallel.pop("heartbeat_s"), keep_weights=keep_weights,
                              artifacts=artifacts)
    overrides = SpaceOverrides(epochs=epochs, batch_size=batch_size, objective=objective, direction=direction)
    options = DataOptions(val_split=val_split, test_split=test_split, data_seed=data_seed, label_column=label_column,
                          image_size=image_size, color_mode=color_mode, task=task, categorical=categorical,
                          numeric=numeric, ignore=ignore)
    # Validated before anything is imported or written, errors naming the flags as typed.
    plan = plan_search(space, data, settings, ParallelSettings(**parallel), overrides, options, flags=True)
    if space is not None:
        _err.print(task_line(plan.data), highlight=False, soft_wrap=True)
    obj = plan.space.objective
    metrics = [o.metric for o in plan.space.objectives]
    if plan.keras_here:
        with _err.status(f"loading Keras ({backend or 'default backend'})…"):
            import_keras(backend)
    observer = None
    if not quiet:
        observer = RichProgress(_err, obj.direction, obj.metric)
    try:
        result = run_plan(plan, observer)
    finally:
        if observer is not None:
            observer.close()
    if result.already_done:
        _err.print(_nothing_to_run(result), highlight=False, soft_wrap=True)
        return
    objective_name = obj.metric
    title = (f"study {result.study_name} ({redact(resolve_url(storage))}): {len(result.leaderboard)} trials, "
             f"{result.count('COMPLETE')} complete, {result.count('PRUNED')} pruned, {result.count('FAIL')} failed")
    front = {r.number for r in result.pareto}
    _out.print(trials_table(result.leaderboard[:top], title, ",".join(metrics) if len(metrics) > 1 else objective_name,
                            front=front))
    if result.best is not None:
        _out.print(f"best trial #{result.best.number}: {objective_name} = {result.best.value:.4f}", highlight=False)
    elif result.pareto:
        _out.print(f"Pareto front ({', '.join(metrics) or 'all objectives'}): trials "
                   + ", ".join(f"#{r.number}" for r in result.pareto), highlight=False)


@cli.command()
@click.option("--storage", envvar="AUTOML_STORAGE", required=True, metavar="URL",
              help="The shared store (PostgreSQL or MySQL for several hosts) [env AUTOML_STORAGE].")
@click.option("--study", "study_name", required=True, help="The study to work on (made by `automl search`).")
@click.option("--trials", "n_trials", type=int, default=None,
              help="Global budget [default: the last one `automl search` set for the study].")
@click.option("--timeout", type=float, default=None)
@click.option("--data", default=None, help="Data to load here instead of the study's (same shape).")
@click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None)
@_PARALLEL
@click.option("-q", "--quiet", is_flag=True)
@_errors
def worker(storage: str, study_name: str, n_trials: int | None, timeout: float | None, data: str | None,
           backend: str | None, quiet: bool, **parallel: Any) -> None:
    """Join a study from this host: its space, data and sampler come from the store.

    Start one per machine (each uses its local GPUs); the budget is global: never more
    than --trials trials finish, whatever the number of workers.
    """
    from automl._keys import ATTR
    from automl._plan import ParallelSettings, SearchSettings
    from automl._search import plan_search, run_plan
    from automl.storage import load_study

    _writable(storage)
    store = _open(storage)  # once: planning and running use it again
    st = load_study(store, study_name)
    attrs = st.user_attrs
    if n_trials is None:
        n_trials = attrs.get(f"{ATTR}n_trials")
        if n_trials is None:
            raise UsageError(f"study {study_name!r} has no stored budget; pass --trials")
    kind = engines.engine_kind(attrs.get(f"{ATTR}engine", engines.DEFAULT_ENGINE))
    # No stored seed: workers on several hosts seeded alike would propose the same values.
    kwargs: dict[str, Any] = {"engine": kind.name, "seed": None, **kind.code().from_study(attrs)}
    settings = SearchSettings(n_trials=int(n_trials), timeout=timeout, storage=storage, study_name=study_name,
                              backend=backend, retries=parallel.pop("retries"), heartbeat_s=parallel.pop("heartbeat_s"),
                              **kwargs)
    result = run_plan(plan_search(None, data, settings, ParallelSettings(**parallel), flags=True, store=store))
    if result.already_done:
        _err.print(_nothing_to_run(result), highlight=False, soft_wrap=True)
        return
    # Counted as the budget counts (a failed trial that was retried is not), not rows.
    _err.print(f"worker done: ran {result.ran} trials; the study holds {result.finished} of {result.n_trials}",
               highlight=False)


def _nothing_to_run(result: Any) -> str:
    """What to say when the study already holds its budget, instead of an empty progress bar."""
    held = (f"{result.finished} of {result.n_trials} trials" if result.finished == result.n_trials
            else f"{result.finished} trials, more than --trials {result.n_trials}")
    return (f"study {result.study_name} already holds {held}: nothing to run; pass --trials N with "
            f"N > {result.finished} to continue")


def _open(storage: str | None) -> Any:
    from automl.storage import open_storage, resolve_url

    return open_storage(resolve_url(storage), must_exist=True)


def _writable(storage: str | None) -> None:
    """Refuse a command that writes on a store that is read-only here (it is opened for reading
    only, and the first write would end in SQLite's traceback)."""
    from automl.storage import resolve_url, sqlite_path
    from automl.storage._url import read_only

    path = sqlite_path(resolve_url(storage))
    if path is not None and path.is_file() and read_only(path):
        raise UsageError(f"the store {path} is read-only here (read-only media, or no write permission on the "
                         f"file or its folder): studies, trials, best, report, export and evaluate read it, "
                         f"nothing can change it")


# The commands that read the store (and export, report, serve it) live beside this module;
# importing it registers them on the group.
from automl import _cli_results  # noqa: E402,F401


def main() -> None:
    cli(prog_name="automl")
