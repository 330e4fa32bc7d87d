"""How big a space may be, and how much of a bad value an error message may quote.

A space is a few kilobytes; these bounds are far above that and far below what makes
validation, storage or the error message itself blow up (a YAML alias bomb, a file of a
million keys, a list nested 20,000 deep).
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from itertools import islice
from typing import Any, NoReturn

from automl.errors import SpaceError

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_TEXT", "MAX_LAYERS", "MAX_LISTED",
           "MAX_DESCRIPTION", "MAX_NAME", "MAX_INT_BITS", "QUOTE_CHARS", "check_size", "clip", "key_text", "show"]

MAX_FILE_BYTES = 1_000_000   # a space file, in bytes
MAX_NODES = 100_000          # values (mappings, lists, keys, scalars), each alias counting what it repeats
MAX_DEPTH = 64               # levels of nesting; a real space uses about 10
MAX_TEXT = 1_000_000         # characters of all keys and strings together, aliases expanded
MAX_INT_BITS = 63            # an integer's magnitude is below 2**63 (what a store's BIGINT holds)
MAX_LAYERS = 1_000           # layers of the model, each repeated block at its largest count
MAX_DESCRIPTION = 10_000     # characters of ``description``
MAX_NAME = 128               # characters of ``name`` (the default study name)
MAX_LISTED = 10              # problems an error lists before "... and N more"
QUOTE_CHARS = 80             # characters of a bad value an error quotes

_ELLIPSIS = "…"


class _Short(reprlib.Repr):
    """A repr that stays short on any input: no giant int-to-str, no sorting of huge dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 3, 6, 6, 4
        self.maxstring, self.maxother = QUOTE_CHARS - 4, QUOTE_CHARS

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            return f"<an integer of about {int(x.bit_length() * 0.30103):,} digits>"
        return repr(x)

    def repr_str(self, x: str, level: int) -> str:
        return repr(x) if len(x) <= self.maxstring else repr(x[:self.maxstring] + _ELLIPSIS)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{" + _ELLIPSIS + "}"
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
                  for k, v in islice(x.items(), self.maxdict)]
        if len(x) > self.maxdict:
            pieces.append(_ELLIPSIS)
        return "{" + ", ".join(pieces) + "}"


_SHORT = _Short()


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + _ELLIPSIS


def show(value: Any) -> str:
    """The repr of a user's value for an error message, at most ``QUOTE_CHARS`` characters."""
    try:
        text = _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a user object whose __repr__ fails still gets a message
        text = f"<{type(value).__name__}>"
    return clip(text, QUOTE_CHARS)


def key_text(key: Any) -> str:
    """A mapping key as it appears in a field path, kept short."""
    return clip(key, 40) if isinstance(key, str) else show(key)


def _text_size(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1
    return 1


def _width(value: Any) -> int | None:
    """How many values ``value`` holds directly (a key and its value count two); None for a scalar."""
    if isinstance(value, dict):
        return 2 * len(value)
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield v
    else:
        yield from value


def check_size(raw: Any, source: str = "search space") -> None:
    """Refuse a space larger than the limits, counting shared parts each time they occur.

    Walks iteratively and stops at the first limit passed, so a structure that shares
    itself a billion times (or contains itself) costs at most ``MAX_NODES`` steps.
    """
    nodes, text = 1, 0
    stack: list[tuple[Any, int]] = [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        width = _width(value)
        if width is None:
            _check_int(value, source)
            text += _text_size(value)
            if text > MAX_TEXT:
                _refuse(f"more than {MAX_TEXT:,} characters of text (aliases and shared values counted each "
                        f"time they occur); a space has a few thousand", source)
            continue
        if not width:
            continue
        nodes += width
        if nodes > MAX_NODES:
            _refuse(f"more than {MAX_NODES:,} values (aliases and shared values counted each time they "
                    f"occur); a space has a few hundred", source)
        if depth + 1 > MAX_DEPTH:
            _refuse(f"nested more than {MAX_DEPTH} levels deep (or it contains itself); a space needs about 10",
                    source)
        stack.extend((c, depth + 1) for c in _children(value))


def _check_int(value: Any, source: str) -> None:
    """Integers beyond 64 bits cannot be stored, hashed into the fingerprint or trained."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        _refuse(f"the integer {show(value)} is too large; integers must be below 2**63", source)


def _refuse(message: str, source: str) -> NoReturn:
    raise SpaceError([("", message)], source)
