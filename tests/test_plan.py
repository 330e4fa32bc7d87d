"""A search's plan and its run: a process opens its store once, whether it starts a study,
continues one, or joins one with `automl worker`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

import automl


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every RDBStorage this process creates, by URL."""
    made: list[str] = []
    real = optuna.storages.RDBStorage.__init__

    def counted(self: Any, url: str, *args: Any, **kwargs: Any) -> None:
        made.append(url)
        real(self, url, *args, **kwargs)

    monkeypatch.setattr(optuna.storages.RDBStorage, "__init__", counted)
    return made


def test_a_search_started_continued_or_joined_opens_its_store_once(tiny_space: dict[str, Any], tmp_path: Path,
                                                                   opens: list[str]) -> None:
    from automl.cli import cli

    url = f"sqlite:///{tmp_path / 's.db'}"
    automl.search(tiny_space, "digits", n_trials=1, epochs=1, storage=url, study_name="s", seed=0)
    assert opens == [url]
    opens.clear()
    continued = automl.search(None, n_trials=2, storage=url, study_name="s")
    assert continued.ran == 1 and opens == [url]
    opens.clear()
    r = CliRunner().invoke(cli, ["worker", "--storage", url, "--study", "s", "--trials", "3", "-q"])
    assert r.exit_code == 0, r.output
    assert opens == [url]
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
