"""Loading data: built-ins offline, user files, splits, and a table of bad data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data import data_from_description, load_data, synthetic
from automl.errors import DataError


def test_digits_and_splits_are_seeded() -> None:
    a = load_data("digits", val_split=0.25, test_split=0.1, seed=3)
    b = load_data("digits", val_split=0.25, test_split=0.1, seed=3)
    assert a.input_shape == (64,) and a.num_classes == 10
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    assert len(a.y_test) == 180 and abs(len(a.y_val) - 0.25 * (1797 - 180)) <= 1
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    c = load_data("digits", val_split=0.25, test_split=0.1, seed=4)
    assert not np.array_equal(a.x_val, c.x_val)


def test_mnist1d_is_generated_offline_with_its_own_test_split() -> None:
    np.random.seed(123)
    before = np.random.rand()
    np.random.seed(123)
    d = load_data("mnist1d")
    after = np.random.rand()
    assert before == after, "loading mnist1d must not reseed the caller's numpy generator"
    assert d.input_shape == (40,) and d.num_classes == 10
    assert len(d.y_train) + len(d.y_val) == 4000 and len(d.y_test) == 1000
    assert not Path("mnist1d_data.pkl").exists()


def test_synthetic_any_shape_and_learnable() -> None:
    d = load_data("synthetic:8x8x3:4:400")
    assert d.input_shape == (8, 8, 3) and d.num_classes == 4 and len(d.y_train) + len(d.y_val) == 400
    x, y = synthetic((20,), 3, 300, seed=0)
    # Nearest class mean separates the classes far better than chance.
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    pred = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.8


def test_npz_with_test_and_validation_arrays(tmp_path: Path) -> None:
    x, y = synthetic((5,), 3, 90)
    p = tmp_path / "d.npz"
    np.savez(p, x=x[:60], y=y[:60], x_val=x[60:75], y_val=y[60:75], x_test=x[75:], y_test=y[75:])
    d = load_data(p)
    assert len(d.y_train) == 60 and len(d.y_val) == 15 and len(d.y_test) == 15
    again = data_from_description(d.describe())
    np.testing.assert_array_equal(again.x_train, d.x_train)


def test_npz_with_keras_names(tmp_path: Path) -> None:
    # As keras.datasets returns them: the train pair is split by val_split, the test pair kept apart.
    x, y = synthetic((5,), 3, 100)
    p = tmp_path / "k.npz"
    np.savez(p, x_train=x[:80], y_train=y[:80], x_test=x[80:], y_test=y[80:])
    d = load_data(p, val_split=0.25)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (60, 20, 20)
    np.testing.assert_array_equal(d.x_test, x[80:])
    np.savez(p, x_train=x[:60], y_train=y[:60], x_val=x[60:80], y_val=y[60:80])
    d = load_data(p)
    assert (len(d.y_train), len(d.y_val), d.y_test) == (60, 20, None)
    np.testing.assert_array_equal(data_from_description(d.describe()).x_val, x[60:80])


def test_csv_with_label_column(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    rows = ["f1,f2,target"] + [f"{i * 0.1:.1f},{i % 3},{i % 2}" for i in range(40)]
    p.write_text("\n".join(rows) + "\n")
    d = load_data(p, label_column="target")
    assert d.input_shape == (2,) and d.num_classes == 2 and len(d.y_train) + len(d.y_val) == 40
    with pytest.raises(DataError, match="no label column 'label'"):
        load_data(p, label_column="label")


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    return p


X = np.zeros((20, 4), dtype=np.float32)
Y = np.arange(20) % 2

BAD = {
    "missing file": (lambda t: t / "nope.npz", "data file not found"),
    "missing array": (lambda t: _npz(t, x=X), "missing array 'y'"),
    "keras names, y_train missing": (lambda t: _npz(t, x_train=X, x_test=X, y_test=Y), "missing array 'y_train'"),
    "no training arrays": (lambda t: _npz(t, x_test=X, y_test=Y),
                           "missing array 'x' and 'y'; it holds 'x_test', 'y_test' (expected x, y or x_train, y_train"),
    "x and x_train": (lambda t: _npz(t, x=X, y=Y, x_train=X, y_train=Y),
                      "holds both 'x' and 'y' and 'x_train' and 'y_train', so which is the training set is ambiguous"),
    "x with y_train": (lambda t: _npz(t, x=X, y_train=Y), "holds both 'x' and 'y_train'"),
    "length mismatch": (lambda t: _npz(t, x=X, y=Y[:15]), "x has 20 samples but y has 15"),
    "nan": (lambda t: _npz(t, x=np.where(np.arange(80).reshape(20, 4) == 9, np.nan, X), y=Y),
            "NaN or infinite values (first in sample 2)"),
    "inf": (lambda t: _npz(t, x=np.full((20, 4), np.inf), y=Y), "NaN or infinite"),
    "one class": (lambda t: _npz(t, x=X, y=np.zeros(20)), "single class"),
    "one class of text": (lambda t: _write(t / "o.csv", "a,label\n1,cat\n2,cat\n"), "single class (cat)"),
    # A text cell makes its column categorical; a column of missing cells alone is refused.
    "all-missing csv column": (lambda t: _write(t / "b.csv", "a,b,label\n1,NA,0\n2,,1\n"),
                               "column 'b' is empty (every value missing); leave it out with --ignore b"),
    "ragged csv": (lambda t: _write(t / "r.csv", "a,b,label\n1,2,0\n1,1\n"), "line 3: 2 values"),
    "regression target with NaN": (lambda t: _npz(t, x=X, y=np.where(np.arange(20) == 7, np.nan, np.arange(20) * 0.5)),
                                   "the target is missing (NaN, empty or NA) in 1 samples (first: sample 7)"),
    "empty cell in a numeric target": (lambda t: _write(t / "e.csv", "a,y\n" + "".join(
        f"{i},{'' if i == 3 else i * 1.5}\n" for i in range(20))), "the target is missing"),
}
BAD.update({
    "negative test split": (lambda t: "digits", "test_split must be ≥ 0 and below 1"),
    "unknown name": (lambda t: "imagenet", "unknown data 'imagenet'"),
    "bad synthetic": (lambda t: "synthetic:32y32", "synthetic:SHAPE"),
})


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_is_refused_clearly(tmp_path: Path, case: str) -> None:
    make, words = BAD[case]
    with pytest.raises(DataError) as e:
        load_data(make(tmp_path), test_split=-0.1 if case == "negative test split" else 0.0)
    assert words in str(e.value)


def test_labels_beyond_the_space_class_count() -> None:
    with pytest.raises(DataError, match="found label 9 but there are 5 classes"):
        load_data("digits", num_classes=5)


def test_the_class_count_is_the_classes_present_or_the_declared_one(tmp_path: Path) -> None:
    # Gaps and more than 1,000 classes are fine once the count is declared (the space's num_classes).
    d = load_data(_npz(tmp_path, x=X, y=np.where(Y == 1, 7, 0)), num_classes=8)
    assert d.num_classes == 8 and set(d.y_train) | set(d.y_val) == {0, 7}
    many = load_data(_npz(tmp_path, x=np.zeros((2400, 2)), y=np.arange(2400) % 1200), num_classes=1200)
    assert many.num_classes == 1200
    # synthetic:SHAPE:CLASSES declares its count; a validation split lacking a class still counts it.
    assert load_data("synthetic:4:1200:2400").num_classes == 1200
    assert load_data(_npz(tmp_path, x=X, y=Y + 0)).num_classes == 2
