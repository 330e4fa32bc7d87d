"""Training options in the YAML format: schedules, early stopping, optimizer options, label smoothing."""

from __future__ import annotations

from typing import Any

import pytest

from automl.errors import SpaceError
from automl.space import FixedHP, parse_space
from tests.space.test_parse import RandomHP


def _space(optimizer: dict[str, Any] | None = None, training: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"model": {"layers": [{"type": "dense", "units": 8}]},
            "optimizer": {"name": "adam", "learning_rate": 0.01, **(optimizer or {})},
            "training": {"epochs": 4, **(training or {})}}


def test_a_searched_schedule_draws_each_argument_under_the_types_that_have_it() -> None:
    space = parse_space(_space({"schedule": {
        "type": {"choice": ["constant", "cosine", "exponential", "piecewise", "plateau"]},
        "warmup_epochs": {"low": 0, "high": 2}, "alpha": {"low": 0.0, "high": 0.1},
        "decay_rate": {"low": 0.5, "high": 0.99}, "boundaries": [2, 3], "factor": {"low": 0.1, "high": 0.5},
        "patience": {"low": 1, "high": 3}}}))
    seen = set()
    for seed in range(40):
        hp = RandomHP(seed)
        config = space.sample(hp)
        schedule = config["schedule"]
        kind = schedule["type"]
        seen.add(kind)
        assert hp.values["schedule"] == kind
        expected = {"constant": set(), "cosine": {"warmup_epochs", "alpha"}, "exponential": {"decay_rate"},
                    "piecewise": {"boundaries", "factor"}, "plateau": {"factor", "patience"}}[kind]
        assert set(schedule) - {"type"} == expected
        if "schedule.warmup_epochs" in hp.values:
            assert hp.conditions["schedule.warmup_epochs"] == ("schedule", ["cosine"])
        if "schedule.factor" in hp.values:
            assert hp.conditions["schedule.factor"] == ("schedule", ["piecewise", "plateau"])
        assert space.sample(FixedHP(hp.values)) == config
    assert seen == {"constant", "cosine", "exponential", "piecewise", "plateau"}
    # A static-space engine learns every branch.
    declared = RandomHP(0)
    space.declare(declared)
    assert {"schedule.warmup_epochs", "schedule.decay_rate", "schedule.factor", "schedule.patience"} <= set(
        declared.values)


def test_training_options_are_drawn_by_name() -> None:
    space = parse_space(_space({"weight_decay": {"low": 1e-5, "high": 1e-2, "log": True},
                                "clipnorm": {"choice": [0.5, 5.0]}, "schedule": "cosine"},
                               {"early_stopping": {"patience": {"low": 1, "high": 4}, "min_delta": 0.001,
                                                   "restore_best_weights": {"choice": [True, False]}},
                                "label_smoothing": {"low": 0.0, "high": 0.2}}))
    hp = RandomHP(1)
    config = space.sample(hp)
    assert config["optimizer"]["weight_decay"] == hp.values["weight_decay"]
    assert config["optimizer"]["clipnorm"] == hp.values["clipnorm"]
    assert config["schedule"] == {"type": "cosine"}
    assert config["early_stopping"] == {"patience": hp.values["early_stopping.patience"], "min_delta": 0.001,
                                        "restore_best_weights": hp.values["early_stopping.restore_best_weights"]}
    assert config["label_smoothing"] == hp.values["label_smoothing"]
    assert parse_space(_space(training={"early_stopping": True})).sample(RandomHP(0))["early_stopping"] == {}


def test_a_space_without_training_options_draws_the_configuration_it_did() -> None:
    config = parse_space(_space()).sample(RandomHP(0))
    assert not {"schedule", "early_stopping", "label_smoothing"} & set(config)


BAD = [
    # (optimizer, training, expected field path, words)
    ({"schedule": {"type": "cyclic"}}, None, "optimizer.schedule.type", "unknown value 'cyclic'"),
    ({"schedule": {"type": "cosine", "decay_rate": 0.5}}, None, "optimizer.schedule.decay_rate",
     "unknown argument for the cosine schedule"),
    ({"schedule": {"type": "cosine", "warmup_epochs": -1}}, None, "optimizer.schedule.warmup_epochs", ">= 0"),
    ({"schedule": {"type": "cosine", "alpha": 1.5}}, None, "optimizer.schedule.alpha", "<= 1"),
    ({"schedule": {"type": "exponential", "decay_rate": 0.0}}, None, "optimizer.schedule.decay_rate", "> 0"),
    ({"schedule": {"type": "piecewise"}}, None, "optimizer.schedule.boundaries", "is required for piecewise"),
    ({"schedule": {"type": "piecewise", "boundaries": [5, 2]}}, None, "optimizer.schedule.boundaries",
     "increasing epochs"),
    ({"schedule": {"type": "plateau", "factor": 1.0}}, None, "optimizer.schedule.factor", "must be < 1"),
    ({"schedule": 3}, None, "optimizer.schedule", "a schedule name or a mapping"),
    ({"clipnorm": 0.0}, None, "optimizer.clipnorm", "must be > 0"),
    ({"weight_decay": -1.0}, None, "optimizer.weight_decay", "must be >= 0"),
    ({"clip": 1.0}, None, "optimizer.clip", "unknown key"),
    ({"clipnorm": 1.0, "clipvalue": 0.5}, None, "optimizer.clipvalue", "one of clipnorm and clipvalue"),
    (None, {"early_stopping": {"patience": -1}}, "training.early_stopping.patience", ">= 0"),
    (None, {"early_stopping": {"patiance": 2}}, "training.early_stopping.patiance", "unknown key"),
    (None, {"early_stopping": 3}, "training.early_stopping", "must be a mapping"),
    (None, {"label_smoothing": 1.0}, "training.label_smoothing", "must be < 1"),
]


@pytest.mark.parametrize("optimizer,training,path,words", BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_bad_training_options_name_the_field(optimizer: Any, training: Any, path: str, words: str) -> None:
    with pytest.raises(SpaceError) as e:
        parse_space(_space(optimizer, training))
    problems = dict(e.value.problems)
    assert path in problems, e.value.problems
    assert words in problems[path]
