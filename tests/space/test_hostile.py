"""Hostile search spaces: alias bombs, deep nesting, other encodings, duplicate keys, sheer size.

Each is refused with a SpaceError (exit 2 from the CLI), a message of a few lines, quickly,
before anything is written.
"""

from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from automl.errors import SpaceError, UsageError
from automl.space import load_space, parse_space, resolve_space
from automl.space._limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_LAYERS, QUOTE_CHARS, check_size, show
from automl.space._parse import yaml_load
from tests.conftest import TINY_SPACE, TINY_YAML
from tests.space.test_parse import RandomHP

# A hang must fail the test, not the CI job.
pytestmark = pytest.mark.timeout(120)


def _bomb(levels: int, width: int = 10, key: str = "anchors") -> str:
    """YAML whose last anchor expands to ``width ** levels`` strings ("billion laughs")."""
    lines = [f"{key}:", f"  a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _layers_yaml(layers: str) -> str:
    return f"model:\n  layers:\n{layers}"


def _refusal(text: str) -> str:
    with pytest.raises(SpaceError) as e:
        parse_space(yaml_load(text))
    return str(e.value)


def _space_with(**changes: Any) -> dict[str, Any]:
    space = copy.deepcopy(TINY_SPACE)
    space.update(changes)
    return space


# --- alias bombs and the node bound ---------------------------------------------------------

def test_billion_laughs_is_refused_while_composing_without_expanding() -> None:
    text = _bomb(9) + "model:\n  layers:\n    - {type: dense, units: {choice: *a8}}\n"
    t0 = time.monotonic()
    with pytest.raises(SpaceError) as e:
        yaml_load(text, source="bomb.yaml")
    assert time.monotonic() - t0 < 10
    msg = str(e.value)
    assert "more than 100,000 values" in msg and "line " in msg and "bomb.yaml" in msg
    assert len(msg) < 500


def test_an_alias_counts_everything_its_anchor_holds() -> None:
    # root mapping 1, key a 1, the anchored list 1 + 999 items, key b 1, its list 1: 1,004; each alias 1,000
    anchor = "a: &a [" + ", ".join(["x"] * 999) + "]\n"
    fits = anchor + "b: [" + ", ".join(["*a"] * 98) + "]\n"
    assert len(yaml_load(fits)["b"]) == 98                   # 1,004 + 98,000 values
    over = anchor + "b: [" + ", ".join(["*a"] * 99) + "]\n"  # 1,004 + 99,000 values
    with pytest.raises(SpaceError, match="more than 100,000 values"):
        yaml_load(over)


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(SpaceError, match="inside its own anchor"):
        yaml_load("model: &m {layers: [*m]}\n")


def test_ordinary_anchors_aliases_and_merge_keys_still_load() -> None:
    text = ("base: &base {units: 8, activation: relu}\n"
            "one: {<<: *base, units: 16}\n"
            "two: [*base, *base]\n")
    assert yaml_load(text) == {"base": {"units": 8, "activation": "relu"},
                               "one": {"units": 16, "activation": "relu"},
                               "two": [{"units": 8, "activation": "relu"}] * 2}


# --- nesting --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "model: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "model: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n",
    "".join("  " * i + "a:\n" for i in range(200)) + "  " * 200 + "b: 1\n",
], ids=["20,000 lists", "5,000 flow mappings", "200 block mappings"])
def test_deep_nesting_is_a_space_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(SpaceError, match=f"nested more than {MAX_DEPTH} levels deep"):
        yaml_load(text)


