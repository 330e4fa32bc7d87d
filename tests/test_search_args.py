"""automl.search's arguments: a wrong type or range is automl's UsageError naming the argument."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl._search import check_data_arguments, check_search_arguments, check_space_arguments, search
from automl.errors import UsageError

BAD = {
    "seed": ("abc", "seed must be an integer (got 'abc')"),  # NumPy's TypeError before
    "data_seed": (1.5, "data_seed must be an integer (got 1.5)"),
    "val_split": ("0.2", "val_split must be a finite number (got '0.2')"),
    "test_split": (-0.1, "test_split must be ≥ 0 and below 1 (got -0.1)"),
    "epochs": (0, "epochs must be ≥ 1 (got 0)"),
    "batch_size": (2.0, "batch_size must be an integer (got 2.0)"),
    "workers": ("2", "workers must be an integer (got '2')"),
    "n_trials": (True, "n_trials must be an integer (got True)"),
    "retries": (-1, "retries must be ≥ 0 (got -1)"),
    "timeout": (float("inf"), "timeout must be a finite number (got inf)"),
    "trial_timeout": (0, "trial_timeout must be above 0 (got 0)"),
    "heartbeat_s": (None, "heartbeat_s must be a finite number (got None)"),
    "trials_per_gpu": (0, "trials_per_gpu must be ≥ 1 (got 0)"),
    "keep_weights": ("no", "keep_weights must be True or False (got 'no')"),
    "study_name": (3, "study_name must be a string (got 3)"),
    "gpus_per_trial": (0, "gpus_per_trial must be ≥ 1 (got 0)"),
    "artifacts": ("s3://bucket/w", "artifacts at s3://bucket/w: only a folder is supported (a path every host "
                                   "reaches, such as a shared filesystem); object stores are not yet"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_argument_is_a_usage_error_and_writes_nothing(tmp_path: Path, name: str) -> None:
    value, words = BAD[name]
    with pytest.raises(UsageError) as e:
        search("demo", "digits", storage=f"sqlite:///{tmp_path / 's.db'}", **{name: value})
    assert str(e.value) == words
    assert not list(tmp_path.iterdir())


def test_the_command_line_names_its_flags_and_numpy_integers_pass() -> None:
    with pytest.raises(UsageError, match="^--trials must be ≥ 1"):
        check_search_arguments(n_trials=0, flags=True)
    with pytest.raises(UsageError, match="^--heartbeat must be above 0"):
        check_search_arguments(heartbeat_s=0, flags=True)
    with pytest.raises(UsageError, match="^--epochs must be ≥ 1"):
        check_space_arguments(epochs=0, flags=True)
    # the validation split is a share of what the test split leaves: 0.8 of 0.8, 16 % left to train
    assert check_data_arguments(val_split=0.8, test_split=0.2) == (0.8, 0.2, 0, None)
    ok: dict[str, Any] = {"seed": np.int64(3), "n_trials": np.int32(2), "workers": None, "timeout": 1}
    check_search_arguments(**ok)
    assert check_data_arguments(val_split=0.5, test_split=0.25, data_seed=np.int64(7)) == (0.5, 0.25, 7, None)


def test_a_trial_on_several_gpus_needs_jax() -> None:
    with pytest.raises(UsageError, match="^--gpus-per-trial 2 trains each trial data-parallel .* add --backend jax"):
        check_search_arguments(gpus_per_trial=2, backend="tensorflow", flags=True)
    check_search_arguments(gpus_per_trial=2, backend="jax")
