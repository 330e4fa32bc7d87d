"""Labels → the task and the arrays a model trains on: inferred or declared, encoded with NumPy.

The rules (docs/data.md, "Tasks"): text and booleans are classes; two distinct values are
a binary task; a 2-D label of 0/1 is multi-label; a non-integer number, or integers that
are not ``0..K-1`` with a few rows per class, is a quantity (regression). Encoding happens
here, in the data path, on every backend (Keras's ``StringLookup`` compiles into
TensorFlow models only); the names of the classes are kept with the study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.errors import DataError

__all__ = ["TASKS", "Labels", "encode_labels", "target_stats", "MAX_CLASSES", "MIN_ROWS_PER_CLASS"]

TASKS = ("classification", "binary", "multilabel", "regression")

# More classes than this are taken for a mistake (an id or a measurement read as the
# label: the output layer would be that wide) unless the space declares `num_classes`.
MAX_CLASSES = 1000
# Integer labels 0..K-1 are inferred to be classes only with at least this many rows per
# class on average; fewer, and they are more likely a count or a measurement.
MIN_ROWS_PER_CLASS = 5


@dataclass
class Labels:
    """The task, each split's labels as the model takes them, and how to name them.

    ``y``: per split given (None stays None): int32 ``(n,)`` classes for classification
    and binary, float32 ``(n, k)`` for multi-label (0/1) and regression (original units).
    ``num_classes``: the output width's meaning: classes, 2 for binary, labels, targets.
    ``class_names``: the original value of each class index, when they were encoded.
    ``reason``: why this task (``declared``, or what inference saw).
    """

    task: str
    y: list[np.ndarray | None]
    num_classes: int
    class_names: list[str] | None
    reason: str

    @property
    def outputs(self) -> int:
        """The units of the model's head."""
        return 1 if self.task == "binary" else self.num_classes


def _kind(y: np.ndarray) -> str:
    if y.dtype == bool:
        return "bool"
    if y.dtype.kind in "iuf":
        return "number"
    if y.dtype.kind in "USO":
        return "text"
    raise DataError(f"labels of dtype {y.dtype} are neither numbers, booleans nor text")


