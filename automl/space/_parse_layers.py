"""Validating ``model.layers``: layers, their nested arguments and repeated (residual) blocks."""

from __future__ import annotations

import difflib
from typing import Any

from automl.space._catalog import ACTIVATIONS, LAYER_ALIASES, LAYERS, NORMS, RECURRENT, Arg
from automl.space._limits import key_text, show
from automl.space._params import Fixed, Param, Problems, mapping, parse_param
from automl.space._space import Item, LayerSpec, RepeatSpec

__all__ = ["parse_layers"]

_FACTOR = Arg("float", ge=0.0)
_BLOCK_KEYS = ("repeat", "layers", "residual")


def parse_layers(raw: Any, path: str, problems: Problems, allow_repeat: bool = True) -> list[Item]:
    """The layers and blocks of ``raw`` (a list), every problem recorded with its path."""
    if not isinstance(raw, list) or not raw:
        problems.add(path, "must be a non-empty list of layers")
        return []
    out: list[Item] = []
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(item, dict):
            problems.add(p, f"must be a mapping with a 'type' (got {show(item)})")
            continue
        if "repeat" in item:
            if not allow_repeat:
                problems.add(f"{p}.repeat", "repeated blocks cannot be nested")
                continue
            block = _block(item, p, problems)
            if block is not None:
                out.append(block)
            continue
        if "residual" in item:
            problems.add(f"{p}.residual", "only a block is residual: write {repeat: 1, residual: true, layers: [...]}")
            continue
        layer = _layer(item, p, problems)
        if layer is None:
            continue
        if layer.type == "embedding" and not (allow_repeat and i == 0):
            problems.add(f"{p}.type", "embedding reads the data's integer tokens: it must be the first layer "
                                      "(model.layers[0])")
            continue
        out.append(layer)
    return out


def _block(item: dict[str, Any], p: str, problems: Problems) -> RepeatSpec | None:
    for k in item:
        if k not in _BLOCK_KEYS:
            problems.add(f"{p}.{key_text(k)}", f"unknown key in a repeated block; allowed: {', '.join(_BLOCK_KEYS)}")
    times = parse_param(item["repeat"], Arg("int", ge=0), f"{p}.repeat", problems)
    inner = parse_layers(item.get("layers"), f"{p}.layers", problems, allow_repeat=False)
    residual, norm, activation = _residual(item.get("residual", False), f"{p}.residual", problems)
    if times is None or not inner:
        return None
    return RepeatSpec(times, tuple(l for l in inner if isinstance(l, LayerSpec)), residual, norm, activation)


def _residual(raw: Any, path: str, problems: Problems) -> tuple[bool, Param | None, Param | None]:
    """``residual: true``, or a mapping naming what follows the add (``norm``, ``activation``)."""
    if isinstance(raw, bool):
        return raw, None, None
    if not isinstance(raw, dict):
        problems.add(path, f"must be true, false or a mapping {{norm, activation}} (got {show(raw)})")
        return False, None, None
    m = mapping(raw, path, ("norm", "activation"), problems)
    norm = parse_param(m["norm"], Arg("str", choices=NORMS), f"{path}.norm", problems) if "norm" in m else None
    act = parse_param(m["activation"], Arg("str", choices=ACTIVATIONS), f"{path}.activation",
                      problems) if "activation" in m else None
    return True, norm, act


def _layer(item: dict[str, Any], p: str, problems: Problems) -> LayerSpec | None:
    t = item.get("type")
    if not isinstance(t, str):
        problems.add(f"{p}.type", "is required (a layer type such as dense or conv2d)")
        return None
    key = LAYER_ALIASES.get(t.lower(), t.lower())
    if key not in LAYERS:
        close = difflib.get_close_matches(key, list(LAYERS), n=1)
        hint = (f"did you mean {close[0]}?" if close else
                f"known: {', '.join(LAYERS)}" if problems.first_time("layer types") else "known: as listed above")
        problems.add(f"{p}.type", f"unknown layer type {show(t)}; {hint}")
        return None
    spec = LAYERS[key]
    args: dict[str, Param] = {}
    for k, v in item.items():
        if k == "type":
            continue
        if k not in spec.args:
            allowed = ", ".join(spec.args) or "none"
            problems.add(f"{p}.{key_text(k)}", f"unknown argument for {key}; allowed: {allowed}")
            continue
        kind = spec.args[k].kind
        if kind == "regularizer":
            args.update(_regularizer(v, f"{p}.{k}", problems))
        elif kind == "layer":
            args.update(_wrapped(v, f"{p}.{k}", problems))
        else:
            param = parse_param(v, spec.args[k], f"{p}.{k}", problems)
            if param is not None:
                args[k] = param
    for k, a in spec.args.items():
        if a.required and k not in item:
            problems.add(f"{p}.{k}", f"is required for {key}")
    _check_groups(args, p, problems)
    return LayerSpec(key, args)


def _regularizer(raw: Any, path: str, problems: Problems) -> dict[str, Param]:
    """``{l1: f, l2: f}`` (either or both, each fixed or searched), flattened under ``path``'s key."""
    name = path.rsplit(".", 1)[-1]
    if not isinstance(raw, dict) or not raw:
        problems.add(path, f"must be a mapping {{l1: factor, l2: factor}} (either or both; got {show(raw)})")
        return {}
    m = mapping(raw, path, ("l1", "l2"), problems)
    out: dict[str, Param] = {}
    for k in ("l1", "l2"):
        if k in m:
            param = parse_param(m[k], _FACTOR, f"{path}.{k}", problems)
            if param is not None:
                out[f"{name}.{k}"] = param
    return out


def _wrapped(raw: Any, path: str, problems: Problems) -> dict[str, Param]:
    """The recurrent layer a ``bidirectional`` wraps, its arguments flattened under ``layer.``."""
    if not isinstance(raw, dict):
        problems.add(path, f"must be a layer mapping such as {{type: gru, units: 32}} (got {show(raw)})")
        return {}
    inner = _layer(raw, path, problems)
    if inner is None:
        return {}
    if inner.type not in RECURRENT:
        problems.add(f"{path}.type", f"bidirectional wraps {' or '.join(RECURRENT)} (got {show(raw.get('type'))})")
        return {}
    name = path.rsplit(".", 1)[-1]
    return {f"{name}.type": Fixed(inner.type), **{f"{name}.{k}": v for k, v in inner.args.items()}}


def _check_groups(args: dict[str, Param], p: str, problems: Problems) -> None:
    """A grouped convolution splits its filters evenly: refuse fixed values that cannot."""
    filters, groups = args.get("filters"), args.get("groups")
    if isinstance(filters, Fixed) and isinstance(groups, Fixed) and filters.value % groups.value:
        problems.add(f"{p}.groups", f"filters ({filters.value}) must be a multiple of groups ({groups.value})")
