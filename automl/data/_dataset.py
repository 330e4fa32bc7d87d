"""The dataset a search trains on: arrays, splits and the checks that guard them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.errors import DataError

__all__ = ["Dataset", "validate_features", "split"]


@dataclass
class Dataset:
    """Train/validation arrays (and an optional test split kept out of the search).

    ``x_*`` are float32 of shape ``(n, *input_shape)``; ``y_*`` as ``task`` takes them
    (:class:`automl.data._labels.Labels`): int32 classes in ``[0, num_classes)`` for
    classification and binary, float32 ``(n, k)`` for multi-label and regression (in the
    target's own units). ``num_classes`` is the classes (2 for binary), the labels or the
    targets. ``source`` is how the data was named (reloadable on resume); ``options`` what
    is recorded of it (splits, the label column, class names, the targets' mean and std).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"
    task_reason: str = ""  # why this task: "declared", or what inference saw

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def describe(self) -> dict[str, Any]:
        """Plain-data description stored with a study."""
        return {"name": self.name, "source": self.source, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "train": len(self.y_train), "val": len(self.y_val),
                "test": 0 if self.y_test is None else len(self.y_test), "task": self.task, **self.options}

    def label_text(self) -> str:
        """What holds the labels, in words (``label column 'price' of houses``)."""
        cols = self.options.get("label_columns")
        if cols:
            return f"label column{'s' if len(cols) > 1 else ''} {', '.join(map(repr, cols))} of {self.name}"
        if self.options.get("color_mode") is not None:
            return f"the class folders of {self.name}"
        return f"the labels of {self.name}"

    def head(self) -> dict[str, Any] | None:
        """What of the data the model is built with, as a trial's configuration holds it
        (``config["head"]``): the task's output head (binary, multi-label, regression's
        target units) and, for a table, the ``inputs`` standardization (the training
        split's mean and variance of each encoded column). None: classification of
        arrays, the head the configuration's own output layer gives."""
        table = self.options.get("table")
        if self.task == "classification" and not table:
            return None
        out: dict[str, Any] = {"task": self.task, "units": 1 if self.task == "binary" else int(self.num_classes)}
        if self.task == "regression":
            out.update(mean=list(self.options["target_mean"]), std=list(self.options["target_std"]))
        if table:
            from automl.data._table import input_norm

            out["inputs"] = input_norm(table)
        return out


def validate_features(x: Any, y: Any, what: str) -> np.ndarray:
    """Check the samples ``x`` of one (x, y) pair and return them as float32.

    Raises :class:`DataError` for a length mismatch, no samples or NaN/inf values (the
    labels are checked by :func:`automl.data._labels.encode_labels`).
    """
    try:
        xa = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: x is not numeric ({e})") from None
    if xa.ndim < 2:
        raise DataError(f"{what}: x must have a sample axis and at least one feature axis "
                        f"(got shape {xa.shape})")
    n_y = len(y) if hasattr(y, "__len__") else -1
    if len(xa) != n_y:
        raise DataError(f"{what}: x has {len(xa)} samples but y has {n_y}; they must match")
    if len(xa) == 0:
        raise DataError(f"{what}: no samples")
    bad = ~np.isfinite(xa)
    if bad.any():
        row = int(np.argwhere(bad.reshape(len(xa), -1).any(axis=1))[0][0])
        raise DataError(f"{what}: x contains {int(bad.sum())} NaN or infinite values (first in sample {row})")
    return xa


def split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, ...]:
    """Split off ``fraction`` of the samples (classes: stratified where every class has 2 samples)."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"{what} fraction must be between 0 and 1 (got {fraction})")
    n_out = int(round(len(y) * fraction))
    if n_out < 1 or len(y) - n_out < 1:
        raise DataError(f"{len(y)} samples are too few to split off {fraction:.0%} for {what}")
    from sklearn.model_selection import train_test_split

    stratify = None
    if y.ndim == 1 and y.dtype.kind in "iu":  # classes; a regression or multi-label target is not stratified
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 and n_out >= len(counts[counts > 0]) else None
    x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=n_out, random_state=seed, stratify=stratify)
    return x_a, y_a, x_b, y_b
