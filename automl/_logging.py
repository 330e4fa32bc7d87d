"""The one library logger. Library code logs; only the CLI configures handlers."""

from __future__ import annotations

import logging
import sys

_ROOT = "automl"
_optuna_level: int | None = None


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the ``automl`` logger or one of its children (``automl.<name>``)."""
    return logging.getLogger(_ROOT if not name else f"{_ROOT}.{name.removeprefix('automl.')}")


def set_optuna_verbosity(level: int) -> None:
    """Optuna's log level, set now if Optuna is imported, else when the store is opened
    (:func:`apply_optuna_verbosity`): importing Optuna only for this cost the commands that read a
    store a fifth of their time (benchmarks/README.md, "Reading a store")."""
    global _optuna_level
    _optuna_level = level
    if "optuna" in sys.modules:
        apply_optuna_verbosity()


def apply_optuna_verbosity() -> None:
    if _optuna_level is not None:
        import optuna

        optuna.logging.set_verbosity(_optuna_level)


get_logger().addHandler(logging.NullHandler())
