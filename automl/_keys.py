"""Every attribute automl adds to Optuna's schema, in one registry: what readers of a store
(the dashboard, the CLI, other tools) may rely on, and the table in docs/architecture.md.

Writers name a key through :func:`attr`, which refuses one that is not registered here
(``tests/test_keys.py`` checks the stores that real searches write, and the docs table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ATTR", "KEYS", "Key", "attr", "registered"]

ATTR = "automl:"
"""The namespace of every attribute automl adds."""

On = Literal["study", "trial"]


@dataclass(frozen=True)
class Key:
    """One ``automl:*`` attribute: where it lives and what it means.

    ``system`` keys are machine state, kept in Optuna's system attributes (out of the
    dashboard's attribute list); the others are user attributes people read."""

    name: str
    on: On
    system: bool
    meaning: str

    @property
    def attr(self) -> str:
        return ATTR + self.name


KEYS: tuple[Key, ...] = (
    Key("space", "study", False, "the space definition (enough to resume)"),
    Key("space_fingerprint", "study", False, "a hash of the space definition"),
    Key("data", "study", False, "where the data came from, shapes, splits and seeds"),
    Key("data_fingerprint", "study", False,
        "what identifies the data (shapes, classes, split sizes, a hash of the labels, statistics of the "
        "features): continuing the study on other data is refused"),
    Key("engine", "study", False, "the engine that searches the study"),
    Key("algorithm", "study", False, "the engine's algorithm"),
    Key("sampler", "study", False, "the Optuna sampler (kerastuner.<algorithm> for KerasTuner)"),
    Key("pruner", "study", False, "the pruner"),
    Key("seed", "study", False, "the search's seed"),
    Key("objective", "study", False, "the objective metric (comma-separated for several)"),
    Key("direction", "study", False, "minimize or maximize, per objective"),
    Key("n_trials", "study", False, "the budget last asked for"),
    Key("task", "study", True, "the task (classification, binary, multilabel, regression) and why it was chosen"),
    Key("artifacts", "study", True, "the folder of the artifact store that holds its trials' weights"),
    Key("kt_state", "study", True, "KerasTuner: the Oracle's state"),
    Key("budget_key", "study", True, "the study's identity for its budget row"),
    Key("engine", "trial", False, "the engine that made the trial"),
    Key("config", "trial", True, "the concrete model configuration"),
    Key("history", "trial", True, "every metric of every epoch"),
    Key("epoch_seconds", "trial", True, "each epoch's seconds, the first including compiling"),
    Key("epochs", "trial", False, "the epochs it trained"),
    Key("params_count", "trial", False, "the model's weights"),
    Key("fit_seconds", "trial", False, "training time"),
    Key("device", "trial", False, "where it ran"),
    Key("memory_mb", "trial", False, "the worker's memory after the trial"),
    Key("compiles", "trial", False,
        "on JAX: the XLA programs the trial compiled, those the persistent cache served, and the seconds "
        "compiling and tracing (a later trial of one architecture compiles none)"),
    Key("stopped_early", "trial", False, "why training ended before its epochs (early stopping); still complete"),
    Key("error", "trial", False, "why a failed trial failed (only on failed trials)"),
    Key("warning", "trial", False, "what went wrong without costing the result (weights not kept)"),
    Key("claim", "trial", True, "the budget claim the trial was made with"),
    Key("unclaimed", "trial", True, "the trial ended unrun because it held no unit of the budget (not counted)"),
    Key("budget", "trial", False, "KerasTuner: the epochs and parent of a Hyperband trial"),
    Key("kt_trial_id", "trial", False, "KerasTuner: its Oracle trial's id"),
    Key("kt_trial", "trial", True, "KerasTuner: its Oracle trial's state"),
)

_BY = {(k.on, k.name): k for k in KEYS}


def registered(on: On, name: str) -> Key | None:
    """The registered key ``name`` (without the prefix) on a study or a trial, else None."""
    return _BY.get((on, name))


def attr(on: On, name: str, *, system: bool = False) -> str:
    """The attribute name of key ``name``; a key not registered (or registered as the other
    kind) is a bug in automl, refused here before it reaches a store."""
    key = _BY.get((on, name))
    if key is None or key.system != system:
        kind = "system" if system else "user"
        raise KeyError(f"{ATTR}{name} is not a registered {on} {kind} attribute (automl/_keys.py)")
    return key.attr
