"""The HTML page around the sections, and where its plotly.js comes from (inline, beside it, a CDN)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from automl._logging import get_logger
from automl._report._format import esc
from automl.errors import UsageError

__all__ = ["PLOTLY_MODES", "page", "plotly_tag"]

PLOTLY_MODES = ("inline", "external", "cdn")
JS_NAME = "plotly.min.js"

_log = get_logger("report")

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:auto;padding:1em 2em}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:.5em 2em;z-index:9}
nav a{margin-right:1em;color:#1f5fa8;text-decoration:none;font-size:.9em}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:.5em 1.2em 1em;margin:1em 0}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #eee;padding-bottom:.3em}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.88em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}th{background:#f3f5f8}
.failed td{white-space:normal}.err{color:#a12;font-family:monospace}
.stats{display:flex;flex-wrap:wrap;gap:.6em;margin:.5em 0}
.stat{border:1px solid #ddd;border-radius:5px;padding:.3em .8em;background:#f7f9fc}
.stat span{display:block;font-size:.75em;color:#666}.stat b{font-size:1.1em}
pre{background:#f4f4f4;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:.85em}
.note{color:#666;font-size:.88em}.warn{color:#a60}h3 small{color:#666;font-weight:normal}
"""


def _cdn_tag() -> str:
    """plotly.py's own CDN tag, pinned to its plotly.js version."""
    import plotly.graph_objects as go

    snippet = go.Figure().to_html(full_html=False, include_plotlyjs="cdn")
    found = re.search(r"<script[^>]*src=\"https://cdn\.plot\.ly/[^\"]+\"[^>]*></script>", snippet)
    if found:
        return found[0]
    from plotly.offline import get_plotlyjs_version

    return f"<script charset='utf-8' src='https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js'></script>"


def plotly_tag(mode: str, out: Path) -> str:
    """The script tag that loads plotly.js: inlined (an offline file, ~5 MB), ``external``
    (``plotly.min.js`` beside the report, written only when absent or another version, so
    that the reports of one folder share it) or ``cdn`` (small, needs the network to view)."""
    if mode not in PLOTLY_MODES:
        raise UsageError(f"unknown plotly mode {mode!r}; choose one of {', '.join(PLOTLY_MODES)}")
    if mode == "cdn":
        return _cdn_tag()
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if mode == "inline":
        return f"<script type='text/javascript'>{js}</script>"
    path = out.parent / JS_NAME
    data = js.encode("utf-8")
    try:
        same = path.is_file() and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()
    except OSError:
        same = False
    if not same:
        path.write_bytes(data)
        _log.info("wrote %s for the reports of %s", path, out.parent)
    return f"<script charset='utf-8' src='{JS_NAME}'></script>"


def page(title: str, nav: list[tuple[str, str]], body: str, plotly: str) -> str:
    links = "".join(f"<a href='#{esc(anchor)}'>{esc(text)}</a>" for anchor, text in nav)
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{_CSS}</style>"
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
            f"{plotly}</head><body><nav>{links}</nav><main>{body}</main></body></html>")
