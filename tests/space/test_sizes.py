"""A space none of whose configurations fits a layer-size bound is refused up front."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from automl.errors import SpaceError
from automl.space import parse_space
from tests.conftest import TINY_SPACE


def _space(layers: list[dict[str, Any]], **training: Any) -> Any:
    raw = copy.deepcopy(TINY_SPACE)
    raw["model"] = {"layers": layers}
    raw["training"].update(training)
    return parse_space(raw)


def test_a_layer_too_big_in_every_configuration_is_refused_with_its_field() -> None:
    """A dense layer of 10^8-10^9 units once ran a search of out-of-memory trials."""
    space = _space([{"type": "dense", "units": {"low": 100_000_000, "high": 1_000_000_000}}])
    with pytest.raises(SpaceError) as e:
        space.check_data((64,), 10)
    assert "model.layers[0].units" in str(e.value) and "training.max_layer_params" in str(e.value)
    lstm = _space([{"type": "reshape", "target_shape": [64, 1]},
                   {"type": "bidirectional", "layer": {"type": "lstm", "units": 5000}}])
    with pytest.raises(SpaceError, match=r"model\.layers\[1\]\.layer\.units"):
        lstm.check_data((64,), 10)
    block = _space([{"repeat": 2, "layers": [{"type": "dense", "units": 60_000_000}]}])
    with pytest.raises(SpaceError, match=r"model\.layers\[0\]\.layers\[0\]\.units"):
        block.check_data((64,), 10)


def test_a_layer_that_fits_in_some_configuration_or_under_a_raised_bound_passes() -> None:
    _space([{"type": "dense", "units": {"choice": [64, 100_000_000]}}]).check_data((64,), 10)
    _space([{"type": "dense", "units": 100_000_000}], max_layer_params=300_000_000).check_data((64,), 10)
    with pytest.raises(SpaceError, match="training.max_layer_params: must be a positive integer"):
        _space([{"type": "dense", "units": 8}], max_layer_params=0)
