"""New layer types, regularizers and residual blocks in the YAML format: parsed, drawn, refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from automl.errors import SpaceError
from automl.space import FixedHP, parse_space
from tests.space.test_parse import RandomHP


def _space(*layers: Any, **top: Any) -> dict[str, Any]:
    return {"model": {"layers": list(layers)}, **top}


GOOD_LAYERS = [
    {"type": "lstm", "units": {"low": 4, "high": 16}, "return_sequences": {"choice": [True, False]},
     "dropout": {"low": 0.0, "high": 0.3}, "recurrent_dropout": 0.1},
    {"type": "gru", "units": 8, "kernel_regularizer": {"l2": {"low": 1e-6, "high": 1e-3, "log": True}}},
    {"type": "bidirectional", "layer": {"type": "gru", "units": {"choice": [4, 8]}}, "merge_mode": "sum"},
    {"type": "conv1d", "filters": 8, "kernel_size": 3, "groups": {"choice": [1, 2]}},
    {"type": "separable_conv2d", "filters": 8, "kernel_size": [3, 3], "depth_multiplier": 2},
    {"type": "depthwise_conv2d", "kernel_size": 3, "kernel_regularizer": {"l1": 1e-5, "l2": 1e-4}},
    {"type": "random_flip", "mode": "horizontal"},
    {"type": "random_rotation", "factor": {"low": 0.0, "high": 0.2}, "fill_mode": "constant"},
    {"type": "random_translation", "height_factor": 0.1, "width_factor": 0.1},
    {"type": "random_zoom", "height_factor": 0.1},
    {"type": "random_crop", "height": 28, "width": 28},
    {"type": "random_contrast", "factor": 0.2, "value_range": [0, 1]},
    {"type": "rescaling", "scale": 0.00392, "offset": 0.0},
    {"type": "gaussian_noise", "stddev": {"low": 0.0, "high": 0.2}},
    {"type": "reshape", "target_shape": [4, -1]},
    {"type": "RandomFlip"},
]


@pytest.mark.parametrize("layer", GOOD_LAYERS, ids=[str(g["type"]) for g in GOOD_LAYERS])
def test_each_new_layer_parses_and_draws(layer: dict[str, Any]) -> None:
    space = parse_space(_space(layer, {"type": "flatten"}))
    hp = RandomHP(0)
    config = space.sample(hp)
    assert config["layers"][0]["type"] == space.layers[0].type  # type: ignore[union-attr]
    assert space.sample(FixedHP(hp.values)) == config


def test_nested_values_are_drawn_under_their_field_path_names() -> None:
    space = parse_space(_space(
        {"type": "bidirectional", "layer": {"type": "gru", "units": {"low": 4, "high": 8},
                                            "kernel_regularizer": {"l2": {"low": 1e-6, "high": 1e-3, "log": True}}}},
        {"type": "dense", "units": 4, "kernel_regularizer": {"l1": {"low": 0.0, "high": 0.01}}}))
    hp = RandomHP(3)
    config = space.sample(hp)
    assert set(hp.values) >= {"layer0.layer.units", "layer0.layer.kernel_regularizer.l2",
                              "layer1.kernel_regularizer.l1"}
    wrapped = config["layers"][0]["layer"]
    assert wrapped["type"] == "gru" and wrapped["units"] == hp.values["layer0.layer.units"]
    assert wrapped["kernel_regularizer"] == {"l2": hp.values["layer0.layer.kernel_regularizer.l2"]}
    assert config["layers"][1]["kernel_regularizer"] == {"l1": hp.values["layer1.kernel_regularizer.l1"]}


def test_a_residual_block_draws_one_entry_per_repetition() -> None:
    space = parse_space(_space({"type": "conv2d", "filters": 8, "kernel_size": 3},
                               {"repeat": {"low": 1, "high": 3},
                                "residual": {"norm": {"choice": ["batch_norm", "none"]}, "activation": "relu"},
                                "layers": [{"type": "conv2d", "filters": {"choice": [8, 16]}, "kernel_size": 3,
                                            "padding": "same"}]}))
    for seed in range(5):
        hp = RandomHP(seed)
        config = space.sample(hp)
        blocks = config["layers"][1:]
        assert len(blocks) == hp.values["block1.repeat"]
        assert all(b["type"] == "residual" and b["activation"] == "relu"
                   and b["norm"] == hp.values["block1.residual.norm"] for b in blocks)
        assert blocks[0]["layers"][0]["filters"] == hp.values["block1.rep0.filters"]
    space.check_data((8, 8, 3), 10)


BAD = [
    # (layers, expected field path, words in the message)
    ([{"type": "gru"}], "model.layers[0].units", "is required for gru"),
    ([{"type": "lstm", "units": 4, "dropout": 1.0}], "model.layers[0].dropout", "must be < 1"),
    ([{"type": "lstm", "units": 4, "return_sequences": "yes"}], "model.layers[0].return_sequences", "true or false"),
    ([{"type": "bidirectional", "layer": {"type": "dense", "units": 4}}], "model.layers[0].layer.type",
     "wraps lstm or gru"),
    ([{"type": "bidirectional"}], "model.layers[0].layer", "is required"),
    ([{"type": "bidirectional", "layer": {"type": "gru", "units": 0}}], "model.layers[0].layer.units", ">= 1"),
    ([{"type": "bidirectional", "layer": "gru"}], "model.layers[0].layer", "a layer mapping"),
    ([{"type": "conv1d", "filters": 6, "kernel_size": 3, "groups": 4}], "model.layers[0].groups",
     "multiple of groups"),
    ([{"type": "dense", "units": 4, "kernel_regularizer": {"l3": 0.1}}], "model.layers[0].kernel_regularizer.l3",
     "unknown key"),
    ([{"type": "dense", "units": 4, "kernel_regularizer": 0.01}], "model.layers[0].kernel_regularizer",
     "{l1: factor, l2: factor}"),
    ([{"type": "dense", "units": 4, "kernel_regularizer": {"l2": -1.0}}], "model.layers[0].kernel_regularizer.l2",
     "must be >= 0"),
    ([{"type": "dropout", "rate": 0.1, "kernel_regularizer": {"l2": 0.1}}], "model.layers[0].kernel_regularizer",
     "unknown argument for dropout"),
    ([{"type": "flatten"}, {"type": "embedding", "input_dim": 10, "output_dim": 4}], "model.layers[1].type",
     "must be the first layer"),
    ([{"type": "embedding", "input_dim": 10}], "model.layers[0].output_dim", "is required"),
    ([{"type": "reshape", "target_shape": [-1, -1]}], "model.layers[0].target_shape", "at most one -1"),
    ([{"type": "reshape", "target_shape": {"choice": [4, 8]}}], "model.layers[0].target_shape", "is fixed"),
    ([{"type": "random_contrast", "factor": 0.2, "value_range": [1, 0]}], "model.layers[0].value_range",
     "below the second"),
    ([{"type": "random_flip", "mode": "diagonal"}], "model.layers[0].mode", "unknown value 'diagonal'"),
    ([{"type": "random_rotation"}], "model.layers[0].factor", "is required"),
    ([{"type": "random_zoom", "height_factor": 1.5}], "model.layers[0].height_factor", "must be <= 1"),
    ([{"type": "gaussian_noise", "stddev": -0.1}], "model.layers[0].stddev", "must be >= 0"),
    ([{"type": "gruu", "units": 4}], "model.layers[0].type", "did you mean gru?"),
    ([{"repeat": 1, "residual": "yes", "layers": [{"type": "dense", "units": 4}]}], "model.layers[0].residual",
     "must be true, false or a mapping"),
    ([{"repeat": 1, "residual": {"norm": "group_norm"}, "layers": [{"type": "dense", "units": 4}]}],
     "model.layers[0].residual.norm", "unknown value 'group_norm'"),
    ([{"type": "dense", "units": 4, "residual": True}], "model.layers[0].residual", "only a block is residual"),
]


@pytest.mark.parametrize("layers,path,words", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_layers_name_the_field(layers: list[Any], path: str, words: str) -> None:
    with pytest.raises(SpaceError) as e:
        parse_space(_space(*copy.deepcopy(layers)))
    problems = dict(e.value.problems)
    assert path in problems, e.value.problems
    assert words in problems[path]


RANKS = [
    # (layers, data shape, expected field path, words)
    ([{"type": "gru", "units": 4}], (8, 8, 3), "model.layers[0].type", "gru needs 1-D sequence input"),
    ([{"type": "flatten"}, {"type": "lstm", "units": 4}], (40,), "model.layers[1].type", "rank-1 output"),
    ([{"type": "gru", "units": 4}, {"type": "gru", "units": 4}], (40,), "model.layers[1].type",
     "gru needs 1-D sequence input"),
    ([{"type": "bidirectional", "layer": {"type": "gru", "units": 4}}, {"type": "conv1d", "filters": 4,
                                                                       "kernel_size": 3}],
     (40,), "model.layers[1].type", "conv1d needs"),
    ([{"type": "random_flip"}], (40,), "model.layers[0].type", "random_flip needs 2-D image input"),
    ([{"type": "reshape", "target_shape": [7, 7]}], (40,), "model.layers[0].target_shape", "cannot reshape (40,)"),
    ([{"type": "rescaling", "scale": 0.5}, {"type": "reshape", "target_shape": [3, -1]}], (40,),
     "model.layers[1].target_shape", "40 values"),
    ([{"type": "conv2d", "filters": 4, "kernel_size": 3},
      {"repeat": 2, "residual": True, "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3},
                                                  {"type": "global_avg_pool2d"}]}],
     (8, 8, 3), "model.layers[1].residual", "adds its input to its output"),
]


@pytest.mark.parametrize("layers,shape,path,words", RANKS, ids=[r[2] + ":" + r[3] for r in RANKS])
def test_a_stack_that_cannot_take_the_data_is_refused_with_its_path(layers: list[Any], shape: tuple[int, ...],
                                                                      path: str, words: str) -> None:
    space = parse_space(_space(*layers))
    with pytest.raises(SpaceError) as e:
        space.check_data(shape, 10)
    assert e.value.problems[0][0] == path, e.value.problems
    assert words in e.value.problems[0][1]


def test_ranks_that_work() -> None:
    from automl.space import effective_input_shape

    # MNIST-1D's (40,) signals get a feature axis for a recurrent layer, as for conv1d.
    assert effective_input_shape(["gru", "dense"], (40,)) == (40, 1)
    assert effective_input_shape([{"type": "reshape", "target_shape": [10, 4]}, {"type": "gru", "units": 4}],
                                 (40,)) == (40,)
    # A searched return_sequences: the next recurrent layer works for one of its values.
    parse_space(_space({"type": "gru", "units": 4, "return_sequences": {"choice": [True, False]}},
                       {"type": "gru", "units": 4})).check_data((40,), 10)
    parse_space(_space({"type": "embedding", "input_dim": 50, "output_dim": 8},
                       {"type": "bidirectional", "layer": {"type": "lstm", "units": 4}})).check_data((12,), 10)
    parse_space(_space({"type": "random_crop", "height": 6, "width": 6},
                       {"type": "reshape", "target_shape": [36]})).check_data((8, 8), 10)