def _shaped(y: Any, what: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim not in (1, 2):
        raise DataError(f"{what}: y must be one label per sample, or one row of labels or targets per sample "
                        f"(got shape {a.shape})")
    if a.dtype.kind == "O":
        a = a.astype(str)
    return a


def _show(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return str(int(f)) if np.isfinite(f) and f.is_integer() and abs(f) < 2 ** 53 else f"{f:g}"
    if isinstance(v, (np.integer, int)):
        return str(int(v))
    return str(v)


_HOW = "declare the task: --task classification|binary|multilabel|regression (task= in Python, task: in the space)"


def encode_labels(ys: list[Any], what: str, *, task: str | None = None, num_classes: int | None = None,
                  names: list[str] | None = None, class_names: list[str] | None = None) -> Labels:
    """Check every split's labels (``ys``: train first, then validation and test where
    given, None where not) and encode them for ``task`` (None: inferred from the labels).

    ``num_classes`` (declared by the space or the dataset) makes the task classification
    with labels used as indices below it. ``names`` (the label columns) name what a
    regression or multi-label task predicts. ``class_names`` (a study's) encode the labels
    as that study did, whichever classes these splits hold. Raises :class:`DataError`
    saying what to do.
    """
    if task is not None and task not in TASKS:
        raise DataError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    arrays = [None if y is None else _shaped(y, what) for y in ys]
    given = [a for a in arrays if a is not None]
    kinds = {_kind(a) for a in given}
    if len(kinds) > 1:
        raise DataError(f"{what}: the splits hold labels of different kinds ({', '.join(sorted(kinds))})")
    kind = kinds.pop()
    ndims = {a.ndim for a in given}
    widths = {a.shape[1] for a in given if a.ndim == 2}
    if len(ndims) > 1 or len(widths) > 1:
        raise DataError(f"{what}: the splits' labels have different shapes")
    two_d = ndims == {2}
    if num_classes is not None:
        if task not in (None, "classification"):
            raise DataError(f"{what}: num_classes is declared ({num_classes}), which makes the task classification, "
                            f"not {task}; remove num_classes from the space for another task")
        return _indices(arrays, what, num_classes, kind, two_d)
    reason = "declared"
    if task is None:
        task, reason = _infer(given, kind, two_d, what)
    if task == "regression":
        return _regression(arrays, what, kind, reason)
    if task == "multilabel":
        return _multilabel(arrays, what, kind, two_d, reason)
    if two_d:
        raise DataError(f"{what}: {task} takes one label per sample, but y has {widths.pop()} columns; "
                        f"for several 0/1 labels per sample use --task multilabel, for several targets "
                        f"--task regression")
    return _classes(arrays, what, task, kind, reason, class_names)


def _values(given: list[np.ndarray]) -> np.ndarray:
    return np.unique(np.concatenate([a.ravel() for a in given]))


def _missing(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return ~np.isfinite(a)
    if a.dtype.kind in "US":
        return np.isin(np.char.strip(a.astype(str)), ("", "NA", "N/A", "NaN", "nan", "?", "null", "None"))
    return np.zeros(a.shape, dtype=bool)


def _check_missing(arrays: Sequence[np.ndarray | None], what: str, task: str) -> None:
    for part, a in zip(("", " (validation)", " (test)"), arrays):
        if a is None:
            continue
        bad = _missing(a)
        if bad.any():
            row = int(np.argwhere(bad.reshape(len(a), -1).any(axis=1))[0][0])
            raise DataError(f"{what}{part}: the {'target' if task == 'regression' else 'label'} is missing (NaN, "
                            f"empty or NA) in {int(bad.reshape(len(a), -1).any(axis=1).sum())} samples (first: sample "
                            f"{row}); drop or fill those rows")


def _infer(given: list[np.ndarray], kind: str, two_d: bool, what: str) -> tuple[str, str]:
    """(task, why) from the labels alone."""
    if two_d:
        if kind == "text":
            raise DataError(f"{what}: several label columns of text; one text label column is a class, or {_HOW}")
        _check_missing(given, what, "regression" if kind == "number" else "multilabel")
        values = _values(given)
        if kind == "bool" or np.isin(values, (0, 1)).all():
            return "multilabel", f"{given[0].shape[1]} columns of 0/1 values"
        return "regression", f"{given[0].shape[1]} numeric target columns"
    if kind == "number" and given[0].dtype.kind == "f" and not all(np.isfinite(a).all() for a in given):
        _check_missing(given, what, "regression")
    values = _values(given)
    if len(values) < 2:
        raise DataError(f"{what}: the labels hold a single class ({_show(values[0]) if len(values) else 'none'}); "
                        f"a search needs at least 2 classes or a varying target")
    if kind != "number":
        if kind == "text":
            _check_missing(given, what, "classification")
        k = len(values)
        return ("binary", f"2 classes ({', '.join(_show(v) for v in values)})") if k == 2 else \
            ("classification", f"{k} classes of {'text' if kind == 'text' else kind}")
    if not np.all(np.equal(np.mod(values, 1), 0)):
        return "regression", "numbers that are not whole"
    k, rows = len(values), sum(len(a) for a in given)
    if k == 2:
        return "binary", f"2 distinct values ({_show(values[0])}, {_show(values[1])})"
    shown = f"{k:,} distinct whole numbers {_show(values[0])}..{_show(values[-1])}"
    if values[0] != 0 or values[-1] != k - 1:
        return "regression", f"{shown}, not classes 0..K-1"
    if k > MAX_CLASSES or rows < MIN_ROWS_PER_CLASS * k:
        return "regression", f"{shown} in {rows:,} rows: too many to be classes"
    return "classification", f"{k} classes 0..{k - 1}"


def _indices(arrays: list[np.ndarray | None], what: str, num_classes: int, kind: str, two_d: bool) -> Labels:
    """Classification with a declared class count: the labels are the class indices."""
    if kind != "number" or two_d:
        raise DataError(f"{what}: with num_classes declared the labels must be class indices 0..{num_classes - 1}, "
                        f"one per sample")
    out: list[np.ndarray | None] = []
    for part, a in zip(("", " (validation)", " (test)"), arrays):
        if a is None:
            out.append(None)
            continue
        if not np.all(np.isfinite(a)) or not np.all(np.equal(np.mod(a, 1), 0)):
            raise DataError(f"{what}{part}: labels must be whole numbers 0..{num_classes - 1}")
        # Compared in the labels' own dtype: a cast first would wrap 2**40 into a small class.
        low, high = a.min(), a.max()
        if low < 0:
            raise DataError(f"{what}{part}: labels out of range: found {_show(low)}; labels must be "
                            f"0..{num_classes - 1}")
        if high >= num_classes:
            raise DataError(f"{what}{part}: labels out of range: found label {_show(high)} but there are "
                            f"{num_classes} classes (labels 0..{num_classes - 1})")
        out.append(a.astype(np.int32))
    return Labels("classification", out, num_classes, None, f"num_classes: {num_classes} declared")


def _classes(arrays: list[np.ndarray | None], what: str, task: str, kind: str, reason: str,
             known: list[str] | None = None) -> Labels:
    """Classification or binary: labels 0..K-1 used as they are, any other values encoded
    (sorted: text alphabetically, numbers by value, False before True), or by the names
    ``known`` of the classes of a study."""
    given = [a for a in arrays if a is not None]
    _check_missing(given, what, task)
    values = _values(given)
    if known is not None:
        index = {n: i for i, n in enumerate(known)}
        shown = [_show(v) for v in values]
        unknown = [n for n in shown if n not in index]
        if unknown:
            raise DataError(f"{what}: label {unknown[0]!r} is not a class of the study (its classes: "
                            f"{', '.join(known[:10])}{', …' if len(known) > 10 else ''})")
        codes = np.array([index[n] for n in shown], dtype=np.int32)
        out = [None if a is None else codes[np.searchsorted(values, a)] for a in arrays]
        return Labels(task, out, len(known), list(known), reason)
    k = len(values)
    if k < 2:
        raise DataError(f"{what}: the labels hold a single class ({_show(values[0])}); {task} needs at least 2")
    if task == "binary" and k != 2:
        raise DataError(f"{what}: binary needs exactly 2 classes, but the labels hold {k:,}; use --task "
                        f"classification for {k:,} classes")
    if k > MAX_CLASSES:
        raise DataError(f"{what}: the labels hold {k:,} classes, more than {MAX_CLASSES:,} (is the label column "
                        f"right?); a quantity is --task regression; if they are classes, declare the class count: "
                        f"`num_classes: {k}` in the space")
    if kind == "number" and np.array_equal(values, np.arange(k)):
        return Labels(task, [None if a is None else a.astype(np.int32) for a in arrays], k, None, reason)
    names = [_show(v) for v in values]
    out = [None if a is None else np.searchsorted(values, a).astype(np.int32) for a in arrays]
    return Labels(task, out, k, names, reason)


def _multilabel(arrays: list[np.ndarray | None], what: str, kind: str, two_d: bool, reason: str) -> Labels:
    if kind == "text" or not two_d:
        raise DataError(f"{what}: multilabel takes several 0/1 label columns per sample (e.g. --label-column a,b,c "
                        f"or y of shape (n, k)); these labels are "
                        f"{'text' if kind == 'text' else 'one per sample'}")
    given = [a for a in arrays if a is not None]
    _check_missing(given, what, "multilabel")
    if not np.isin(_values(given), (0, 1)).all():
        raise DataError(f"{what}: multilabel labels must be 0 or 1 (found {_show(_values(given)[-1])})")
    k = given[0].shape[1]
    return Labels("multilabel", [None if a is None else a.astype(np.float32) for a in arrays], k, None, reason)


def _regression(arrays: list[np.ndarray | None], what: str, kind: str, reason: str) -> Labels:
    if kind != "number":
        first = next(a for a in arrays if a is not None).ravel()[0]
        raise DataError(f"{what}: regression needs numeric targets, but the labels are {kind} (e.g. "
                        f"{_show(first)!r}); leave out --task regression to search them as classes")
    _check_missing(arrays, what, "regression")
    out = [None if a is None else (a.reshape(len(a), -1)).astype(np.float32) for a in arrays]
    for a in out:
        if a is not None and not np.isfinite(a).all():
            raise DataError(f"{what}: the target holds values too large for float32; rescale it")
    return Labels("regression", out, int(out[0].shape[1]), None, reason)  # type: ignore[union-attr]


def target_stats(y_train: np.ndarray, what: str) -> tuple[list[float], list[float]]:
    """Each regression target's mean and standard deviation over the training split (what
    the model standardizes by); a constant target is refused."""
    y = y_train.astype(np.float64)
    mean, std = y.mean(axis=0), y.std(axis=0)
    flat = np.flatnonzero(~(std > 1e-12 * np.maximum(np.abs(mean), 1.0)))
    if len(flat):
        raise DataError(f"{what}: target {int(flat[0])} is constant ({mean[flat[0]]:g}) in the training split; "
                        f"there is nothing to learn")
    return [float(v) for v in mean], [float(v) for v in std]
