"""automl: search Keras architectures and hyperparameters with Optuna or KerasTuner.

Importing this package is cheap: Keras, TensorFlow and Optuna load when first used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["search", "SearchResult", "HP", "load_data", "predict", "resolve_space", "__version__"]

_LAZY = {
    "search": ("automl._search", "search"),
    "SearchResult": ("automl._search", "SearchResult"),
    "HP": ("automl.space", "HP"),
    "resolve_space": ("automl.space", "resolve_space"),
    "load_data": ("automl.data", "load_data"),
    "predict": ("automl._predict", "predict"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
