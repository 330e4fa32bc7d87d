"""How many XLA programs a piece of work compiled, and how long compiling took, read from
JAX's own monitoring events (no log parsing).

JAX reports every backend compile request with its duration, and every program the
persistent compilation cache served instead: a request that the cache did not serve is a
program XLA compiled. A program JAX already holds in memory (the same jitted function at
the same shapes) makes no request and counts nothing. The listeners are process-wide: work
in other threads of the process while :func:`count_compiles` runs is counted too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Compiles", "count_compiles"]

# The event names of jax._src.dispatch and jax._src.compiler (JAX 0.4.30 to 0.10).
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
CACHE_HIT = "/jax/compilation_cache/cache_hits"
TRACING = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration")


@dataclass
class Compiles:
    """What was compiled while :func:`count_compiles` ran.

    ``programs``: programs XLA compiled; ``cache_hits``: programs the persistent cache
    served; ``compile_seconds``: time in XLA's compiler and the cache's reads;
    ``trace_seconds``: time tracing Python into programs and lowering them to XLA."""

    programs: int = 0
    cache_hits: int = 0
    compile_seconds: float = 0.0
    trace_seconds: float = 0.0

    def as_attr(self) -> dict[str, Any]:
        """A JSON-ready dict (seconds to the millisecond), as a trial attribute records it."""
        return {"programs": self.programs, "cache_hits": self.cache_hits,
                "compile_seconds": round(self.compile_seconds, 3), "trace_seconds": round(self.trace_seconds, 3)}


@contextlib.contextmanager
def count_compiles() -> Iterator[Compiles]:
    """Count, while the block runs, the XLA programs compiled and the seconds spent on them.

    >>> with count_compiles() as c:  # doctest: +SKIP
    ...     model.fit(x, y, epochs=1)
    >>> c.programs, c.compile_seconds  # doctest: +SKIP
    (3, 1.92)
    """
    from jax import monitoring

    counts = Compiles()
    active = [True]

    def on_duration(event: str, duration_secs: float, **kwargs: str | int) -> None:
        if not active[0]:
            return
        if event == BACKEND_COMPILE:  # a request: the cache's hit, if any, was counted before
            counts.programs += 1
            counts.compile_seconds += float(duration_secs)
        elif event in TRACING:
            counts.trace_seconds += float(duration_secs)

    def on_event(event: str, **kwargs: str | int) -> None:
        if active[0] and event == CACHE_HIT:
            counts.cache_hits += 1
            counts.programs -= 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)
    try:
        yield counts
    finally:
        active[0] = False  # older JAX cannot unregister a listener: it stays, silent
        with contextlib.suppress(AttributeError, ValueError):
            monitoring.unregister_event_duration_listener(on_duration)
        with contextlib.suppress(AttributeError, ValueError):
            monitoring.unregister_event_listener(on_event)
