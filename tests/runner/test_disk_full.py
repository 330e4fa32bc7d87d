"""A full disk: the checkpoint folder's costs a trial its weights, not its result; the
store's stops the search with one line. Each disk is a small tmpfs filled mid-search."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

import automl
from automl.engines import ATTR
from automl.runner import SearchObserver

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here: {made.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> None:
    with (disk / "filler").open("ab") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


class _FillAt(SearchObserver):
    def __init__(self, disk: Path, moment: str) -> None:
        self.disk, self.moment = disk, moment

    def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None:
        if self.moment == "start":
            _fill(self.disk)

    def on_trial_end(self, spec: Any, outcome: Any) -> None:
        if self.moment == "first trial" and not (self.disk / "filler").exists():
            _fill(self.disk)


def test_a_full_checkpoint_disk_keeps_the_trained_result(tiny_space: dict[str, Any], store: str, small_disk: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An unguarded save_weights once left the trained trial 'worker died: exit code 1'."""
    monkeypatch.setenv("AUTOML_CACHE", str(small_disk))
    automl.search(tiny_space, "digits", n_trials=2, storage=store, study_name="c", workers=2, gpus="none", epochs=1,
                  seed=0, observer=_FillAt(small_disk, "start"))
    trials = optuna.load_study(study_name="c", storage=store).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.value is not None and f"{ATTR}error" not in t.user_attrs
        assert t.user_attrs[f"{ATTR}warning"].startswith("weights not kept:")
        assert "No space left on device" in t.user_attrs[f"{ATTR}warning"] or "write" in t.user_attrs[f"{ATTR}warning"]
    assert not list(small_disk.rglob("*.weights.h5"))  # no partial files left


def test_a_full_store_disk_stops_the_search_with_one_line(tiny_space: dict[str, Any], small_disk: Path) -> None:
    from automl.storage._errors import StoreFailure

    store = f"sqlite:///{small_disk / 'store.db'}"
    with pytest.raises(StoreFailure) as e:
        automl.search(tiny_space, "digits", n_trials=4, storage=store, study_name="s", epochs=1, seed=0,
                      observer=_FillAt(small_disk, "first trial"))
    message = str(e.value)
    assert "\n" not in message and "database or disk is full" in message, message
    assert "run the same command to continue" in message
    (small_disk / "filler").unlink()
    trials = optuna.load_study(study_name="s", storage=store).trials
    assert trials[0].state == optuna.trial.TrialState.COMPLETE  # what was recorded before stays
