"""The YAML space format: valid spaces, sampling, and a table of invalid ones."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from automl.errors import SpaceError
from automl.space import HP, FixedHP, catalog, load_space, parse_space
from automl.space._parse import yaml_load


class RandomHP(HP):
    """Draws uniformly and records what it drew and which condition was active."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.values: dict[str, Any] = {}
        self.conditions: dict[str, tuple[str, list[Any]]] = {}
        self._scope: list[tuple[str, list[Any]]] = []

    def _rec(self, name: str, v: Any) -> Any:
        # As in the engines, a name drawn twice (a shared ``name:``) gives its first value.
        v = self.values.setdefault(name, v)
        if self._scope:
            self.conditions[name] = self._scope[-1]
        return v

    def int(self, name, low, high, *, step=1, log=False):  # type: ignore[no-untyped-def]
        return self._rec(name, self.rng.randrange(low, high + 1, step))

    def float(self, name, low, high, *, step=None, log=False):  # type: ignore[no-untyped-def]
        return self._rec(name, self.rng.uniform(low, high))

    def choice(self, name, values):  # type: ignore[no-untyped-def]
        return self._rec(name, self.rng.choice(list(values)))

    def conditional(self, parent, values):  # type: ignore[no-untyped-def]
        import contextlib

        @contextlib.contextmanager
        def cm():  # type: ignore[no-untyped-def]
            self._scope.append((parent, list(values)))
            try:
                yield
            finally:
                self._scope.pop()

        return cm()


@pytest.mark.parametrize("name", sorted(catalog()))
def test_catalog_spaces_parse_and_sample(name: str) -> None:
    space = load_space(catalog()[name])
    for seed in range(5):
        hp = RandomHP(seed)
        config = space.sample(hp)
        assert config["layers"] and config["optimizer"]["learning_rate"] > 0
        # Replaying the drawn values gives the same configuration.
        assert space.sample(FixedHP(hp.values)) == config


def test_catalog_has_the_seed_article_networks() -> None:
    names = set(catalog())
    assert {"demo", "seed-mlp", "seed-cnn", "mnist1d-conv1d"} <= names
    mlp = load_space(catalog()["seed-mlp"])
    assert mlp.input_shape == (100,) and mlp.num_classes == 10
    cnn = load_space(catalog()["seed-cnn"])
    assert cnn.input_shape == (32, 32, 3)
    assert [l.type for l in cnn.layers][:5] == ["conv2d", "max_pool2d", "conv2d", "max_pool2d", "conv2d"]


def test_yaml_reads_exponent_floats() -> None:
    assert yaml_load("a: 1e-4\nb: 3E2\nc: 1.5\nd: 12") == {"a": 1e-4, "b": 300.0, "c": 1.5, "d": 12}


def test_optimizer_options_only_for_the_chosen_optimizer(tiny_space: dict[str, Any]) -> None:
    space = parse_space(tiny_space)
    seen = set()
    for seed in range(30):
        hp = RandomHP(seed)
        config = space.sample(hp)
        opt = config["optimizer"]
        seen.add(opt["name"])
        if opt["name"] == "sgd":
            assert 0.0 <= opt["momentum"] <= 0.9
            assert hp.conditions["sgd.momentum"] == ("optimizer", ["sgd"])
        else:
            assert "momentum" not in opt and "sgd.momentum" not in hp.values
    assert seen == {"adam", "sgd"}


def test_repeat_block_draws_per_repetition_and_marks_conditions() -> None:
    space = load_space(catalog()["demo"])
    for seed in range(20):
        hp = RandomHP(seed)
        config = space.sample(hp)
        n = hp.values["block0.repeat"]
        dense = [l for l in config["layers"] if l["type"] == "dense"]
        assert len(dense) == n
        for r in range(n):
            assert dense[r]["units"] == hp.values[f"block0.rep{r}.units"]
        if n == 2:
            assert hp.conditions["block0.rep1.units"] == ("block0.repeat", [2])


def test_fingerprint_ignores_name_but_not_content(tiny_space: dict[str, Any]) -> None:
    a = parse_space(tiny_space)
    renamed = dict(tiny_space, name="other")
    assert parse_space(renamed).fingerprint == a.fingerprint
    changed = copy.deepcopy(tiny_space)
    changed["model"]["layers"][0]["units"]["high"] = 64
    assert parse_space(changed).fingerprint != a.fingerprint


def test_defaults() -> None:
    space = parse_space({"model": {"layers": [{"type": "dense", "units": 16}]}})
    assert space.objective.metric == "val_accuracy" and space.objective.direction == "maximize"
    assert space.training.epochs == 10 and space.output_activation == "softmax"
    loss_obj = parse_space({"model": {"layers": [{"type": "flatten"}]}, "objective": "val_loss"})
    assert loss_obj.objective.direction == "minimize"


