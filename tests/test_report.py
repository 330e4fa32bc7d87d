"""``automl report`` as a person reads it, on the store of a tiny real search.

One module store holds a single-objective study whose trials completed, were pruned and
failed, and a two-objective study; each test reads it (none writes to it).
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

import automl
from automl.engines import ATTR
from automl.engines._record import history_of
from tests.conftest import TINY_SPACE

pytestmark = pytest.mark.slow

_BASE = {"layer0.units": 8, "layer0.activation": "tanh", "layer1.rate": 0.3, "optimizer": "sgd", "sgd.momentum": 0.0}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'store.db'}"
    space = copy.deepcopy(TINY_SPACE)
    automl.search(space, "digits", n_trials=4, storage=url, study_name="single", seed=0, pruner="median")
    study = optuna.load_study(study_name="single", storage=url)
    with warnings.catch_warnings():  # 1e30 is outside the space's range, on purpose
        warnings.simplefilter("ignore", UserWarning)
        study.enqueue_trial({**_BASE, "learning_rate": 0.001})  # learns nothing in an epoch: pruned
        # The loss overflows at once: failed, with its reason.
        study.enqueue_trial({**_BASE, "layer0.units": 32, "layer0.activation": "relu", "layer1.rate": 0.0,
                             "learning_rate": 1e30})
        automl.search(space, "digits", n_trials=6, storage=url, study_name="single", seed=0, pruner="median")
    two = dict(space, objective=[{"metric": "val_accuracy"}, {"metric": "val_loss"}])
    automl.search(two, "digits", n_trials=3, storage=url, study_name="multi", seed=0)
    return url


@pytest.fixture(scope="module")
def single(store: str) -> Any:
    study = optuna.load_study(study_name="single", storage=store)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4 + ["PRUNED", "FAIL"]
    return study


@pytest.fixture(scope="module")
def multi(store: str) -> Any:
    return optuna.load_study(study_name="multi", storage=store)


@pytest.fixture(scope="module")
def page(single: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    from automl._report import write_report

    out = tmp_path_factory.mktemp("page") / "single.html"
    drawn = write_report(single, out)
    for title in ("Learning curves", "Optimization history", "Parameter importances", "Slice", "Contour",
                  "Parallel coordinates", "Timeline"):
        assert title in drawn
    return out.read_text()


def _section(page: str, anchor: str) -> str:
    found = re.search(rf"<section id='{anchor}'>(.*?)</section>", page, re.DOTALL)
    assert found, f"no section {anchor}"
    return found[1]


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.DOTALL)
    assert found, pattern
    return found[1]


def _text(fragment: str) -> str:
    import html

    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def test_a_search_names_its_metrics_for_the_dashboard(single: Any, multi: Any) -> None:
    assert single.metric_names == ["val_accuracy"]
    assert multi.metric_names == ["val_accuracy", "val_loss"]


def test_a_study_made_before_metric_names_gets_them_when_resumed(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    space = dict(copy.deepcopy(TINY_SPACE), objective=[{"metric": "val_accuracy"}, {"metric": "params_count"}])
    automl.search(space, "digits", n_trials=1, storage=url, study_name="old", epochs=1, seed=0)
    engine = sa.create_engine(url)
    with engine.begin() as con:  # as a study made by an older automl
        con.execute(sa.text("DELETE FROM study_system_attributes WHERE key = 'study:metric_names'"))
    engine.dispose()
    assert optuna.load_study(study_name="old", storage=url).metric_names is None
    automl.search(None, None, n_trials=2, storage=url, study_name="old")
    assert optuna.load_study(study_name="old", storage=url).metric_names == ["val_accuracy", "params_count"]


def test_best_trial_card_with_its_reusable_configuration_and_export_command(single: Any, page: str) -> None:
    import html

    import yaml

    from automl.space import FixedHP, parse_space

    best = single.best_trial
    card = _section(page, "best-trial")
    assert f"Trial #{best.number}" in card
    text = _text(card)
    assert f"automl export single --trial {best.number} --out model.keras" in text
    size = f"{best.user_attrs[f'{ATTR}params_count']:,}"
    for fact in ("val_accuracy", f"{best.value:.4g}", "epochs", "parameters", size,
                 "duration", "device", "cpu"):
        assert fact in text, fact
    config = yaml.safe_load(html.unescape(_match(r"<pre class='yaml'>(.*?)</pre>", card)))
    # A space whose every value is fixed: it draws exactly the best trial's configuration.
    space = parse_space(config)
    assert space.sample(FixedHP({})) == best.system_attrs[f"{ATTR}config"]
    assert space.objective.metric == "val_accuracy"


def test_failed_trials_are_listed_with_their_reasons(single: Any, page: str) -> None:
    [failed] = [t for t in single.trials if t.state.name == "FAIL"]
    rows = re.findall(r"<tr>(.*?)</tr>", _section(page, "failed-trials"), re.DOTALL)
    assert len(rows) == 1 + 1  # header, the failed trial
    row = _text(rows[1])
    assert row.startswith(f" {failed.number} ") and "NaN or infinite loss at epoch 1" in row
    assert failed.user_attrs[f"{ATTR}error"] in row


def _curves(study: Any, top: int = 5) -> Any:
    from automl._report._format import Objectives
    from automl._report._plots import learning_curves

    return learning_curves(study, Objectives(study), top)


def _rounded(values: list[float]) -> tuple[float, ...]:
    return tuple(float(f"{v:.4g}") for v in values)


def _by_trial(fig: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for trace in fig.data:
        groups.setdefault(trace.legendgroup, []).append(trace)
    return groups


def test_curves_of_every_trial_pruned_ones_included_one_colour_per_trial(single: Any, page: str) -> None:
    fig = _curves(single)
    groups = _by_trial(fig)
    drawn = [t for t in single.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert sorted(groups) == sorted(str(t.number) for t in drawn)
    colours = {n: {tr.line.color for tr in traces} for n, traces in groups.items()}
    assert all(len(c) == 1 for c in colours.values()), colours  # train and val traces of one trial share it
    assert len({c.pop() for c in colours.values()}) == len(groups)  # and no two trials share one
    for t in drawn:
        hist = history_of(t)
        ys = {tuple(tr.y) for tr in groups[str(t.number)]}
        # validation and training, of the objective and of the loss
        assert {_rounded(hist[k]) for k in ("val_accuracy", "accuracy", "val_loss", "loss")} == ys
        assert sum(1 for tr in groups[str(t.number)] if tr.showlegend) == 1
    [pruned] = [t for t in drawn if t.state.name == "PRUNED"]
    assert "pruned" in groups[str(pruned.number)][0].name
    # The page holds that figure: the pruned trial's curve is in the plotly JSON.
    curves = _section(page, "learning-curves")
    data = json.loads(_match(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", curves))
    assert {d["name"] for d in data} >= {f"#{pruned.number} pruned"}


def test_numbers_in_tables_have_at_most_4_significant_digits(page: str) -> None:
    tables = re.findall(r"<table.*?</table>", page, re.DOTALL)
    assert len(tables) >= 4  # card parameters, top, all trials, failed, settings
    numbers = re.findall(r"\d[\d,]*\.\d+(?:e[+-]?\d+)?", " ".join(_text(t) for t in tables))
    assert numbers
    for n in numbers:
        mantissa = n.replace(",", "").split("e")[0].replace(".", "").lstrip("0")
        assert len(mantissa) <= 4, n
    assert "val_accuracy (max)" in _section(page, "top-trials")


def test_top_table_shows_epochs_size_and_duration(single: Any, page: str) -> None:
    top = _section(page, "top-trials")
    header = _text(_match(r"<tr>(.*?)</tr>", top))
    for column in ("val_accuracy (max)", "epochs", "parameters", "duration", "device", "learning_rate"):
        assert column in header
    first = _text(re.findall(r"<tr>(.*?)</tr>", top, re.DOTALL)[1]).split()
    assert first[:3] == [str(single.best_trial.number), "complete", f"{single.best_value:.4g}"]


def test_multi_objective_report_has_curves_of_each_objective_and_a_pareto_table(multi: Any, tmp_path: Path) -> None:
    from automl._report import write_report

    fig = _curves(multi)
    titles = [a.text for a in fig.layout.annotations]
    assert any("val_accuracy (max)" in t for t in titles) and any("val_loss (min)" in t for t in titles)
    for t in multi.trials:
        ys = {tuple(tr.y) for tr in _by_trial(fig)[str(t.number)]}
        assert _rounded(history_of(t)["val_accuracy"]) in ys
        assert _rounded(history_of(t)["val_loss"]) in ys
    drawn = write_report(multi, tmp_path / "multi.html")
    assert {"Learning curves", "Pareto front", "Parallel coordinates"} <= set(drawn)
    page = (tmp_path / "multi.html").read_text()
    pareto = _section(page, "pareto-front-trials")
    header = _text(_match(r"<tr>(.*?)</tr>", pareto))
    assert "val_accuracy (max)" in header and "val_loss (min)" in header
    rows = [_text(r).split()[0] for r in re.findall(r"<tr>(.*?)</tr>", pareto, re.DOTALL)[1:]]
    assert sorted(int(n) for n in rows) == sorted(t.number for t in multi.best_trials)
    assert "Objective 0" not in _text(re.sub(r"<script.*?</script>", "", page.split("<body>")[1], flags=re.DOTALL))


def test_contour_colours_are_darkest_where_best_for_several_objectives(multi: Any) -> None:
    import optuna.visualization as vis

    from automl._report._format import Objectives
    from automl._report._plots import fix_scale, target_kw

    obj = Objectives(multi)
    fig = fix_scale(vis.plot_contour(multi, params=["layer0.units", "layer1.rate"], **target_kw(obj)), obj)
    contours = [tr for tr in fig.data if tr.type == "contour"]
    # val_accuracy is maximized: high values dark, unlike Optuna's (which reverses for any target)
    assert contours and all(tr.reversescale is False for tr in contours)


def test_external_plotly_is_written_once_beside_the_reports(store: str, single: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from automl._report import write_report
    from automl.cli import cli

    write_report(single, tmp_path / "a.html", plotly="external")
    js = tmp_path / "plotly.min.js"
    first = js.stat()
    assert first.st_size > 1_000_000
    r = CliRunner().invoke(cli, ["report", "multi", "--storage", store, "--out", str(tmp_path / "b.html"),
                                 "--plotly", "external"])
    assert r.exit_code == 0, r.output
    again = js.stat()
    assert (again.st_mtime_ns, again.st_ino) == (first.st_mtime_ns, first.st_ino)  # not written again
    for name in ("a.html", "b.html"):
        html = (tmp_path / name).read_text()
        assert "<script charset='utf-8' src='plotly.min.js'></script>" in html
        assert len(html) < 1_000_000  # the bundle is not inlined
    write_report(single, tmp_path / "c.html", plotly="cdn")
    assert "https://cdn.plot.ly/plotly-" in (tmp_path / "c.html").read_text()
    inline = tmp_path / "d.html"
    write_report(single, inline)
    assert inline.stat().st_size > first.st_size and "src='plotly.min.js'" not in inline.read_text()


def _study_of(trials: list[Any], n_params: int) -> Any:
    """A study in memory as automl writes one, holding ``trials``."""
    study = optuna.create_study(study_name="few", direction="maximize")
    for k, v in {"objective": "val_accuracy", "direction": "maximize", "engine": "optuna"}.items():
        study.set_user_attr(f"{ATTR}{k}", v)
    dist: dict[str, optuna.distributions.BaseDistribution] = {
        f"p{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(n_params)}
    for state, value in trials:
        study.add_trial(optuna.trial.create_trial(
            state=state, value=value, params={k: 0.5 for k in dist}, distributions=dist,
            user_attrs={f"{ATTR}history": {"val_accuracy": [0.3, 0.5], "loss": [2.0, 1.0]},
                        f"{ATTR}error": "out of memory" if state == optuna.trial.TrialState.FAIL else None},
            intermediate_values={1: 0.3, 2: 0.5} if value is not None else {}))
    return study


@pytest.mark.parametrize("case", ["no trial", "one failed", "one complete", "two complete, one param",
                                  "no param"])
def test_studies_with_too_few_trials_or_params_still_get_a_report(case: str, tmp_path: Path) -> None:
    from automl._report import write_report

    S = optuna.trial.TrialState
    cases: dict[str, tuple[list[Any], int]] = {
        "no trial": ([], 2), "one failed": ([(S.FAIL, None)], 2), "one complete": ([(S.COMPLETE, 0.5)], 3),
        "two complete, one param": ([(S.COMPLETE, 0.5), (S.COMPLETE, 0.6)], 1),
        "no param": ([(S.COMPLETE, 0.5), (S.COMPLETE, 0.6)], 0)}
    trials, n_params = cases[case]
    out = tmp_path / "few.html"
    drawn = write_report(_study_of(trials, n_params), out, plotly="cdn")
    page = out.read_text()
    assert "<h1>automl report: study few</h1>" in page
    if case == "one failed":
        assert "out of memory" in _section(page, "failed-trials")
    if trials and trials[0][0] == S.COMPLETE:
        assert "Learning curves" in drawn and "Contour" not in drawn
    else:  # nothing to plot but when the failed trial ran
        assert drawn == (["Timeline"] if trials else []) and "Not drawn" in page



def test_contour_of_a_large_study_stays_small() -> None:
    import random

    import optuna.visualization as vis

    from automl._report._plots import coarse

    rng = random.Random(0)
    study = optuna.create_study(direction="maximize")
    dist: dict[str, optuna.distributions.BaseDistribution] = {
        "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
        "rate": optuna.distributions.FloatDistribution(0.0, 0.5),
        "units": optuna.distributions.IntDistribution(8, 1024, step=8)}
    for _ in range(300):
        study.add_trial(optuna.trial.create_trial(
            value=rng.random(), distributions=dist,
            params={"lr": 10 ** rng.uniform(-4, -1), "rate": rng.uniform(0, 0.5), "units": rng.randrange(8, 1025, 8)}))
    grid, snapped = coarse(study, ["lr", "rate", "units"])
    assert snapped and len(grid.trials) == 300
    for name in dist:
        assert len({t.params[name] for t in grid.trials}) <= 40
    fig = vis.plot_contour(grid, params=["lr", "rate", "units"])
    assert all(len(tr.z) <= 42 for tr in fig.data if tr.type == "contour")
    assert coarse(grid, ["lr", "rate"]) == (grid, False)  # few distinct values: the study itself
