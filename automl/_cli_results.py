"""The ``automl`` commands that read a store: list, show, serve, report, export and score
its studies (registered on :data:`automl.cli.cli` when that module is imported)."""

from __future__ import annotations

import json

import click

from automl.cli import _STORAGE, _err, _errors, _open, _out, _writable, cli
from automl.errors import UsageError


@cli.command()
@_STORAGE
@click.option("--format", "fmt_", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_errors
def studies(storage: str | None, fmt_: str) -> None:
    """List the studies in the store."""
    from dataclasses import asdict

    from automl._tables import studies_table
    from automl.storage import list_studies, read_store, redact, resolve_url

    rows = list_studies(read_store(resolve_url(storage)))
    if fmt_ == "json":
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        _out.print(studies_table(rows, f"studies in {redact(resolve_url(storage))}"))


@cli.command()
@click.argument("study")
@_STORAGE
@click.option("--format", "fmt_", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--top", type=int, default=None, help="Only the best N rows.")
@_errors
def trials(study: str, storage: str | None, fmt_: str, top: int | None) -> None:
    """The leaderboard of STUDY: complete trials best first, then pruned, failed, running."""
    from automl._tables import trials_csv, trials_json, trials_table
    from automl._keys import ATTR
    from automl.storage import leaderboard, pareto_front, read_store, resolve_url

    (st,) = read_store(resolve_url(storage), study)
    rows = leaderboard(st, top)
    objective = st.user_attrs.get(f"{ATTR}objective", "value")
    if fmt_ == "csv":
        click.echo(trials_csv(rows, objective), nl=False)
    elif fmt_ == "json":
        click.echo(trials_json(rows))
    else:
        front = {r.number for r in pareto_front(st)}
        _out.print(trials_table(rows, f"study {study}", objective, front=front))


@cli.command()
@click.argument("study")
@_STORAGE
@_errors
def best(study: str, storage: str | None) -> None:
    """The best trial of STUDY as JSON: number, value, params (several objectives: the Pareto front)."""
    from automl._keys import ATTR
    from automl.storage import best_trial, pareto_front, read_store, resolve_url

    (st,) = read_store(resolve_url(storage), study)
    if len(st.directions) > 1:
        front = pareto_front(st)
        if not front:
            raise UsageError(f"study {study!r} has no complete trial yet")
        click.echo(json.dumps({"study": study, "objectives": st.user_attrs.get(f"{ATTR}objective", "").split(","),
                               "directions": st.directions,
                               "pareto_front": [{"number": r.number, "values": r.values, "params": r.params}
                                                for r in front]}, indent=2))
        return
    row = best_trial(st)
    if row is None:
        raise UsageError(f"study {study!r} has no complete trial yet")
    objective = st.user_attrs.get(f"{ATTR}objective")
    click.echo(json.dumps({"study": study, "number": row.number, "objective": objective,
                           "direction": st.directions[0], "value": row.value,
                           "metrics": {k: v for k, v in row.metrics.items() if k != objective},
                           "params": row.params},
                          indent=2))


@cli.command()
@_STORAGE
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@_errors
def dashboard(storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the store (Ctrl-C stops it)."""
    try:
        import optuna_dashboard
    except ImportError:
        raise UsageError("the dashboard needs optuna-dashboard: pip install 'automl[dashboard]'") from None
    from automl.storage import redact, resolve_url

    from automl.storage._artifacts import dashboard_artifacts

    store = _open(storage)
    _check_port_free(host, port)
    artifacts, location = dashboard_artifacts(store, resolve_url(storage))
    _err.print(f"optuna-dashboard on http://{host}:{port}/ for {redact(resolve_url(storage))}"
               + (f", trial weights from {location}" if location else ""), highlight=False)
    optuna_dashboard.run_server(store, host=host, port=port, artifact_store=artifacts)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port another program holds before saying "listening" (the server's own
    failure is a 50-line traceback after that line)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no use
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UsageError(f"cannot serve on {host}:{port} ({e.strerror or e}): another program uses it; "
                             f"choose another with --port") from None


@cli.command()
@click.argument("study")
@_STORAGE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_errors
def delete(study: str, storage: str | None, yes: bool) -> None:
    """Delete STUDY from the store, with its saved checkpoints and artifacts."""
    import optuna

    from automl._paths import checkpoint_dir, remove_checkpoints
    from automl.engines._record import study_state
    from automl.storage import load_study, resolve_url
    from automl.storage._artifacts import here, remove_artifacts
    from automl.storage._schema import forget

    _writable(storage)
    store = _open(storage)
    st = load_study(store, study)
    if not yes:
        click.confirm(f"delete study {study!r} and its {len(st.trials)} trials?", abort=True, err=True)
    location = here(study_state(st, "artifacts"))
    trials = st.get_trials(deepcopy=False)
    optuna.delete_study(study_name=study, storage=store)
    forget(store.engine, study)  # a new study of that name starts with its own budget
    url = resolve_url(storage)
    removed = remove_checkpoints(url, study)
    artifacts = remove_artifacts(trials, location)
    what = [str(checkpoint_dir(url, study, create=False))] if removed else []
    what += [f"{artifacts} artifacts from {location}"] if artifacts else []
    _err.print(f"deleted study {study}" + (f" and {' and '.join(what)}" if what else ""), highlight=False)


@cli.command()
@click.argument("study")
@_STORAGE
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="[default: STUDY-report.html]")
@click.option("--top", type=int, default=5, show_default=True,
              help="Trials in the top table, drawn bold in the learning curves.")
@click.option("--plotly", "plotly_js", type=click.Choice(["inline", "external", "cdn"]), default="inline",
              show_default=True, help="plotly.js inlined (offline, ~5 MB), external (plotly.min.js written once "
                                      "beside the report, shared by a folder's reports) or from its CDN.")
@_errors
def report(study: str, storage: str | None, out: str | None, top: int, plotly_js: str) -> None:
    """Write one self-contained HTML report of STUDY (history, importances, curves...)."""
    from pathlib import Path

    from automl._report import write_report
    from automl.storage import load_study

    try:
        import plotly  # noqa: F401
    except ImportError:
        raise UsageError("the report needs plotly: pip install 'automl[report]'") from None
    st = load_study(_open(storage), study)
    path = Path(out or f"{study}-report.html")
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    drawn = write_report(st, path, top, plotly=plotly_js)
    _err.print(f"wrote {path} ({', '.join(drawn) or 'no plots: the study has no complete trial'})", highlight=False)


@cli.command()
@click.argument("study")
@_STORAGE
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to write the model (.keras).")
@click.option("--trial", "number", type=int, default=None, help="Trial number [default: the best].")
@click.option("--retrain", is_flag=True, help="Train the trial's configuration again on train + validation.")
@click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None)
@_errors
def export(study: str, storage: str | None, out: str, number: int | None, retrain: bool,
           backend: str | None) -> None:
    """Write a trial's model as a .keras file that keras.saving.load_model reads."""
    from pathlib import Path

    from automl._export import export_model
    from automl.storage import load_study, resolve_url

    st = load_study(_open(storage), study)
    if not retrain:
        trial = export_model(st, resolve_url(storage), Path(out), number, backend=backend)
        _err.print(f"wrote {out}: trial #{trial.number} ({trial.value:.4f} on validation)", highlight=False)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    last: dict[str, float] = {}
    with Progress(TextColumn("retraining"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), console=_err, transient=True) as bar:
        task = bar.add_task("epochs", total=None, status="")

        def on_epoch(epoch: int, epochs: int, metrics: dict[str, float]) -> None:
            last.clear()
            last.update(metrics, epochs=epochs)
            bar.update(task, total=epochs, completed=epoch, status=f"loss {metrics.get('loss', float('nan')):.4f}")

        trial = export_model(st, resolve_url(storage), Path(out), number, retrain=True, backend=backend,
                             on_epoch=on_epoch)
    _err.print(f"wrote {out}: trial #{trial.number} (retrained on train + validation: {int(last.get('epochs', 0))} "
               f"epochs, final loss {last.get('loss', float('nan')):.4f})", highlight=False)


@cli.command()
@click.argument("study")
@_STORAGE
@click.option("--data", default=None, help="Data holding the test split [default: the study's].")
@click.option("--trial", "number", type=int, default=None, help="Trial number [default: the best].")
@click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None)
@_errors
def evaluate(study: str, storage: str | None, data: str | None, number: int | None, backend: str | None) -> None:
    """Score a trial's kept model on the held-out test split, as JSON."""
    from automl._export import evaluate_model
    from automl.storage import load_study, resolve_url

    st = load_study(_open(storage), study)
    click.echo(json.dumps(evaluate_model(st, resolve_url(storage), data, number, backend=backend), indent=2))


@cli.command()
@click.argument("study")
@_STORAGE
@click.option("--data", required=True, help="Samples to predict: a .csv (the study's feature columns), .npz or .npy.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to write the predictions (.csv).")
@click.option("--trial", "number", type=int, default=None, help="Trial number [default: the best].")
@click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None)
@_errors
def predict(study: str, storage: str | None, data: str, out: str, number: int | None, backend: str | None) -> None:
    """Predict --data with a trial's kept model: class names and probabilities, or values in the targets' units."""
    from pathlib import Path

    from automl._predict import predict_study, write_csv
    from automl.storage import load_study, resolve_url

    path = Path(out)
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist")
    st = load_study(_open(storage), study)
    columns = predict_study(st, resolve_url(storage), data, number, backend=backend)
    write_csv(columns, path)
    rows = len(next(iter(columns.values()))) if columns else 0
    _err.print(f"wrote {out}: {rows} predictions ({', '.join(columns)})", highlight=False, soft_wrap=True)


@cli.command()
def spaces() -> None:
    """List the bundled search spaces."""
    from rich.table import Table

    from automl.space import catalog, load_space

    table = Table.grid(padding=(0, 2))  # descriptions wrap between words, beside their names
    table.add_column(no_wrap=True)
    table.add_column()
    for name, path in catalog().items():
        table.add_row(name, load_space(path).description)
    _out.print(table)
