"""The leaderboard and the study list as a person reads them, at 80 columns and wider."""

from __future__ import annotations

import io
import re

from rich.console import Console

from automl._tables import studies_table, trials_csv, trials_table
from automl.storage import StudyRow, TrialRow


def _render(renderable: object, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue().splitlines()


def _rows() -> list[TrialRow]:
    common = {"block0.rep0.activation": "relu", "batch_size": 64}
    return [
        TrialRow(7, "COMPLETE", 0.9749, {**common, "block0.rep0.units": 112, "learning_rate": 0.004123456789},
                 2.4, 8, 8410, None),
        TrialRow(3, "COMPLETE", 0.9721, {**common, "block0.rep0.units": 80, "learning_rate": 0.0213},
                 2.2, 8, 6010, None, continues=1),
        TrialRow(5, "FAIL", None, {**common, "block0.rep0.units": 96, "learning_rate": 0.1}, 0.3, 0, None,
                 "NaN or infinite loss at epoch 1", retry_of=None),
    ]


def test_at_80_columns_every_token_stays_whole_and_only_varying_parameters_show() -> None:
    lines = _render(trials_table(_rows(), "study demo", "val_accuracy"), 80)
    assert all(len(line) <= 80 for line in lines), lines
    text = "\n".join(lines)
    # 3 trials in 3 x 2 lines plus the title and the caption (the old table took 10 rows in 142 lines)
    assert len(lines) <= 9, text
    for token in ("block0.rep0.units=112", "learning_rate=0.004123", "block0.rep0.units=80", "(continues #1)",
                  "NaN or infinite loss at epoch 1"):
        assert token in text, token
    assert "val_accuracy 0.9749" in text and "8410 params" in text
    # what every trial shares is said once, below the trials
    assert lines[-1].startswith("same in every row: ") and "batch_size=64" in lines[-1]
    assert sum("batch_size" in line for line in lines) == 1


def test_wide_terminals_get_one_row_a_trial() -> None:
    lines = _render(trials_table(_rows(), "study demo", "val_accuracy"), 160)
    rows = [line for line in lines if re.match(r"\s+\d+\s+(COMPLETE|FAIL)", line)]
    assert len(rows) == 3 and "hyperparameters" in "\n".join(lines)


def test_several_objectives_each_have_a_column_and_the_front_is_marked() -> None:
    rows = [TrialRow(0, "COMPLETE", 0.97, {"u": 8}, 1.0, 2, 5962, None, values=[0.97, 5962.0]),
            TrialRow(1, "COMPLETE", 0.95, {"u": 16}, 1.0, 2, 9000, None, values=[0.95, 9000.0])]
    text = "\n".join(_render(trials_table(rows, "mo", "val_accuracy,params_count", front={0}), 160))
    header = next(line for line in text.splitlines() if "state" in line)
    assert "val_accuracy" in header and "params_count" in header
    assert "★0" in text and "★1" not in text and " / " not in text
    csv_lines = trials_csv(rows, "val_accuracy,params_count").splitlines()
    assert csv_lines[0].startswith("number,state,value_val_accuracy,value_params_count,")
    assert csv_lines[1].startswith("0,COMPLETE,0.97,5962.0,")


def test_study_names_are_never_cut() -> None:
    name = "an-experiment-with-a-rather-long-name-2026"
    rows = [StudyRow(name, "optuna", "tpe", "maximize", "val_accuracy", 20, 0, 0, 0, 0.97)]
    text = "\n".join(_render(studies_table(rows, "studies"), 80))
    assert name in text


def test_a_regression_leaderboard_shows_its_errors_in_target_units_beside_the_loss() -> None:
    """A regression study showed only its standardized val_loss (0.0259): the MAE and RMSE
    in the target's units, which a person reads, were in the history alone."""
    import datetime as dt

    from automl.storage import trial_row
    from automl.storage._snapshot import StoredTrial

    start = dt.datetime(2026, 12, 2, 1, 0, 0)
    history = {"loss": [0.9, 0.2, 0.3], "val_loss": [0.5, 0.03, 0.04], "val_mae": [9.0, 3.6, 3.9],
               "val_rmse": [12.0, 5.4, 5.8], "mae": [9.5, 3.0, 3.1]}
    t = StoredTrial(4, "COMPLETE", [0.03], {"units": 64}, start, start + dt.timedelta(seconds=3),
                    {"automl:epochs": 3}, {"automl:history": history})
    row = trial_row(t)
    # the epoch the value came from (the best one here, restored by early stopping), not the last
    assert row.metrics == {"val_mae": 3.6, "val_rmse": 5.4}
    text = "\n".join(_render(trials_table([row], "study reg", "val_loss"), 140))
    assert re.search(r"val_loss\s+val_mae\s+val_rmse", text) and re.search(r"0\.03\s+3\.6\s+5\.4", text), text
    assert "val_mae 3.6  val_rmse 5.4" in "\n".join(_render(trials_table([row], "study reg", "val_loss"), 80))
    header, first = trials_csv([row], "val_loss").splitlines()[:2]
    assert header.startswith("number,state,value,val_mae,val_rmse,epochs")
    assert first.startswith("4,COMPLETE,0.03,3.6,5.4,")
    # a classification study shows its objective once, and no loss beside it
    cls = trial_row(StoredTrial(1, "COMPLETE", [0.9], {}, start, start, {}, {"automl:history": {
        "val_loss": [0.3], "val_accuracy": [0.9]}}))
    assert re.search(r"#\s+state\s+val_accuracy\s+epochs", "\n".join(_render(trials_table([cls], "s", "val_accuracy"),
                                                                              140)))
