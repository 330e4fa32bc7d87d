"""The engine registry: every engine it holds is offered by the CLI and the API, what an
engine lacks is refused naming what to fix, and ``automl worker`` rebuilds each from a study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from automl._search import check_search_arguments
from automl.engines import _registry
from automl.engines._registry import EngineKind, engine_kind, engine_names, kinds
from automl.errors import UsageError

NAMES = engine_names()
# One option each engine lacks, and the words its refusal says it with.
LACKS = {
    "optuna": ({"algorithm": "bayesian"}, "--algorithm bayesian is a KerasTuner setting; Optuna takes tpe"),
    "kerastuner": ({"pruner": "median"}, "--pruner median is an Optuna setting; with KerasTuner use --algorithm "
                                         "hyperband"),
}


def test_the_built_in_engines_are_registered_and_each_has_its_hooks() -> None:
    assert set(NAMES) == {"optuna", "kerastuner"} == set(LACKS)
    for kind in kinds():
        code = kind.code()
        assert all(callable(getattr(code, hook)) for hook in ("check", "build", "from_study")), kind.name
        assert getattr(code, "KIND") is kind


def test_listing_the_engines_imports_no_engine_code() -> None:
    code = ("import sys\nfrom automl.engines import _registry as r\n"
            "r.engine_names(), r.sampler_choices(), r.pruner_choices(), r.algorithm_help()\n"
            "print(sorted(m for m in ('optuna', 'keras_tuner', 'keras', 'automl.engines._optuna', "
            "'automl.engines._kerastuner', 'automl.space') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_every_engine_is_offered_by_the_cli_and_accepted_by_the_api(run_cli: Any) -> None:
    r = run_cli("search", "--help")
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split("--engine", 1)[1].split("]", 1)[0]
    assert listed.strip(" [") == "|".join(NAMES)
    for kind in kinds():
        check_search_arguments(engine=kind.name, algorithm=kind.default_algorithm)
        for algorithm in kind.algorithms:
            assert algorithm in r.stdout
    with pytest.raises(UsageError) as e:
        check_search_arguments(engine="nope")
    assert str(e.value) == f"unknown engine 'nope'; choose one of {', '.join(NAMES)}"


def test_an_engine_registered_later_is_known_to_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = EngineKind(name="extra", title="Extra", module="automl.engines._optuna", algorithms=("only",))
    monkeypatch.setitem(_registry._KINDS, "extra", extra)
    check_search_arguments(engine="extra", algorithm="only")
    with pytest.raises(UsageError) as e:
        check_search_arguments(engine="nope")
    assert "extra" in str(e.value)
    with pytest.raises(UsageError) as e:
        check_search_arguments(engine="extra", algorithm="tpe")
    assert str(e.value) == "algorithm tpe is an Optuna setting; Extra takes only (or pass --engine optuna)"


def test_an_unknown_engine_is_refused_with_exit_2_naming_the_known_ones(run_cli: Any, tiny_yaml: Path,
                                                                       tmp_path: Path) -> None:
    r = run_cli("search", str(tiny_yaml), "--engine", "nope", "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert r.returncode == 2, r.stderr
    assert all(repr(name) in r.stderr for name in NAMES), r.stderr
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("engine", NAMES)
def test_an_option_the_engine_lacks_is_refused_before_anything_is_written(run_cli: Any, tiny_yaml: Path,
                                                                          tmp_path: Path, engine: str) -> None:
    given, words = LACKS[engine]
    flags = [x for key, value in given.items() for x in (f"--{key}", value)]
    r = run_cli("search", str(tiny_yaml), "--engine", engine, *flags, "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert r.returncode == 2, r.stderr
    assert words in " ".join(r.stderr.split()), r.stderr
    assert not (tmp_path / "s.db").exists()
    with pytest.raises(UsageError) as e:  # the API says the same, naming its arguments
        check_search_arguments(engine=engine, **given)
    assert words.replace("--", "", 1) in str(e.value)


def test_an_unknown_sampler_names_what_the_engine_takes() -> None:
    with pytest.raises(UsageError) as e:
        check_search_arguments(sampler="annealing", flags=True)
    assert str(e.value) == f"unknown --sampler 'annealing'; Optuna takes {', '.join(engine_kind('optuna').algorithms)}"


@pytest.mark.parametrize("engine,algorithm", [("optuna", "random"), ("kerastuner", "bayesian")])
def test_worker_rebuilds_each_engine_from_the_study(run_cli: Any, tiny_space: dict[str, Any], store: str,
                                                    engine: str, algorithm: str) -> None:
    import optuna

    import automl

    tiny_space["training"]["epochs"] = 1
    automl.search(tiny_space, "digits", engine=engine, algorithm=algorithm, n_trials=1, storage=store,
                  study_name="w", seed=0, keep_weights=False)
    before = optuna.load_study(study_name="w", storage=store).user_attrs
    kind = engine_kind(before["automl:engine"])
    assert kind.name == engine
    rebuilt = kind.code().from_study(before)
    assert algorithm in rebuilt.values()
    r = run_cli("worker", "--storage", store, "--study", "w", "--trials", "2", "--gpus", "none", "-q")
    assert r.returncode == 0, r.stderr
    assert "worker done: ran 1 trials; the study holds 2 of 2" in r.stderr
    study = optuna.load_study(study_name="w", storage=store)
    assert {k: study.user_attrs[k] for k in before if k != "automl:n_trials"} == \
        {k: v for k, v in before.items() if k != "automl:n_trials"}
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert {t.user_attrs.get("automl:engine") for t in study.trials} <= {engine, None}
