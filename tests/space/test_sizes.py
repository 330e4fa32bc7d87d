"""A space none of whose configurations fits a layer-size bound is refused up front."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from automl.errors import SpaceError
from automl.space import parse_space
from tests.conftest import TINY_SPACE, TINY_YAML


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


def test_a_window_larger_than_its_input_in_every_configuration_is_refused_with_its_field() -> None:
    """conv1d kernels of 64 or 128 steps on MNIST-1D's 40 ran a search of failed trials."""
    conv = _space([{"type": "conv1d", "filters": 8, "kernel_size": {"choice": [64, 128]}}])
    with pytest.raises(SpaceError, match=r"model\.layers\[0\]\.kernel_size: conv1d needs 64 steps.*has 40"):
        conv.check_data((40,), 10)
    # shrunk by the layers before it: 8x8 -> 6x6 -> 3x3, then a dilated 3x3 kernel spans 5
    image = _space([{"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "max_pool2d", "pool_size": 2},
                    {"type": "conv2d", "filters": 4, "kernel_size": [1, 3], "dilation_rate": 2}])
    with pytest.raises(SpaceError, match=r"model\.layers\[2\]\.kernel_size: .*5 columns.*at most 3"):
        image.check_data((8, 8, 1), 10)
    # a block repeated at least 4 times: 40 -> 19 -> 8 -> 3 -> 1 step, then a pool of 2
    block = _space([{"repeat": {"low": 4, "high": 6},
                     "layers": [{"type": "conv1d", "filters": 8, "kernel_size": 3}, {"type": "max_pool1d"}]}])
    with pytest.raises(SpaceError, match=r"model\.layers\[0\]\.layers\[1\]\.pool_size: .*repetition 4 of at least 4"):
        block.check_data((40,), 10)
    residual = _space([{"repeat": 1, "residual": True, "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 9}]},
                       {"type": "flatten"}])
    with pytest.raises(SpaceError, match=r"model\.layers\[0\]\.layers\[0\]\.kernel_size"):
        residual.check_data((8, 8, 1), 10)
    # a sequence from an embedding or a recurrent layer keeps its steps
    rnn = _space([{"type": "embedding", "input_dim": 10, "output_dim": 4},
                  {"type": "gru", "units": 4, "return_sequences": {"choice": [True, False]}},
                  {"type": "avg_pool1d", "pool_size": 16, "strides": 1}])
    with pytest.raises(SpaceError, match=r"model\.layers\[2\]\.pool_size: avg_pool1d needs 16 steps"):
        rnn.check_data((12,), 10)


@pytest.mark.parametrize("layers", [
    # one kernel fits, or padding 'same' may be drawn
    [{"type": "conv1d", "filters": 8, "kernel_size": {"choice": [5, 40, 64]}}],
    [{"type": "conv1d", "filters": 8, "kernel_size": {"choice": [64, 128]}, "padding": {"choice": ["valid", "same"]}}],
    [{"type": "conv1d", "filters": 8, "kernel_size": {"low": 20, "high": 64}, "strides": 2, "padding": "valid"}],
    # 40 -> 19 -> 8 -> 3 steps at the least count; more repetitions fail only those configurations
    [{"repeat": {"low": 3, "high": 6},
      "layers": [{"type": "conv1d", "filters": 8, "kernel_size": 3}, {"type": "max_pool1d"}]}],
    # a block that may be left out; the pool after it gets 40 steps then
    [{"repeat": {"choice": [0, 8]}, "layers": [{"type": "max_pool1d", "pool_size": 2}]},
     {"type": "max_pool1d", "pool_size": 30}],
    # a crop or a reshape fixes the shape whatever came before
    [{"type": "reshape", "target_shape": [8, 5]}, {"type": "conv1d", "filters": 2, "kernel_size": 8}],
    [{"type": "dense", "units": 4}, {"type": "flatten"}, {"type": "dense", "units": 4}],
])
def test_a_window_that_fits_in_some_configuration_passes(layers: list[dict[str, Any]]) -> None:
    _space(layers).check_data((40,), 10)


def test_the_cli_refuses_such_a_space_with_exit_2_and_writes_nothing(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "wide.yaml").write_text(
        TINY_YAML.replace("    - type: dense\n      units: {low: 8, high: 32, step: 8}\n",
                          "    - type: conv1d\n      filters: 8\n      kernel_size: {choice: [64, 128]}\n"))
    r = run_cli("search", "wide.yaml", "--data", "mnist1d", "--trials", "2", timeout=120)
    assert r.returncode == 2, r.stderr
    assert "model.layers[0].kernel_size: conv1d needs 64 steps" in r.stderr and "Traceback" not in r.stderr
    # no store, nor anything else beside the space file (Keras's home is the test's own)
    assert {p.name for p in tmp_path.iterdir()} <= {"wide.yaml", ".keras"}, list(tmp_path.iterdir())
