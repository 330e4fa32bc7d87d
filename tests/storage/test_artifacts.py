"""Trial weights in Optuna's artifact store: a study searched with one host cache is
exported, evaluated and continued (Hyperband promotions) with another, the first removed;
deleting the study removes its artifacts."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import optuna
import pytest

import automl
from automl.storage._artifacts import artifact_location, default_location
from automl.storage._optuna_private import artifact_metas
from tests.conftest import TINY_YAML


def test_weights_trained_with_one_cache_export_and_evaluate_with_another(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    first = tmp_path / "cache-a"
    r = run_cli("search", "tiny.yaml", "--trials", "2", "--epochs", "1", "--seed", "0", "--test-split", "0.2", "-q",
                env={"AUTOML_CACHE": str(first)})
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'automl.db'}")
    folder = tmp_path / "automl-artifacts"
    linked = {m.artifact_id for t in study.trials for m in artifact_metas(t)}
    assert len(linked) == 2 and {p.name for p in folder.iterdir()} == linked  # one per trial, linked to it
    shutil.rmtree(first)  # the host that trained them is gone
    other = {"AUTOML_CACHE": str(tmp_path / "cache-b")}
    e = run_cli("export", "tiny", "--out", "best.keras", env=other)
    assert e.returncode == 0, e.stderr
    ev = run_cli("evaluate", "tiny", env=other)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["trial"] == study.best_trial.number
    # the local copy is kept in the new cache
    assert list((tmp_path / "cache-b").rglob(f"trial_{study.best_trial.number}.weights.h5"))
    d = run_cli("delete", "tiny", "--yes", env=other)
    assert d.returncode == 0, d.stderr
    assert "2 artifacts" in d.stderr and list(folder.iterdir()) == []


def test_hyperband_promotions_read_parents_trained_with_another_cache(tiny_space: dict[str, Any], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    space = copy.deepcopy(tiny_space)
    space["training"]["epochs"] = 3
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path / "cache-a"))
    automl.search(space, "digits", engine="kerastuner", algorithm="hyperband", n_trials=3, storage=url,
                  study_name="hb", seed=0)
    shutil.rmtree(tmp_path / "cache-a")
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path / "cache-b"))
    automl.search(None, "digits", engine="kerastuner", algorithm="hyperband", n_trials=6, storage=url,
                  study_name="hb", seed=0)
    trials = optuna.load_study(study_name="hb", storage=url).trials
    promoted = [t for t in trials[3:] if (t.user_attrs.get("automl:budget") or {}).get("trial_id")]
    assert promoted, "no promotion in the continued run"
    assert all(t.state.name == "COMPLETE" for t in trials), [(t.number, t.user_attrs.get("automl:error"))
                                                             for t in trials]
    number = {t.user_attrs["automl:kt_trial_id"]: t.number for t in trials}
    parents = {number[str(t.user_attrs["automl:budget"]["trial_id"])] for t in promoted}
    assert parents & {0, 1, 2}, parents  # a parent trained by the first run, in the removed cache


def test_where_the_artifacts_go() -> None:
    sqlite = "sqlite:///some/dir/x.db"
    assert default_location(sqlite) == str(Path("some/dir/x-artifacts").resolve())
    assert default_location("postgresql://u@h/db") is None and default_location("sqlite://") is None
    assert artifact_location(None, "postgresql://u@h/db", "/shared/a") == "/shared/a"  # what the study recorded
    assert artifact_location("~/w", sqlite, "/shared/a") == str(Path("~/w").expanduser().resolve())  # given wins


def test_a_study_keeps_its_artifact_folder_and_a_host_without_it_says_so(tiny_space: dict[str, Any], tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.errors import UsageError
    from automl.storage._artifacts import here, put_weights

    url = f"sqlite:///{tmp_path / 'k.db'}"
    automl.search(tiny_space, "digits", n_trials=1, epochs=1, storage=url, study_name="k", seed=0)
    with pytest.raises(UsageError, match=f"keeps its trials' weights in {tmp_path / 'k-artifacts'}, not "):
        automl.search(None, n_trials=2, storage=url, study_name="k", artifacts=str(tmp_path / "elsewhere"))
    assert not (tmp_path / "elsewhere").exists()
    # a process on a host that does not mount the folder keeps the trial, says why
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"weights")
    why = put_weights(str(tmp_path / "not-mounted"), "id", str(weights))
    assert why and "does not exist on" in why and "AUTOML_ARTIFACTS" in why
    assert not (tmp_path / "not-mounted").exists()
    monkeypatch.setenv("AUTOML_ARTIFACTS", str(tmp_path / "mounted-here"))
    assert here(None) is None and here("/shared/a") == str(tmp_path / "mounted-here")
