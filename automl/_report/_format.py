"""Numbers, durations and tables as the report shows them: 4 significant digits, escaped."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Objectives", "esc", "num", "plain_error", "seconds", "table", "text"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def num(v: Any) -> str:
    """``v`` rounded to 4 significant digits (integers with thousands separators)."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v.is_integer() and abs(v) < 1e6:
            return f"{int(v):,}"
        return f"{v:.4g}"
    return str(v)


def text(v: Any) -> str:
    """Any attribute value on one line, numbers rounded (dicts as ``k: v, ...``)."""
    if isinstance(v, dict):
        return ", ".join(f"{k}: {text(x)}" for k, x in v.items()) or "–"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(text(x) for x in v) + "]"
    return num(v)


def seconds(s: float | None) -> str:
    """A duration a person reads at a glance: ``2.4 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if s is None or not math.isfinite(s):
        return "–"
    if s < 60:
        return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def plain_error(e: Any) -> str:
    """A stored error without terminal colour codes (Keras colours some messages)."""
    return _ANSI.sub("", str(e)) if e else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """An HTML table of already formatted and escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<div class='scroll'><table class='{cls}'><tr>{head}</tr>{body}</table></div>"


class Objectives:
    """The study's objectives by name and direction, as every section labels them."""

    def __init__(self, study: Any) -> None:
        import optuna

        from automl._keys import ATTR

        n = len(study.directions)
        names = (study.user_attrs.get(f"{ATTR}objective") or "").split(",")
        if len(names) != n or not all(names):
            names = study.metric_names or ([f"objective {i}" for i in range(n)] if n > 1 else ["value"])
        self.names: list[str] = list(names)
        self.maximize = [d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions]
        self.multi = n > 1

    @property
    def primary(self) -> str:
        return self.names[0]

    def headers(self) -> list[str]:
        return [f"{esc(n)} ({'max' if up else 'min'})" for n, up in zip(self.names, self.maximize)]
