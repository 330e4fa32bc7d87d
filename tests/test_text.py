"""Text stored for trials carries no terminal escape codes."""

from __future__ import annotations

import optuna

from automl._text import strip_ansi
from automl.engines import ATTR, TrialOutcome
from automl.engines._record import finish_trial

KERAS_ERROR = ("\x1b[1mValueError\x1b[0m: Exception encountered when calling Dense.call().\n\n"
               "\x1b[1mInvalid input shape \x1b[31m(None, 3)\x1b[0m\x1b[39m\x1b]8;;https://keras.io\x1b\\docs\x1b]8;;\x1b\\")


def test_strip_ansi_keeps_the_words_only() -> None:
    assert strip_ansi(KERAS_ERROR) == ("ValueError: Exception encountered when calling Dense.call().\n\n"
                                       "Invalid input shape (None, 3)docs")
    assert strip_ansi("plain [brackets] stay") == "plain [brackets] stay"
    assert strip_ansi(None) is None


def test_a_failed_trial_records_its_error_without_colour_codes() -> None:
    study = optuna.create_study()
    trial = study.ask()
    finish_trial(study, trial, TrialOutcome("failed", error=KERAS_ERROR), "val_accuracy")
    error = study.trials[0].user_attrs[f"{ATTR}error"]
    assert "\x1b" not in error and error.startswith("ValueError: Exception encountered")


def test_the_trials_table_shows_errors_as_plain_text() -> None:
    # A store written before errors were stripped, and an error whose brackets look like markup.
    import io

    from rich.console import Console

    from automl._tables import trials_csv, trials_table
    from automl.storage import TrialRow

    row = TrialRow(0, "FAIL", None, {"units": 8}, 1.0, 0, None, "\x1b[31mshape [None, 3] is not [/units]\x1b[0m")
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(trials_table([row], "t"))
    assert "shape [None, 3] is not [/units]" in out.getvalue() and "\x1b" not in out.getvalue()
    assert "\x1b" not in trials_csv([row])
