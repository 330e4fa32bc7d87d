"""Tables: each feature column's kind (inferred or declared) and its encoding, fitted on the training split.

What the model takes of a row (docs/data.md, "Tables"): a numeric column as its value (a
missing one as the training split's mean, beside a 0/1 missing-indicator column when the
training split has missing values there), a boolean as 0/1 (the same for missing ones),
a categorical column one-hot over the training split's values plus a ``<missing>`` and an
``<other>`` (out-of-vocabulary) column. That encoding is NumPy, in the data path, on every
backend: Keras's ``StringLookup`` compiles into TensorFlow models only and
``FeatureSpace.adapt`` goes through ``tf.data``. The standardization of numeric columns
is a Keras ``Normalization`` layer inside the model (:func:`input_norm`), so an exported
model takes encoded rows and this module's :func:`encode` turns raw rows into them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.errors import DataError, UsageError

__all__ = ["Table", "KINDS", "MAX_CATEGORIES", "MISSING", "column_list", "is_frame", "table_from_frame",
           "infer_kinds", "fit_encoding", "encode", "encoded_columns", "input_norm", "pick_columns", "feature_names"]

KINDS = ("numeric", "boolean", "categorical")
# More distinct values than this in a categorical column is taken for an identifier or free
# text (its one-hot block would be that wide): refused, naming the column.
MAX_CATEGORIES = 100
# Missing cells, compared without case and surrounding blanks (pandas writes <NA> and NaT).
MISSING = frozenset(("", "na", "n/a", "nan", "?", "null", "none", "<na>", "nat"))
_OTHER, _MISSING_VALUE = "<other>", "<missing>"


@dataclass
class Table:
    """Raw feature cells as text (``cells``: ``(n, len(columns))``, stripped), the columns'
    names, and where each row came from (``lines``: a CSV file's line numbers) for errors."""

    columns: list[str]
    cells: np.ndarray
    lines: np.ndarray | None = None

    def where(self, row: int) -> str:
        return f"line {int(self.lines[row])}" if self.lines is not None else f"row {row}"


def column_list(value: Any, key: str) -> list[str] | None:
    """``categorical=``/``numeric=``/``ignore=`` as a list of names: ``"a,b"`` or a list."""
    if value is None:
        return None
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    if isinstance(value, Sequence) and all(isinstance(c, str) for c in value):
        return [c.strip() for c in value]
    raise UsageError(f"{key} must be column names, as 'a,b' or a list of strings (got {value!r})")


def is_frame(data: Any) -> bool:
    """Whether ``data`` is a table of named columns: a pandas (or similar) DataFrame, by its
    ``columns`` and ``__getitem__``, or a dict of columns."""
    if isinstance(data, Mapping):
        return bool(data) and all(isinstance(k, str) for k in data)
    return hasattr(data, "columns") and hasattr(data, "__getitem__") and not isinstance(data, (np.ndarray, tuple))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not np.isfinite(f):
            return "" if np.isnan(f) else str(f)
        return str(int(f)) if f.is_integer() and abs(f) < 2 ** 53 else repr(f)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v).strip()