def _with(tiny: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    d = copy.deepcopy(tiny)
    node = d
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


_DELETE = object()

BAD = [
    # (where to change, new value, expected field path, words in the message)
    (["model", "layers", 0, "type"], "dense3d", "model.layers[0].type", "unknown layer type"),
    (["optimizer", "name"], {"choice": ["adam", "adamz"]}, "optimizer.name.choice[1]", "unknown value 'adamz'"),
    (["model", "layers", 0, "units"], {"low": 64, "high": 8}, "model.layers[0].units.low", "must be <= high"),
    (["model", "layers", 0, "units"], -4, "model.layers[0].units", "must be >= 1"),
    (["model", "layers", 0, "units"], {"low": -5, "high": 8}, "model.layers[0].units.low", "must be >= 1"),
    (["optimizer", "learning_rate"], {"low": 0.0, "high": 0.1, "log": True}, "optimizer.learning_rate.low",
     "must be > 0"),
    (["optimizer", "learning_rate"], -0.01, "optimizer.learning_rate", "must be > 0"),
    (["model", "layers", 0, "units"], "many", "model.layers[0].units", "must be an integer"),
    (["model", "layers", 0, "units"], 16.5, "model.layers[0].units", "must be an integer"),
    (["model", "layers", 0, "unitz"], 16, "model.layers[0].unitz", "unknown argument for dense"),
    (["model", "layers", 1, "rate"], 1.5, "model.layers[1].rate", "must be < 1"),
    (["model", "layers", 0, "units"], [16, 32], "model.layers[0].units", "{choice: [...]}"),
    (["model", "layers", 0, "activation"], {"low": 1, "high": 2}, "model.layers[0].activation", "cannot be a range"),
    (["training", "epochs"], 0, "training.epochs", "positive integer"),
    (["training", "batch_size"], {"choice": [32, 0]}, "training.batch_size.choice[1]", "must be >= 1"),
    (["training", "loss"], "hinge", "training.loss", "unknown loss"),
    (["objective", "metric"], "val_f1", "objective.metric", "not logged"),
    (["objective", "direction"], "up", "objective.direction", "maximize or minimize"),
    (["optimizer", "options", "rmsprop"], {"rho": 0.9}, "optimizer.options.rmsprop", "not among the optimizers"),
    (["optimizer", "options", "sgd", "momentum"], {"low": 0, "high": 1.2}, "optimizer.options.sgd.momentum.high",
     "must be < 1"),
    (["model", "layers", 0, "type"], _DELETE, "model.layers[0].type", "is required"),
    (["model", "extra"], 1, "model.extra", "unknown key"),
    (["learning_rate"], 0.1, "learning_rate", "unknown key"),
    (["model", "layers"], [], "model.layers", "non-empty list"),
    (["model", "layers", 0, "units"], {"low": 8, "high": 32, "stpe": 8}, "model.layers[0].units.stpe", "unknown key"),
]


@pytest.mark.parametrize("where,value,path,words", BAD, ids=[b[2] for b in BAD])
def test_bad_space_names_the_field(tiny_space: dict[str, Any], where: list[Any], value: Any, path: str,
                                   words: str) -> None:
    with pytest.raises(SpaceError) as e:
        parse_space(_with(tiny_space, where, value))
    paths = [p for p, _ in e.value.problems]
    assert path in paths, e.value.problems
    msg = dict(e.value.problems)[path]
    assert words in msg
    assert path in str(e.value)


def test_every_problem_is_reported_at_once(tiny_space: dict[str, Any]) -> None:
    d = _with(tiny_space, ["training", "epochs"], -1)
    d = _with(d, ["model", "layers", 0, "units"], 0)
    with pytest.raises(SpaceError) as e:
        parse_space(d)
    assert {"training.epochs", "model.layers[0].units"} <= {p for p, _ in e.value.problems}


def test_conv2d_on_1d_data_is_refused() -> None:
    space = load_space(catalog()["seed-cnn"])
    with pytest.raises(SpaceError) as e:
        space.check_data((40,), 10)
    assert e.value.problems[0][0] == "model.layers[0].type"
    assert "conv2d needs 2-D image input" in str(e.value) and "(40,)" in str(e.value)


def test_channel_axis_is_added_for_conv_on_flat_signals() -> None:
    from automl.space import effective_input_shape

    assert effective_input_shape(["conv1d", "flatten", "dense"], (40,)) == (40, 1)
    assert effective_input_shape(["conv2d"], (8, 8)) == (8, 8, 1)
    assert effective_input_shape(["dense"], (64,)) == (64,)
    space = load_space(catalog()["mnist1d-conv1d"])
    space.check_data((40,), 10)
