"""The report's cards and tables: the best trial, the top, failed and Pareto trials, the settings."""

from __future__ import annotations

import shlex
from typing import Any

from automl._report._format import (
    Objectives,
    esc,
    num,
    plain_error,
    seconds,
    table,
    text,
)
from automl._keys import ATTR
from automl.engines._record import epochs_of

__all__ = ["best_card", "export_command", "failed_table", "settings_table", "trial_space", "trials_table"]


def _attr(t: Any, key: str) -> Any:
    from automl.engines._record import state_of

    return state_of(t, key)  # user attributes, or machine state kept as system ones


def _duration(t: Any) -> float | None:
    return t.duration.total_seconds() if t.duration is not None else None


def _values(t: Any, obj: Objectives) -> list[str]:
    vals = list(t.values) if t.values else []
    if not vals and t.intermediate_values:  # a pruned trial: its last reported value
        vals = [t.intermediate_values[max(t.intermediate_values)]]
    return [num(vals[i]) if i < len(vals) else "–" for i in range(len(obj.names))]


def trial_space(study: Any, t: Any) -> dict[str, Any]:
    """The trial's configuration as a search space whose every value is fixed, so that
    ``automl search trial.yaml --trials 1`` trains it again (else its parameters)."""
    config = _attr(t, "config") or {}
    definition = study.user_attrs.get(f"{ATTR}space") or {}
    if not isinstance(config.get("layers"), list) or not isinstance(config.get("optimizer"), dict):
        return {"params": dict(t.params)}
    space: dict[str, Any] = {"name": f"{definition.get('name', study.study_name)}-trial-{t.number}",
                             "description": f"trial {t.number} of study {study.study_name}, every value fixed"}
    for key in ("input_shape", "num_classes"):
        if key in definition:
            space[key] = definition[key]
    model: dict[str, Any] = {"layers": config["layers"]}
    if "output_activation" in config:
        model["output_activation"] = config["output_activation"]
    opt = dict(config["optimizer"])
    name = opt.pop("name", "adam")
    optimizer: dict[str, Any] = {"name": name, "learning_rate": opt.pop("learning_rate", 0.001)}
    if opt:
        optimizer["options"] = {name: opt}
    space.update(model=model, optimizer=optimizer,
                 training={k: config[k] for k in ("batch_size", "epochs", "loss", "metrics") if k in config})
    if "objective" in definition:
        space["objective"] = definition["objective"]
    return space


def export_command(study: Any, number: int) -> str:
    return f"automl export {shlex.quote(study.study_name)} --trial {number} --out model.keras"


def best_card(study: Any, t: Any, obj: Objectives, why: str) -> str:
    """The trial a person came for: its scores, cost, parameters, and how to reuse it."""
    import yaml

    facts = [(f"{esc(n)}", v) for n, v in zip(obj.names, _values(t, obj))]
    facts += [("epochs", num(epochs_of(t))), ("parameters", num(_attr(t, "params_count"))),
              ("duration", seconds(_duration(t))), ("training", seconds(_attr(t, "fit_seconds"))),
              ("device", esc(_attr(t, "device") or "–"))]
    if _attr(t, "memory_mb") is not None:
        facts.append(("memory", f"{num(_attr(t, 'memory_mb'))} MB"))
    stats = "".join(f"<div class='stat'><span>{k}</span><b>{v}</b></div>" for k, v in facts)
    params = table(["parameter", "value"], ([esc(k), esc(num(v))] for k, v in t.params.items()), "params")
    config = yaml.safe_dump(trial_space(study, t), sort_keys=False, default_flow_style=None, width=100)
    warning = _attr(t, "warning")
    return (f"<div class='card'><h3>Trial #{t.number} <small>{esc(why)}</small></h3><div class='stats'>{stats}"
            f"</div>{params}"
            + (f"<p class='warn'>{esc(plain_error(warning))}</p>" if warning else "")
            + f"<p>Export its model (the weights kept from the search):</p><pre class='cmd'>"
            f"{esc(export_command(study, t.number))}</pre>"
            f"<p>Its configuration, every value fixed (<code>automl search trial.yaml --trials 1</code> "
            f"trains it again):</p><pre class='yaml'>{esc(config)}</pre></div>")


def trials_table(trials: list[Any], obj: Objectives, params: bool = True) -> str:
    """Trials as rows: state, every objective by name, epochs, size, time, device, parameters."""
    names: list[str] = []
    for t in trials:
        names.extend(k for k in t.params if k not in names)
    headers = ["#", "state", *obj.headers(), "epochs", "parameters", "duration", "device"]
    headers += [esc(n) for n in names] if params else []
    rows = [[str(t.number), t.state.name.lower(), *_values(t, obj), num(epochs_of(t)), num(_attr(t, "params_count")),
             seconds(_duration(t)), esc(_attr(t, "device") or "–")]
            + ([esc(num(t.params[n])) if n in t.params else "" for n in names] if params else [])
            for t in trials]
    return table(headers, rows, "trials")


def failed_table(study: Any) -> str:
    """Failed trials with the reason each failed, and the retry that replaced it."""
    failed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "FAIL"]
    if not failed:
        return ""
    retry_of = {t.system_attrs["failed_trial"]: t.number for t in study.get_trials(deepcopy=False)
                if "failed_trial" in t.system_attrs}
    rows = [[str(t.number), f"<span class='err'>{esc(plain_error(_attr(t, 'error')) or 'no reason recorded')}</span>",
             num(epochs_of(t)), seconds(_duration(t)), esc(_attr(t, "device") or "–"),
             f"#{retry_of[t.number]}" if t.number in retry_of else "–",
             esc(", ".join(f"{k}={num(v)}" for k, v in t.params.items()))] for t in failed]
    return table(["#", "reason", "epochs", "duration", "device", "retried as", "parameters"], rows, "failed")


def settings_table(study: Any) -> str:
    """The search's settings (engine, sampler, data...), numbers rounded; the space is shown apart."""
    skip = {f"{ATTR}{k}" for k in ("space", "kt_state", "space_fingerprint", "data_fingerprint")}
    rows = [[esc(k.removeprefix(ATTR)), esc(text(v))] for k, v in sorted(study.user_attrs.items())
            if k.startswith(ATTR) and k not in skip]
    return table(["setting", "value"], rows, "settings")
