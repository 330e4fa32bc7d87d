"""One argument's value in a space: fixed, or searched (int range, float range, choice)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

from automl.space._catalog import Arg
from automl.space._hp import HP
from automl.space._limits import MAX_LISTED, clip, key_text, show

__all__ = ["Fixed", "IntRange", "FloatRange", "Choice", "Param", "Problems", "mapping", "parse_param"]


@dataclass(frozen=True)
class Fixed:
    value: Any

    def sample(self, hp: HP, name: str) -> Any:
        return self.value


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False
    name: str | None = None

    def sample(self, hp: HP, name: str) -> int:
        return hp.int(self.name or name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    step: float | None = None
    log: bool = False
    name: str | None = None

    def sample(self, hp: HP, name: str) -> float:
        return hp.float(self.name or name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]
    name: str | None = None

    def sample(self, hp: HP, name: str) -> Any:
        return hp.choice(self.name or name, list(self.values))


Param = Union[Fixed, IntRange, FloatRange, Choice]


class Problems:
    """Collects ``(field path, message)`` pairs while a space is validated.

    Keeps the first ``MAX_LISTED`` and counts the rest, so a space with half a million
    bad keys gives a message of a dozen lines.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.more = 0
        self._said: set[str] = set()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is asked: a long hint (every layer type) is given once."""
        said = key in self._said
        self._said.add(key)
        return not said

    def add(self, path: str, message: str) -> None:
        if len(self.items) < MAX_LISTED:
            self.items.append((clip(path, 120), clip(message, 400)))
        else:
            self.more += 1

    def listed(self) -> list[tuple[str, str]]:
        """The problems kept, then one line saying how many more there were."""
        tail = [("", f"… and {self.more:,} more")] if self.more else []
        return self.items + tail

    def __bool__(self) -> bool:
        return bool(self.items)


def mapping(raw: Any, path: str, keys: tuple[str, ...], problems: Problems,
            required: bool = False) -> dict[str, Any]:
    """``raw`` if it is a mapping (its unknown keys reported), else ``{}`` with the problem."""
    if raw is None:
        if required:
            problems.add(path, "is required")
        return {}
    if not isinstance(raw, dict):
        problems.add(path, f"must be a mapping (got {type(raw).__name__})")
        return {}
    for k in raw:
        if k not in keys:
            problems.add(f"{path}.{key_text(k)}", f"unknown key; allowed: {', '.join(keys)}")
    return raw


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _type_name(v: Any) -> str:
    return type(v).__name__ if v is not None else "null"


def _bounds_message(arg: Arg, v: float) -> str | None:
    if arg.ge is not None and v < arg.ge:
        return f"must be >= {arg.ge:g} (got {show(v)})"
    if arg.gt is not None and v <= arg.gt:
        return f"must be > {arg.gt:g} (got {show(v)})"
    if arg.le is not None and v > arg.le:
        return f"must be <= {arg.le:g} (got {show(v)})"
    if arg.lt is not None and v >= arg.lt:
        return f"must be < {arg.lt:g} (got {show(v)})"
    return None


def check_scalar(v: Any, arg: Arg, path: str, problems: Problems) -> bool:
    """Check one concrete value against ``arg``; record a problem and return False if bad."""
    kind = arg.kind
    if kind == "float_pair":
        if not isinstance(v, list) or len(v) != 2:
            problems.add(path, f"must be a pair of numbers [low, high] (got {show(v)})")
            return False
        if not all(check_scalar(x, Arg("float"), f"{path}[{i}]", problems) for i, x in enumerate(v)):
            return False
        if v[0] >= v[1]:
            problems.add(path, f"the first number must be below the second (got {show(v)})")
            return False
        return True
    if kind == "shape":
        return _check_shape(v, path, problems)
    if kind in ("int", "int_or_pair"):
        if kind == "int_or_pair" and isinstance(v, list):
            if len(v) != 2:
                problems.add(path, f"must be an integer or a pair of integers (got a list of {len(v)})")
                return False
            return all(check_scalar(x, Arg("int", ge=arg.ge), f"{path}[{i}]", problems) for i, x in enumerate(v))
        if not _is_int(v):
            problems.add(path, f"must be an integer (got {_type_name(v)} {show(v)})")
            return False
    elif kind == "float":
        if not _is_number(v):
            problems.add(path, f"must be a finite number (got {_type_name(v)} {show(v)})")
            return False
    elif kind == "bool":
        if not isinstance(v, bool):
            problems.add(path, f"must be true or false (got {_type_name(v)} {show(v)})")
            return False
        return True
    elif kind == "str":
        if not isinstance(v, str):
            problems.add(path, f"must be a string (got {_type_name(v)} {show(v)})")
            return False
        if arg.choices is not None and v not in arg.choices:
            problems.add(path, f"unknown value {show(v)}; expected one of: {', '.join(arg.choices)}")
            return False
        return True
    msg = _bounds_message(arg, v)
    if msg:
        problems.add(path, msg)
        return False
    return True


def _check_shape(v: Any, path: str, problems: Problems) -> bool:
    """A list of positive integers, one of which may be -1 (Keras's "whatever is left")."""
    if not isinstance(v, list) or not v or not all(_is_int(d) and (d >= 1 or d == -1) for d in v):
        problems.add(path, f"must be a non-empty list of positive integers, one of them may be -1 (got {show(v)})")
        return False
    if v.count(-1) > 1:
        problems.add(path, f"at most one -1 (got {show(v)})")
        return False
    return True


_LIST_KINDS = ("int_or_pair", "float_pair", "shape")


def _first_key(keys: set[Any]) -> str:
    """The first of some unknown keys, for the path (sorted as text: keys may mix types)."""
    return key_text(min(keys, key=str))


_RANGE_KEYS = {"low", "high", "step", "log", "name"}
_CHOICE_KEYS = {"choice", "name"}


def parse_param(raw: Any, arg: Arg, path: str, problems: Problems) -> Param | None:
    """Turn the raw YAML value of one argument into a :data:`Param` (None if invalid)."""
    if not isinstance(raw, dict):
        if isinstance(raw, list) and arg.kind not in _LIST_KINDS:
            problems.add(path, "a list is not a value here; to search over values write {choice: [...]}")
            return None
        return Fixed(raw) if check_scalar(raw, arg, path, problems) else None

    if arg.kind in ("float_pair", "shape"):
        problems.add(path, "is fixed: write the list itself (it cannot be searched)")
        return None
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        problems.add(f"{path}.name", "must be a non-empty string")
        return None
    if "choice" in raw:
        unknown = set(raw) - _CHOICE_KEYS
        if unknown:
            problems.add(f"{path}.{_first_key(unknown)}", "unknown key in a choice; allowed: choice, name")
            return None
        values = raw["choice"]
        if not isinstance(values, list) or not values:
            problems.add(f"{path}.choice", "must be a non-empty list of values")
            return None
        scalar_arg = Arg("int", ge=arg.ge) if arg.kind == "int_or_pair" else arg
        ok = all(check_scalar(v, scalar_arg, f"{path}.choice[{i}]", problems) for i, v in enumerate(values))
        if ok and len(set(map(repr, values))) != len(values):
            problems.add(f"{path}.choice", "values must be distinct")
            return None
        return Choice(tuple(values), name) if ok else None

    unknown = set(raw) - _RANGE_KEYS
    if unknown:
        problems.add(f"{path}.{_first_key(unknown)}",
                     "unknown key; a searched value is {low, high[, step][, log]} or {choice: [...]}")
        return None
    if arg.kind in ("str", "bool"):
        problems.add(path, f"a {arg.kind} argument cannot be a range; write {{choice: [...]}}")
        return None
    for key in ("low", "high"):
        if key not in raw:
            problems.add(f"{path}.{key}", "is required in a range")
            return None
    is_int = arg.kind in ("int", "int_or_pair")
    scalar_arg = Arg("int", ge=arg.ge, gt=arg.gt, le=arg.le, lt=arg.lt) if is_int else arg
    low, high = raw["low"], raw["high"]
    if not (check_scalar(low, scalar_arg, f"{path}.low", problems)
            and check_scalar(high, scalar_arg, f"{path}.high", problems)):
        return None
    if low > high:
        problems.add(f"{path}.low", f"must be <= high (got low={show(low)}, high={show(high)})")
        return None
    log = raw.get("log", False)
    if not isinstance(log, bool):
        problems.add(f"{path}.log", f"must be true or false (got {show(log)})")
        return None
    if log and low <= 0:
        problems.add(f"{path}.low", f"must be > 0 on a log scale (got {show(low)})")
        return None
    step = raw.get("step")
    if step is not None:
        if not (_is_int(step) if is_int else _is_number(step)) or step <= 0:
            problems.add(f"{path}.step", f"must be a positive {'integer' if is_int else 'number'} (got {show(step)})")
            return None
        if log:
            problems.add(f"{path}.step", "cannot be combined with log: true")
            return None
    if is_int:
        return IntRange(low, high, step if step is not None else 1, log, name)
    return FloatRange(float(low), float(high), None if step is None else float(step), log, name)
