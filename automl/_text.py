"""Plain text for the store: what a terminal would render, without its escape codes."""

from __future__ import annotations

import re

__all__ = ["strip_ansi"]

# CSI sequences (colours, cursor moves: ESC [ ... final byte), OSC sequences (titles,
# links: ESC ] ... BEL or ESC \) and the remaining two-byte escapes (ESC followed by one
# character in @-Z, \ to _).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def strip_ansi(text: str | None) -> str | None:
    """``text`` without ANSI escape sequences, since a stored error is read outside a terminal
    (Keras colours its messages; the trials table would show the codes). None stays None."""
    if text is None:
        return None
    return _ANSI.sub("", text)