def _texts(values: Any) -> np.ndarray:
    """A column's values as the text cells a CSV file would hold (missing ones empty)."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise DataError(f"a table column must hold one value per row (got shape {a.shape})")
    if a.dtype.kind in "iu":
        return a.astype(str)
    return np.array([_cell(v) for v in a.tolist()], dtype=str) if len(a) else np.zeros(0, dtype=str)


def table_from_frame(data: Any) -> tuple[list[str], np.ndarray]:
    """The header and the text cells ``(n, columns)`` of a DataFrame or a dict of columns
    (pandas is not imported: whatever the caller passed is read through ``columns`` and
    ``data[name]``)."""
    keys = list(data) if isinstance(data, Mapping) else list(data.columns)
    header = [str(k) for k in keys]
    if len(set(header)) != len(header):
        raise DataError("the table names a column twice")
    cols = [_texts(data[k]) for k in keys]
    lengths = {len(c) for c in cols}
    if len(lengths) > 1:
        raise DataError(f"the table's columns have different lengths ({', '.join(map(str, sorted(lengths)))})")
    if not cols or not len(cols[0]):
        raise DataError("the table has no rows")
    return header, np.stack(cols, axis=1)


def pick_columns(header: list[str], cells: np.ndarray, names: list[str], what: str,
                 lines: np.ndarray | None = None) -> Table:
    """The columns ``names`` (the ones a study's model takes) of raw cells, by name."""
    missing = [c for c in names if c not in header]
    if missing:
        raise DataError(f"{what}: no column {missing[0]!r}, which the model takes; it needs the columns "
                        f"{', '.join(names)}")
    return Table(list(names), cells[:, [header.index(c) for c in names]], lines)


def _missing(texts: np.ndarray) -> np.ndarray:
    return np.isin(np.char.lower(texts), list(MISSING))


def _numbers(texts: np.ndarray) -> np.ndarray | None:
    """The cells as finite float64, or None if one of them is not a number."""
    try:
        v = texts.astype(np.float64)
    except ValueError:
        return None
    return v if np.isfinite(v).all() else None


def _first_not_number(texts: np.ndarray) -> int:
    for i, t in enumerate(texts.tolist()):
        try:
            if np.isfinite(float(t)):
                continue
        except ValueError:
            pass
        return i
    return -1


def infer_kinds(table: Table, what: str, *, categorical: list[str] | None = None, numeric: list[str] | None = None,
                ignore: list[str] | None = None, labels: Sequence[str] = ()) -> dict[str, str]:
    """Each column's kind: declared (``categorical``, ``numeric``, ``ignore``: ``ignored``)
    or inferred from every row (numbers → numeric, true/false → boolean, anything else →
    categorical). The kind is structure, not a statistic: reading it off all rows leaks
    nothing. Raises :class:`DataError` naming the column: an unknown or twice-declared
    name, an all-missing column, text in a declared numeric column, a categorical column
    of more than :data:`MAX_CATEGORIES` values."""
    declared: dict[str, str] = {}
    for key, names in (("categorical", categorical), ("numeric", numeric), ("ignore", ignore)):
        for c in names or []:
            if c in labels:
                raise DataError(f"{what}: {c!r} is the label column; it cannot be declared {key}")
            if c not in table.columns:
                raise DataError(f"{what}: no column {c!r} (declared {key}); its feature columns are "
                                f"{', '.join(table.columns)}")
            if c in declared:
                raise DataError(f"{what}: column {c!r} is declared both {declared[c]} and {key}")
            declared[c] = key
    kinds: dict[str, str] = {}
    for j, name in enumerate(table.columns):
        how = declared.get(name)
        if how == "ignore":
            kinds[name] = "ignored"
            continue
        texts = table.cells[:, j]
        miss = _missing(texts)
        present = texts[~miss]
        if not len(present):
            raise DataError(f"{what}: column {name!r} is empty (every value missing); leave it out with "
                            f"--ignore {name}")
        if how == "numeric":
            if _numbers(present) is None:
                row = int(np.flatnonzero(~miss)[_first_not_number(present)])
                raise DataError(f"{what}: column {name!r} is declared numeric but holds "
                                f"{str(table.cells[row, j])!r} ({table.where(row)}); fix or blank that value, or "
                                f"leave out the declaration")
            kinds[name] = "numeric"
            continue
        if how is None and _numbers(present) is not None:
            kinds[name] = "numeric"
            continue
        if how is None and np.isin(np.char.lower(present), ("true", "false")).all():
            kinds[name] = "boolean"
            continue
        distinct = len(np.unique(present))
        if distinct > MAX_CATEGORIES:
            mixed = " (it mixes numbers and text: declare it --numeric if they are numbers)" \
                if how is None and _first_not_number(present) > 0 else ""
            raise DataError(f"{what}: column {name!r} holds {distinct:,} distinct values, more than "
                            f"{MAX_CATEGORIES} for a categorical column (an identifier or free text?); leave it "
                            f"out with --ignore {name}{mixed}")
        kinds[name] = "categorical"
    if all(k == "ignored" for k in kinds.values()):
        raise DataError(f"{what}: every feature column is ignored; keep at least one")
    return kinds


def fit_encoding(table: Table, kinds: dict[str, str]) -> dict[str, Any]:
    """The encoding of each kept column, from ``table`` (the training split's rows): a
    numeric column's mean and std and whether it gets a missing indicator, a boolean's
    mean, a categorical column's vocabulary (sorted). Plain data, recorded with the study."""
    columns: list[dict[str, Any]] = []
    for j, name in enumerate(table.columns):
        kind = kinds[name]
        if kind == "ignored":
            continue
        texts = table.cells[:, j]
        miss = _missing(texts)
        present = texts[~miss]
        col: dict[str, Any] = {"name": name, "kind": kind}
        if kind == "categorical":
            col["vocabulary"] = sorted(set(present.tolist()))
        else:
            v = (np.char.lower(present) == "true").astype(np.float64) if kind == "boolean" else \
                present.astype(np.float64)
            mean = float(v.mean()) if len(v) else 0.0
            col["mean"] = mean
            if kind == "numeric":
                std = float(v.std()) if len(v) else 1.0
                col["std"] = std if std > 1e-12 * max(abs(mean), 1.0) else 1.0  # constant: shifted, not scaled
            col["indicator"] = bool(miss.any())
        columns.append(col)
    return {"columns": columns, "ignored": [c for c in table.columns if kinds[c] == "ignored"]}


def encoded_columns(spec: dict[str, Any]) -> list[str]:
    """The names of the encoded row's columns, in order (``bill``, ``bill_missing``,
    ``island=Biscoe``, ``island=<missing>``, ``island=<other>``)."""
    out: list[str] = []
    for col in spec["columns"]:
        name = col["name"]
        if col["kind"] == "categorical":
            out += [f"{name}={v}" for v in col["vocabulary"]] + [f"{name}={_MISSING_VALUE}", f"{name}={_OTHER}"]
        else:
            out += [name] + ([f"{name}_missing"] if col["indicator"] else [])
    return out


def input_norm(spec: dict[str, Any]) -> dict[str, list[float]]:
    """The per-column mean and variance the model's ``Normalization`` layer takes: the
    training split's for numeric values, 0 and 1 (unchanged) for every other column."""
    mean: list[float] = []
    var: list[float] = []
    for col in spec["columns"]:
        if col["kind"] == "categorical":
            width = len(col["vocabulary"]) + 2
            mean += [0.0] * width
            var += [1.0] * width
            continue
        numeric = col["kind"] == "numeric"
        mean.append(col["mean"] if numeric else 0.0)
        var.append(col["std"] ** 2 if numeric else 1.0)
        if col["indicator"]:
            mean.append(0.0)
            var.append(1.0)
    return {"mean": mean, "variance": var}


def feature_names(spec: dict[str, Any]) -> list[str]:
    """The raw columns the model takes (those kept, in order)."""
    return [c["name"] for c in spec["columns"]]


def encode(table: Table, spec: dict[str, Any], what: str) -> np.ndarray:
    """Raw rows → the float32 rows the model takes, by the recorded ``spec``. A category the
    training split never held goes to ``<other>``; a missing value to the training mean (and
    its indicator) or ``<missing>``. Text in a numeric or boolean column is refused, naming it."""
    n = len(table.cells)
    blocks: list[np.ndarray] = []
    for col in spec["columns"]:
        name, kind = col["name"], col["kind"]
        j = table.columns.index(name)
        texts = table.cells[:, j]
        miss = _missing(texts)
        if kind == "categorical":
            vocab = col["vocabulary"]
            index = {v: i for i, v in enumerate(vocab)}
            codes = np.array([index.get(t, len(vocab) + 1) for t in texts.tolist()], dtype=np.int64)
            codes[miss] = len(vocab)
            block = np.zeros((n, len(vocab) + 2), dtype=np.float32)
            block[np.arange(n), codes] = 1.0
            blocks.append(block)
            continue
        values = np.full(n, col["mean"], dtype=np.float64)
        present = texts[~miss]
        if kind == "boolean":
            lower = np.char.lower(present)
            bad = ~np.isin(lower, ("true", "false"))
            parsed = (lower == "true").astype(np.float64)
        else:
            bad = np.zeros(len(present), dtype=bool)
            parsed = _numbers(present)  # type: ignore[assignment]
            if parsed is None:
                bad[_first_not_number(present)] = True
        if bad.any():
            row = int(np.flatnonzero(~miss)[np.flatnonzero(bad)[0]])
            raise DataError(f"{what}: column {name!r} is {kind} but holds {str(table.cells[row, j])!r} "
                            f"({table.where(row)}); fix or blank that value")
        values[~miss] = parsed
        blocks.append(values.astype(np.float32)[:, None])
        if col["indicator"]:
            blocks.append(miss.astype(np.float32)[:, None])
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0), np.float32)
