"""The registry of ``automl:*`` keys (automl/_keys.py) is what the stores hold and what
docs/architecture.md says they hold."""

from __future__ import annotations

import copy
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import automl
from automl._keys import ATTR, KEYS, attr, registered

DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _documented() -> set[tuple[str, str, bool]]:
    rows = set()
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\| (study|trial)( \(system\))? \| (.+?) \|", line)
        if m:
            for name in re.findall(r"`automl:([a-z_]+)`", m.group(3)):
                rows.add((m.group(1), name, bool(m.group(2))))
    return rows


def test_the_docs_table_lists_exactly_the_registered_keys() -> None:
    registry = {(k.on, k.name, k.system) for k in KEYS}
    documented = _documented()
    assert documented, "no key table found in docs/architecture.md"
    assert documented - registry == set(), "documented but not registered"
    assert registry - documented == set(), "registered but not documented"
    assert len(registry) == len(KEYS), "a key registered twice"


def test_a_key_not_registered_or_of_the_other_kind_is_refused() -> None:
    assert attr("trial", "history", system=True) == "automl:history"
    assert attr("study", "n_trials") == "automl:n_trials"
    with pytest.raises(KeyError, match="automl:histroy is not a registered trial system attribute"):
        attr("trial", "histroy", system=True)
    with pytest.raises(KeyError, match="not a registered trial user attribute"):
        attr("trial", "history")  # it is a system attribute
    with pytest.raises(KeyError, match="not a registered study user attribute"):
        attr("study", "epochs")  # a trial's


def _stored_keys(db: Path) -> set[tuple[str, str, bool]]:
    found = set()
    with sqlite3.connect(db) as con:
        for table, on, system in (("study_user_attributes", "study", False),
                                  ("study_system_attributes", "study", True),
                                  ("trial_user_attributes", "trial", False),
                                  ("trial_system_attributes", "trial", True)):
            for (key,) in con.execute(f"SELECT DISTINCT key FROM {table} WHERE key LIKE 'automl:%'"):
                found.add((on, key.removeprefix(ATTR), system))
    return found


@pytest.mark.parametrize("engine", ["optuna", "kerastuner"])
def test_every_key_a_real_search_writes_is_registered_as_written(engine: str, tiny_space: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    space = copy.deepcopy(tiny_space)
    # early stopping that always stops, so that its key is written too
    space["training"].update(epochs=3, early_stopping={"patience": 1, "min_delta": 1.0})
    db = tmp_path / "k.db"
    automl.search(space, "digits", engine=engine, n_trials=2, storage=f"sqlite:///{db}", study_name="k", seed=0)
    stored = _stored_keys(db)
    unregistered = {(on, name, system) for on, name, system in stored
                    if (k := registered(on, name)) is None or k.system != system}  # type: ignore[arg-type]
    assert unregistered == set()
    # the search really wrote the keys the check is about, of every kind
    assert {("trial", "history", True), ("trial", "config", True), ("trial", "epochs", False),
            ("trial", "stopped_early", False), ("study", "space", False), ("study", "task", True)} <= stored
    if engine == "kerastuner":
        assert {("trial", "kt_trial", True), ("trial", "budget", False), ("study", "kt_state", True)} <= stored
