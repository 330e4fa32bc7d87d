"""``count_compiles``: the XLA programs compiled while a block runs and the seconds they took,
from JAX's monitoring events, with the persistent cache's hits told apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.model._compiles import Compiles
from tests.conftest import run_on_jax

_BODY = """
    import tempfile
    import jax.numpy as jnp
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    from automl.model._compiles import count_compiles

    @jax.jit
    def f(x):
        return jnp.sin(x) * 2.0 + 1.0

    three, four, five = jnp.ones(3), jnp.ones(4), jnp.ones(5)  # made outside: jnp.ones compiles too
    out, logged = {}, len(compiled)
    with count_compiles() as first:
        f(three).block_until_ready()
    out["first"] = first.as_attr()
    out["first_log"] = compiled[logged:]
    with count_compiles() as again:
        f(three).block_until_ready()  # held in memory: no compile request at all
    out["again"] = again.as_attr()
    with count_compiles() as other:
        f(four).block_until_ready()
    out["other_shape"] = other.as_attr()
    jax.clear_caches()  # a new process's view: only the persistent cache has the programs
    with count_compiles() as cached:
        f(three).block_until_ready()
    out["cached"] = cached.as_attr()
    f(five).block_until_ready()  # after the block: not counted in it
    out["after"] = cached.as_attr()
    print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_compiles_are_counted_and_cache_hits_told_apart(tmp_path: Path) -> None:
    out = run_on_jax(_BODY, tmp_path)
    first = out["first"]
    assert first["programs"] >= 1 and first["cache_hits"] == 0 and first["compile_seconds"] > 0
    assert first["programs"] == len(out["first_log"]), out  # what JAX's own compile log lists
    assert out["again"] == {"programs": 0, "cache_hits": 0, "compile_seconds": 0.0, "trace_seconds": 0.0}
    assert out["other_shape"]["programs"] == 1  # a new shape is a new program
    assert out["cached"]["programs"] == 0 and out["cached"]["cache_hits"] >= 1
    assert out["after"] == out["cached"]


def test_as_attr_is_json_ready() -> None:
    counts = Compiles(programs=3, cache_hits=1, compile_seconds=1.23456, trace_seconds=0.0004)
    assert counts.as_attr() == {"programs": 3, "cache_hits": 1, "compile_seconds": 1.235, "trace_seconds": 0.0}
