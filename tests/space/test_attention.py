"""Attention layers in the YAML format: parsed, drawn under their names, refused with their
field paths (arguments, ranks, sizes)."""

from __future__ import annotations

from typing import Any

import pytest

from automl.errors import SpaceError
from automl.space import FixedHP, parse_space
from automl.space._shapes import effective_input_shape
from tests.space.test_parse import RandomHP

BLOCK = {"type": "transformer_block", "num_heads": {"choice": [2, 4]}, "key_dim": {"low": 4, "high": 16, "step": 4},
         "ff_units": {"choice": [16, 32]}, "dropout": {"low": 0.0, "high": 0.3}, "attention_dropout": 0.1,
         "activation": {"choice": ["relu", "gelu"]}, "norm_first": {"choice": [True, False]}, "epsilon": 1e-6,
         "kernel_regularizer": {"l2": {"low": 1e-6, "high": 1e-3, "log": True}}}
ATTENTION = {"type": "multi_head_attention", "num_heads": {"low": 1, "high": 4}, "key_dim": 8, "value_dim": 4,
             "dropout": 0.1, "use_bias": False, "kernel_regularizer": {"l1": 1e-5}}


def _space(*layers: Any) -> dict[str, Any]:
    return {"model": {"layers": list(layers)}}


def test_attention_layers_parse_and_draw_under_their_names() -> None:
    space = parse_space(_space({"type": "positional_embedding"}, ATTENTION,
                               {"repeat": {"low": 1, "high": 2}, "layers": [BLOCK]}, {"type": "global_avg_pool1d"}))
    hp = RandomHP(0)
    config = space.sample(hp)
    assert [layer["type"] for layer in config["layers"][:2]] == ["positional_embedding", "multi_head_attention"]
    assert {"layer1.num_heads", "block2.rep0.num_heads", "block2.rep0.key_dim", "block2.rep0.ff_units",
            "block2.rep0.norm_first", "block2.rep0.kernel_regularizer.l2"} <= set(hp.values)
    block = config["layers"][2]
    assert block["type"] == "transformer_block" and block["ff_units"] == hp.values["block2.rep0.ff_units"]
    assert block["kernel_regularizer"] == {"l2": hp.values["block2.rep0.kernel_regularizer.l2"]}
    assert config["layers"][1]["value_dim"] == 4 and config["layers"][1]["use_bias"] is False
    assert space.sample(FixedHP(hp.values)) == config


@pytest.mark.parametrize("spelling", ["MultiHeadAttention", "multiheadattention"])
def test_keras_spellings_are_accepted(spelling: str) -> None:
    space = parse_space(_space({"type": spelling, "num_heads": 2, "key_dim": 4}))
    assert space.layers[0].type == "multi_head_attention"  # type: ignore[union-attr]


@pytest.mark.parametrize("layer, path, words", [
    ({"type": "transformer_block", "key_dim": 4, "ff_units": 8}, "model.layers[0].num_heads", "is required"),
    ({"type": "transformer_block", "num_heads": 2, "key_dim": 4}, "model.layers[0].ff_units", "is required"),
    ({"type": "multi_head_attention", "num_heads": 2}, "model.layers[0].key_dim", "is required"),
    ({"type": "multi_head_attention", "num_heads": 0, "key_dim": 4}, "model.layers[0].num_heads", ">= 1"),
    ({**BLOCK, "key_dim": {"low": 0, "high": 4}}, "model.layers[0].key_dim.low", ">= 1"),
    ({**BLOCK, "dropout": 1.0}, "model.layers[0].dropout", "< 1"),
    ({**BLOCK, "norm_first": "yes"}, "model.layers[0].norm_first", "true or false"),
    ({**BLOCK, "activation": "swishy"}, "model.layers[0].activation", "unknown value"),
    ({**BLOCK, "kernel_regularizer": {"l3": 1.0}}, "model.layers[0].kernel_regularizer.l3", "unknown key"),
    ({**BLOCK, "units": 8}, "model.layers[0].units", "unknown argument for transformer_block"),
    ({"type": "positional_embedding", "length": 40}, "model.layers[0].length", "allowed: none"),
])
def test_bad_attention_layers_name_the_field(layer: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(SpaceError) as e:
        parse_space(_space(layer))
    messages = dict(e.value.problems)
    assert path in messages, e.value.problems
    assert words in messages[path]


SEQ = {"type": "transformer_block", "num_heads": 2, "key_dim": 4, "ff_units": 8}


@pytest.mark.parametrize("layers, shape, path", [
    ([SEQ], (8, 8, 3), "model.layers[0].type"),  # an image: attention reads (steps, features)
    ([{"type": "flatten"}, {"type": "positional_embedding"}], (40,), "model.layers[1].type"),
    ([{"type": "gru", "units": 4}, {"type": "multi_head_attention", "num_heads": 2, "key_dim": 4}], (40,),
     "model.layers[1].type"),
    ([{"type": "conv2d", "filters": 4, "kernel_size": 3}, SEQ], (8, 8), "model.layers[1].type"),
    # A residual block of a transformer and a pooling to one step changes the rank.
    ([{"repeat": 1, "residual": True, "layers": [SEQ, {"type": "global_avg_pool1d"}]}], (40, 2),
     "model.layers[0].residual"),
])
def test_attention_on_a_rank_it_cannot_take_is_refused_with_its_path(layers: list[Any], shape: tuple[int, ...],
                                                                     path: str) -> None:
    with pytest.raises(SpaceError) as e:
        parse_space(_space(*layers)).check_data(shape, 3)
    assert [p for p, _ in e.value.problems] == [path]
    assert "needs" in e.value.problems[0][1] or "rank" in e.value.problems[0][1]


def test_ranks_through_attention() -> None:
    # (40,) data gets a feature axis for the first sequence layer; the blocks keep the shape,
    # so a pooling or a recurrent layer can follow, and an embedding's tokens can be read.
    assert effective_input_shape(["positional_embedding", "transformer_block", "global_avg_pool1d"], (40,)) == (40, 1)
    assert effective_input_shape(["conv1d", "multi_head_attention", "gru"], (40,)) == (40, 1)
    assert effective_input_shape(["embedding", "positional_embedding", "transformer_block"], (12,)) == (12,)
    parse_space(_space({"repeat": 2, "residual": True, "layers": [SEQ]}, {"type": "global_avg_pool1d"})
                ).check_data((40, 3), 3)


def test_an_attention_layer_too_big_in_every_configuration_is_refused_with_its_field() -> None:
    huge = {"type": "multi_head_attention", "num_heads": 1_000, "key_dim": {"choice": [100_000, 200_000]}}
    with pytest.raises(SpaceError) as e:
        parse_space(_space(huge)).check_data((40, 2), 3)
    assert e.value.problems[0][0] == "model.layers[0].key_dim" and "200,000,000" in e.value.problems[0][1]
    wide = {**SEQ, "ff_units": 60_000_000}
    with pytest.raises(SpaceError) as e:
        parse_space(_space(wide)).check_data((40, 2), 3)
    assert e.value.problems[0][0] == "model.layers[0].ff_units"
    # One value that fits is enough.
    parse_space(_space({**huge, "key_dim": {"choice": [8, 200_000]}})).check_data((40, 2), 3)
