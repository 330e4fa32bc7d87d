"""Tasks inferred or declared from the labels, encoded labels, and the task-specific refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data import data_fingerprint, data_from_description, load_data
from automl.data._labels import encode_labels
from automl.errors import DataError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(400, 3)).astype(np.float32)


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_an_integer_target_between_25_and_346_is_regression_not_347_classes(tmp_path: Path) -> None:
    # The diabetes-like CSV: whole numbers far from 0..K-1.
    y = (25 + (X[:, 0] - X[:, 0].min()) / np.ptp(X[:, 0]) * 321).round().astype(int)
    p = _csv(tmp_path / "d.csv", "a,b,c,target", [f"{a},{b},{c},{t}" for (a, b, c), t in zip(X, y)])
    d = load_data(p)
    assert d.task == "regression" and d.num_classes == 1
    assert "not classes 0..K-1" in d.task_reason
    assert d.y_train.dtype == np.float32 and d.y_train.shape == (len(d.x_train), 1)
    # Units kept; the training split's statistics recorded for the model's head.
    assert d.y_train.min() >= 25 and d.y_train.max() <= 346
    assert d.options["target_mean"][0] == pytest.approx(float(d.y_train.mean()), rel=1e-5)
    head = d.head()
    assert head is not None and head.pop("inputs")["mean"]  # a table's features are standardized in the model
    assert head == {"task": "regression", "units": 1, "mean": d.options["target_mean"], "std": d.options["target_std"]}
    assert d.label_text() == "label column 'target' of d"


@pytest.mark.parametrize("y,task,why", [
    (np.arange(400) % 3, "classification", "3 classes 0..2"),
    ((np.arange(400) % 2).astype(float), "binary", "2 distinct values (0, 1)"),
    (np.where(np.arange(400) % 2 == 0, 3, 7), "binary", "2 distinct values (3, 7)"),
    (np.arange(400) % 2 == 0, "binary", "2 classes (False, True)"),
    (np.arange(400) * 0.25, "regression", "numbers that are not whole"),
    (np.arange(400) % 200, "regression", "200 distinct whole numbers 0..199 in 400 rows: too many to be classes"),
    (np.arange(400) % 5 + 1, "regression", "5 distinct whole numbers 1..5, not classes 0..K-1"),
    (np.array(["a", "b", "c", "d"])[np.arange(400) % 4], "classification", "4 classes of text"),
])
def test_the_task_inferred_from_the_labels(y: np.ndarray, task: str, why: str) -> None:
    d = load_data((X, y))
    assert (d.task, d.task_reason) == (task, why)


def test_text_and_boolean_labels_are_encoded_with_their_names_kept(tmp_path: Path) -> None:
    names = np.array(["Adelie", "Gentoo", "Chinstrap"])[np.arange(400) % 3]
    p = _csv(tmp_path / "p.csv", "a,b,c,species", [f"{a},{b},{c},{s}" for (a, b, c), s in zip(X, names)])
    d = load_data(p)
    assert d.task == "classification" and d.num_classes == 3
    assert d.options["class_names"] == ["Adelie", "Chinstrap", "Gentoo"]
    # The encoding is the position of the name, in every split.
    back = np.array(d.options["class_names"])[d.y_train]
    assert set(back) == {"Adelie", "Chinstrap", "Gentoo"} and d.y_train.dtype == np.int32
    again = data_from_description(d.describe())
    np.testing.assert_array_equal(again.y_val, d.y_val)
    assert again.options["class_names"] == d.options["class_names"] and again.task == "classification"
    flags = np.where(X[:, 0] > 0, "TRUE", "false")
    b = _csv(tmp_path / "b.csv", "a,b,c,churned", [f"{a},{b},{c},{f}" for (a, b, c), f in zip(X, flags)])
    yes = load_data(b)  # true/false cells are booleans: False 0, True 1
    assert yes.task == "binary" and yes.options["class_names"] == ["False", "True"]
    np.testing.assert_array_equal(yes.y_train == 1, yes.x_train[:, 0] > 0)


def test_declared_tasks(tmp_path: Path) -> None:
    y = np.arange(400) % 5 + 1
    d = load_data((X, y), task="classification")  # 1..5 are classes once declared: named by their values
    assert d.num_classes == 5 and d.options["class_names"] == ["1", "2", "3", "4", "5"]
    r = load_data((X, np.arange(400) % 3), task="regression")
    assert r.task == "regression" and r.task_reason == "declared"
    multi = load_data((X, np.stack([X[:, 0] > 0, X[:, 1] > 0], 1).astype(int)))
    assert multi.task == "multilabel" and multi.num_classes == 2 and multi.y_train.shape[1] == 2


def test_several_targets_from_csv_columns(tmp_path: Path) -> None:
    p = _csv(tmp_path / "m.csv", "a,b,c,y1,y2", [f"{a},{b},{c},{a * 3.5},{b - c}" for a, b, c in X])
    d = load_data(p, label_column="y1,y2")
    assert d.task == "regression" and d.num_classes == 2 and d.input_shape == (3,)
    assert d.options["feature_columns"] == ["a", "b", "c"] and d.options["label_columns"] == ["y1", "y2"]
    assert len(d.options["target_std"]) == 2
    assert d.label_text() == "label columns 'y1', 'y2' of m"


@pytest.mark.parametrize("y,kw,words", [
    (np.array(["x", "y"])[np.arange(400) % 2], {"task": "regression"},
     "regression needs numeric targets, but the labels are text (e.g. 'x')"),
    (np.zeros(400), {}, "single class (0)"),
    (np.arange(400) % 3, {"task": "binary"}, "binary needs exactly 2 classes, but the labels hold 3"),
    (np.arange(400) % 5, {"task": "classification", "num_classes": 3}, "found label 4 but there are 3 classes"),
    (np.arange(400) % 5, {"task": "regression", "num_classes": 3}, "which makes the task classification"),
    (np.where(np.arange(400) == 9, np.nan, np.arange(400) * 0.1), {}, "first: sample 9"),
])
def test_bad_labels_are_refused_saying_what_to_do(y: np.ndarray, kw: dict, words: str) -> None:
    with pytest.raises(DataError) as e:
        load_data((X, y), **kw)
    assert words in str(e.value)


def test_more_than_1000_declared_classes_say_how_to_declare_the_task() -> None:
    y = np.arange(2400) % 1200
    with pytest.raises(DataError) as e:
        encode_labels([y], "y", task="classification")
    assert "1,200 classes, more than 1,000" in str(e.value) and "--task regression" in str(e.value)
    assert "num_classes: 1200" in str(e.value)
    assert encode_labels([y], "y").task == "regression"  # undeclared: a quantity, not 1,200 classes


def test_the_task_is_part_of_the_fingerprint() -> None:
    y = (np.arange(400) % 3).astype(float)
    a, b = load_data((X, y)), load_data((X, y), task="regression")
    assert data_fingerprint(a)["task"] == "classification" and data_fingerprint(b)["task"] == "regression"
    from automl.data import data_differences

    assert "task classification, not regression" in data_differences(data_fingerprint(a), data_fingerprint(b))