def test_nesting_up_to_the_limit_loads() -> None:
    assert yaml_load("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(SpaceError, match="nested more than"):
        yaml_load("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


# --- encodings and file size ----------------------------------------------------------------

_SMALL = "description: café\n" + _layers_yaml("    - {type: dense, units: 8}\n")


@pytest.mark.parametrize("data, words", [
    (_SMALL.encode("latin-1"), "byte 0xe9 on line 1 is not UTF-8"),
    (_SMALL.encode("utf-16"), "UTF-16"),
    (_SMALL.encode("utf-16-le"), "NUL bytes"),
    (bytes(range(256)) * 4, "NUL bytes"),
], ids=["latin-1", "utf-16", "utf-16 without BOM", "binary"])
def test_a_file_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path, data: bytes, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    with pytest.raises(SpaceError) as e:
        load_space(path)
    assert str(path) in str(e.value) and "save the space as UTF-8" in str(e.value)
    assert words in str(e.value)


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + TINY_YAML.encode())
    assert load_space(path).name == "tiny"


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(TINY_YAML + "description: " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(SpaceError, match="larger than 1,000,000 bytes"):
        load_space(path)


def test_values_yaml_reads_but_python_cannot_are_space_errors() -> None:
    with pytest.raises(SpaceError, match="line 3: cannot read the value"):
        yaml_load(_layers_yaml("    - {type: dense, units: " + "1" * 5_000 + "}\n"))
    with pytest.raises(SpaceError, match="line 1: cannot read the value '2001-13-45'"):
        yaml_load("description: 2001-13-45\n")


def test_an_overlong_space_argument_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        resolve_space("a" * 5_000)


# --- duplicate keys -------------------------------------------------------------------------

def test_a_duplicate_key_is_refused_with_its_line_numbers() -> None:
    text = _layers_yaml("    - type: dense\n      units: 16\n      units: 512\n")
    with pytest.raises(SpaceError, match=r"line 5: duplicate key 'units' \(first given on line 4\)"):
        yaml_load(text)
    with pytest.raises(SpaceError, match="line 2: duplicate key 'model'"):
        yaml_load("model: 1\nmodel: 2\n")
    with pytest.raises(SpaceError, match="duplicate key 'a'"):
        yaml_load("{a: 1, a: 2}")


# --- what errors quote and how many they list -----------------------------------------------

def test_show_is_short_on_any_value() -> None:
    bomb: Any = ["lol"] * 10
    for _ in range(9):
        bomb = [bomb] * 10
    for value in (bomb, "x" * 1_000_000, 10 ** 5_000, {i: i for i in range(100_000)}):
        assert len(show(value)) <= QUOTE_CHARS
    assert show("lion") == "'lion'" and show(-5) == "-5"
    assert show("x" * 1_000).endswith("…'")


def test_a_long_bad_value_is_quoted_truncated() -> None:
    msg = _refusal(_layers_yaml("    - {type: " + "z" * 100_000 + "}\n"))
    assert "unknown layer type 'zzz" in msg and "…" in msg and len(msg) < 1_000


def test_only_the_first_problems_are_listed() -> None:
    text = "".join(f"k{i}: {i}\n" for i in range(5_000)) + _layers_yaml("    - {type: dense, units: 8}\n")
    with pytest.raises(SpaceError) as e:
        parse_space(yaml_load(text))
    assert len(e.value.problems) == 11 and e.value.problems[-1] == ("", "… and 4,990 more")
    assert len(str(e.value)) < 4_096


def test_unknown_keys_of_mixed_types_are_reported() -> None:
    space = _space_with()
    space["model"]["layers"][0]["units"] = {"choice": [8], 5: 1, "x": 2}
    with pytest.raises(SpaceError, match=r"model\.layers\[0\]\.units\.5: unknown key"):
        parse_space(space)


# --- a space given as a dict ----------------------------------------------------------------

def _shared_bomb() -> list[Any]:
    """A million strings through six levels of sharing (a billion would behave the same)."""
    bomb: list[Any] = ["lol"] * 10
    for _ in range(5):
        bomb = [bomb] * 10
    return bomb


def _self_containing() -> dict[str, Any]:
    space = _space_with()
    space["description"] = space
    return space


def _deep_dict() -> dict[str, Any]:
    deep: Any = 1
    for _ in range(20_000):
        deep = {"a": deep}
    return _space_with(optimizer=deep)


@pytest.mark.parametrize("make, words", [
    (lambda: _space_with(model={"layers": [{"type": "dense", "units": {"choice": _shared_bomb()}}]}),
     "more than 100,000 values"),
    (lambda: _space_with(description=list(range(200_000))), "more than 100,000 values"),
    (_self_containing, "contains itself"),
    (_deep_dict, f"nested more than {MAX_DEPTH} levels"),
    (lambda: _space_with(description=["x" * 100_000] * 11), "more than 1,000,000 characters"),
    (lambda: _space_with(num_classes=10 ** 5_000), "integers must be below 2**63"),
], ids=["shared bomb", "200,000 values", "contains itself", "20,000 deep", "shared long strings", "huge int"])
def test_a_dict_space_is_held_to_the_same_bounds(make: Any, words: str) -> None:
    space = make()
    t0 = time.monotonic()
    with pytest.raises(SpaceError) as e:
        parse_space(space)
    assert time.monotonic() - t0 < 10
    assert words in str(e.value) and len(str(e.value)) < 500


def test_check_size_accepts_the_catalog_and_tiny_spaces() -> None:
    check_size(TINY_SPACE)
    check_size(yaml_load(TINY_YAML))


@pytest.mark.parametrize("field, limit", [("description", 10_000), ("name", 128)])
def test_name_and_description_are_bounded(field: str, limit: int) -> None:
    parse_space(_space_with(**{field: "x" * limit}))
    with pytest.raises(SpaceError, match=f"{field}: at most {limit:,} characters"):
        parse_space(_space_with(**{field: "x" * (limit + 1)}))


# --- the number of layers -------------------------------------------------------------------

def _repeat(times: Any, extra: int = 0) -> dict[str, Any]:
    layers = [{"repeat": times, "layers": [{"type": "dense", "units": 8}]}]
    layers += [{"type": "dropout", "rate": 0.1}] * extra
    return _space_with(model={"layers": layers})


@pytest.mark.parametrize("times, extra, path", [
    ({"low": 1, "high": 330_000}, 0, "model.layers[0].repeat"),
    ({"low": 1, "high": MAX_LAYERS}, 1, "model.layers[0].repeat"),
    ({"low": 1, "high": 1_001, "step": 10}, 0, "model.layers[0].repeat"),
    ({"choice": [1, 2_000]}, 0, "model.layers[0].repeat"),
    (2, MAX_LAYERS - 1, "model.layers"),
], ids=["330,000", "1,001", "grid reaching 1,001", "choice", "flat list"])
def test_the_number_of_layers_is_bounded(times: Any, extra: int, path: str) -> None:
    with pytest.raises(SpaceError) as e:
        parse_space(_repeat(times, extra))
    assert e.value.problems[0][0] == path and "at most 1,000" in e.value.problems[0][1]


def test_a_model_of_exactly_the_layer_limit_is_accepted() -> None:
    parse_space(_repeat({"low": 1, "high": MAX_LAYERS}))
    parse_space(_repeat({"low": 1, "high": 991, "step": 10}, extra=9))


# --- one parameter name, two definitions ----------------------------------------------------

def _two_dense(first: Any, second: Any) -> dict[str, Any]:
    return _space_with(model={"layers": [{"type": "dense", "units": first}, {"type": "dense", "units": second}]})


def test_a_shared_name_with_two_definitions_names_both_field_paths() -> None:
    space = _two_dense({"low": 8, "high": 32, "name": "units"}, {"low": 16, "high": 512, "name": "units"})
    with pytest.raises(SpaceError) as e:
        parse_space(space)
    [(path, msg)] = e.value.problems
    assert path == "model.layers[1].units" and "model.layers[0].units" in msg and "'units'" in msg


@pytest.mark.parametrize("first, second", [
    ({"low": 8, "high": 32, "name": "u"}, {"low": 8, "high": 32, "step": 8, "name": "u"}),
    ({"low": 8, "high": 32, "name": "u"}, {"choice": [8, 32], "name": "u"}),
    ({"choice": [8, 16], "name": "u"}, {"choice": [16, 8], "name": "u"}),
    ({"low": 8, "high": 32}, {"low": 8, "high": 64, "name": "layer0.units"}),
], ids=["step", "range and choice", "choice order", "a position name"])
def test_every_difference_in_a_shared_definition_is_refused(first: Any, second: Any) -> None:
    with pytest.raises(SpaceError, match=r"model\.layers\[1\]\.units: draws the parameter"):
        parse_space(_two_dense(first, second))


def test_a_name_equal_to_the_learning_rates_is_refused() -> None:
    space = _two_dense({"low": 8, "high": 32, "name": "learning_rate"}, 8)
    with pytest.raises(SpaceError) as e:
        parse_space(space)
    assert e.value.problems[0][0] == "optimizer.learning_rate"
    assert "model.layers[0].units" in e.value.problems[0][1]


def test_a_shared_name_in_a_repeated_block_and_a_layer_is_refused() -> None:
    space = _space_with(model={"layers": [
        {"type": "dense", "units": {"low": 8, "high": 32, "name": "w"}},
        {"repeat": {"low": 1, "high": 3}, "layers": [{"type": "dense", "units": {"low": 8, "high": 64, "name": "w"}}]},
    ]})
    with pytest.raises(SpaceError, match=r"model\.layers\[1\]\.layers\[0\]\.units: .*model\.layers\[0\]\.units"):
        parse_space(space)


class _OnceHP(RandomHP):
    """Draws each name once, as the engines do: the same name gives the same value."""

    def int(self, name, low, high, *, step=1, log=False):  # type: ignore[no-untyped-def]
        return self.values[name] if name in self.values else super().int(name, low, high, step=step, log=log)


def test_a_shared_name_with_one_definition_draws_one_value() -> None:
    space = parse_space(_two_dense({"low": 8, "high": 32, "name": "u"}, {"low": 8, "high": 32, "name": "u"}))
    hp = _OnceHP(1)
    config = space.sample(hp)
    assert config["layers"][0]["units"] == config["layers"][1]["units"] == hp.values["u"]
    assert not any(name.endswith(".units") for name in hp.values)


# --- the CLI, end to end --------------------------------------------------------------------

def _cli_cases() -> dict[str, tuple[bytes, str]]:
    dense = "    - {type: dense, units: 8}\n"
    return {
        "alias bomb in a choice": (
            (_bomb(6) + _layers_yaml("    - {type: dense, units: {choice: *a5}}\n")).encode(),
            "more than 100,000 values"),
        "billion laughs": ((_bomb(9) + _layers_yaml(dense)).encode(), "more than 100,000 values"),
        "alias inside its anchor": (b"model: &m {layers: [*m]}\n", "inside its own anchor"),
        "20,000 nested lists": (("model: " + "[" * 20_000 + "]" * 20_000 + "\n").encode(), "nested more than 64"),
        "5,000 nested mappings": (("model: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n").encode(),
                                  "nested more than 64"),
        "latin-1": (_SMALL.encode("latin-1"), "not a UTF-8 text file"),
        "utf-16": (_SMALL.encode("utf-16"), "not a UTF-8 text file"),
        "binary": (bytes(range(256)) * 16, "not a UTF-8 text file"),
        "over 1 MB": ((TINY_YAML + "description: " + "x" * MAX_FILE_BYTES + "\n").encode(), "1,000,000 bytes"),
        "duplicate key": (TINY_YAML.replace("units: {low: 8, high: 32, step: 8}",
                                            "units: 16\n      units: 512").encode(), "duplicate key 'units'"),
        "5,000 unknown keys": ("".join(f"k{i}: {i}\n" for i in range(5_000)).encode() + TINY_YAML.encode(),
                               "4,990 more"),
        "2,000 unknown layer types": (_layers_yaml("".join(f"    - {{type: t{i}}}\n" for i in range(2_000))).encode(),
                                      "1,990 more"),
        "a 100,000-character value": (_layers_yaml("    - {type: " + "z" * 100_000 + "}\n").encode(),
                                      "unknown layer type 'zzz"),
        "330,000 layers": (_layers_yaml("    - repeat: {low: 1, high: 330000}\n      layers:\n"
                                        "        - {type: dense, units: 8}\n").encode(), "up to 330,000 layers"),
        "one name, two definitions": (_layers_yaml("    - {type: dense, units: {low: 8, high: 32, name: units}}\n"
                                                   "    - {type: dense, units: {low: 16, high: 512, name: units}}\n"
                                                   ).encode(), "model.layers[0].units"),
        "a 5,000-digit integer": (_layers_yaml("    - {type: dense, units: " + "1" * 5_000 + "}\n").encode(),
                                  "cannot read the value"),
    }


CLI_CASES = _cli_cases()


@pytest.fixture(scope="module")
def kept_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one study, made with Optuna directly (no training) for the CLI table."""
    import optuna

    path = tmp_path_factory.mktemp("kept") / "automl.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="kept", storage=f"sqlite:///{path}")
    study.add_trial(optuna.trial.create_trial(params={"x": 1.0}, value=0.5,
                                              distributions={"x": optuna.distributions.FloatDistribution(0, 2)}))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(folder: Path) -> list[str]:
    """The files a run may have added (a journal, a WAL), not Keras's home folder."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".keras")


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_a_hostile_space_exits_2_quickly_with_a_short_message_and_writes_nothing(  # type: ignore[no-untyped-def]
        run_cli, tmp_path: Path, kept_store: Path, case: str) -> None:
    import shutil

    data, words = CLI_CASES[case]
    (tmp_path / "bad.yaml").write_bytes(data)
    db = tmp_path / "automl.db"
    shutil.copy(kept_store, db)
    before, listing = _digest(db), _listing(tmp_path)
    t0 = time.monotonic()
    r = run_cli("search", "bad.yaml", "--trials", "1", timeout=60)
    assert r.returncode == 2, r.stderr[-2_000:]
    assert time.monotonic() - t0 < 60
    assert len(r.stderr.encode()) < 4_096, r.stderr[:2_000]
    assert "Traceback" not in r.stderr and words in r.stderr and "bad.yaml" in r.stderr
    assert _digest(db) == before
    assert _listing(tmp_path) == listing
