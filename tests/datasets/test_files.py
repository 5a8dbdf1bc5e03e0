"""The ``file`` dataset: each format, labels, paths and every error message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import clusterlab_datasets.plugin
from clusterlab.plugins import build_plugins
from clusterlab_datasets.files import load_file


@pytest.fixture(scope="module")
def iris_frame() -> pd.DataFrame:
    bunch = load_iris(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame["species"] = np.asarray(bunch.target_names)[bunch.target]
    return frame


FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _species_codes(frame: pd.DataFrame) -> np.ndarray:
    # Independent reference: string labels numbered in sorted order.
    order = {name: code for code, name in enumerate(sorted(set(frame["species"])))}
    return frame["species"].map(order).to_numpy()


def test_registered_with_path_required_and_base_dir_as_context() -> None:
    plugins = build_plugins(autoload=False, extra=[("datasets", clusterlab_datasets.plugin)])
    entry = plugins.registry.get("dataset", "file")
    assert entry.has_labels is True
    assert entry.context == {"seed", "base_dir"}
    assert entry.params["path"].required
    assert {name for name, p in entry.params.items() if not p.required} == {
        "format",
        "label_column",
        "labels_path",
        "feature_columns",
        "npz_key",
    }


def test_csv_with_string_labels_relative_to_base_dir(
    tmp_path: Path, iris_frame: pd.DataFrame
) -> None:
    (tmp_path / "data").mkdir()
    iris_frame.to_csv(tmp_path / "data" / "iris.csv", index=False)
    X, y = load_file("data/iris.csv", label_column="species", seed=0, base_dir=str(tmp_path))
    np.testing.assert_allclose(X, load_iris().data, rtol=1e-15)
    np.testing.assert_array_equal(y, _species_codes(iris_frame))
    np.testing.assert_array_equal(y, load_iris().target)  # setosa < versicolor < virginica
    assert y.dtype == np.int64


def test_csv_without_labels_gives_none(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6]})
    frame.to_csv(tmp_path / "plain.csv", index=False)
    X, y = load_file("plain.csv", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X, frame.to_numpy(dtype=float))
    assert y is None


def test_csv_feature_columns_pick_and_order(tmp_path: Path, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_csv(tmp_path / "iris.csv", index=False)
    X, y = load_file(
        "iris.csv",
        feature_columns=["petal_width", "sepal_length"],
        label_column="species",
        base_dir=str(tmp_path),
    )
    np.testing.assert_allclose(X, iris_frame[["petal_width", "sepal_length"]].to_numpy())
    assert y is not None


def test_csv_missing_values_stay_nan_for_drop_nonfinite(tmp_path: Path) -> None:
    (tmp_path / "gaps.csv").write_text("x,y\n1,2\n,3\n4,inf\n")
    X, _ = load_file("gaps.csv", base_dir=str(tmp_path))
    assert X.shape == (3, 2)
    assert np.isnan(X[1, 0]) and np.isposinf(X[2, 1])


def test_compressed_csv_and_explicit_format(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [0.5, 1.5], "b": [2.5, 3.5]})
    frame.to_csv(tmp_path / "d.csv.gz", index=False)
    frame.to_csv(tmp_path / "d.txt", index=False)
    X_gz, _ = load_file("d.csv.gz", base_dir=str(tmp_path))
    X_txt, _ = load_file("d.txt", format="csv", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X_gz, frame.to_numpy())
    np.testing.assert_array_equal(X_txt, frame.to_numpy())


def test_parquet(tmp_path: Path, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_parquet(tmp_path / "iris.parquet")
    X, y = load_file("iris.parquet", label_column="species", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X, iris_frame[FEATURES].to_numpy())
    np.testing.assert_array_equal(y, _species_codes(iris_frame))


def test_absolute_path_ignores_base_dir(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", data)
    X, y = load_file(str(tmp_path / "a.npy"), base_dir="/somewhere/else")
    np.testing.assert_array_equal(X, data.astype(np.float64))
    assert X.dtype == np.float64 and y is None


def test_npy_one_dimensional_is_one_feature(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([3.0, 1.0, 2.0]))
    X, _ = load_file("v.npy", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X, [[3.0], [1.0], [2.0]])


def test_npy_with_labels_npy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data, labels = rng.normal(size=(20, 3)), rng.integers(-1, 4, size=20)
    np.save(tmp_path / "X.npy", data)
    np.save(tmp_path / "y.npy", labels.reshape(-1, 1))
    X, y = load_file("X.npy", labels_path="y.npy", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X, data)
    np.testing.assert_array_equal(y, labels)  # integer labels keep their values


@pytest.mark.parametrize("header", [True, False])
def test_labels_csv_with_or_without_header(tmp_path: Path, header: bool) -> None:
    data = np.arange(10.0).reshape(5, 2)
    np.save(tmp_path / "X.npy", data)
    labels = ["b", "a", "c", "a", "b"]
    pd.DataFrame({"kind": labels}).to_csv(tmp_path / "y.csv", index=False, header=header)
    _, y = load_file("X.npy", labels_path="y.csv", base_dir=str(tmp_path))
    _, expected = np.unique(labels, return_inverse=True)
    np.testing.assert_array_equal(y, expected)


def test_integral_float_labels_become_integers(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    np.savetxt(tmp_path / "y.csv", [2.0, 0.0, 7.0])
    _, y = load_file("X.npy", labels_path="y.csv", base_dir=str(tmp_path))
    np.testing.assert_array_equal(y, [2, 0, 7])
    assert y.dtype == np.int64


def test_npz_with_key_and_label_array(tmp_path: Path) -> None:
    data = np.linspace(0, 1, 30).reshape(10, 3)
    labels = np.array(["x", "y"] * 5)
    np.savez(tmp_path / "d.npz", features=data, truth=labels)
    X, y = load_file("d.npz", npz_key="features", label_column="truth", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X, data)
    np.testing.assert_array_equal(y, np.unique(labels, return_inverse=True)[1])


def test_npz_default_key_is_X(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.eye(3))
    X, y = load_file("d.npz", base_dir=str(tmp_path))
    np.testing.assert_array_equal(X, np.eye(3))
    assert y is None


# Error messages: each says what is wrong, where, and how to fix it.


def _error(tmp_path: Path, exc: type[Exception], **kwargs: Any) -> str:
    with pytest.raises(exc) as info:
        load_file(base_dir=str(tmp_path), **kwargs)
    return str(info.value)


def test_missing_file_names_the_resolved_path(tmp_path: Path) -> None:
    message = _error(tmp_path, FileNotFoundError, path="data/none.csv")
    assert str(tmp_path / "data" / "none.csv") in message
    assert "does not exist" in message
    assert f"relative to the experiment file's folder {tmp_path}" in message


def test_missing_labels_file(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((2, 2)))
    message = _error(tmp_path, FileNotFoundError, path="X.npy", labels_path="lab.npy")
    assert f"labels_path {tmp_path / 'lab.npy'} does not exist" in message


def test_unknown_column_lists_the_available_ones(tmp_path: Path, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_csv(tmp_path / "iris.csv", index=False)
    message = _error(tmp_path, ValueError, path="iris.csv", label_column="Species")
    assert "has no column(s) 'Species'" in message
    assert "'sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'" in message
    message = _error(tmp_path, ValueError, path="iris.csv", feature_columns=["petal", "sepal"])
    assert "'petal', 'sepal'" in message


def test_non_numeric_feature_columns_are_named(tmp_path: Path, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_csv(tmp_path / "iris.csv", index=False)
    message = _error(tmp_path, ValueError, path="iris.csv")
    assert "feature column(s) 'species'" in message
    assert "'species' holds text that is not a number in data row 1" in message
    assert "setosa" not in message
    assert f"feature_columns to numeric columns only (here: {FEATURES})" in message
    assert "label_column: species" in message


def test_a_stray_word_in_a_number_column_is_pointed_at(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,?\n5,6\n")
    message = _error(tmp_path, ValueError, path="d.csv", feature_columns=["a", "b"])
    assert "'b' holds text that is not a number in data row 2" in message
    assert "'?'" not in message


def test_label_column_as_feature_is_refused(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    message = _error(
        tmp_path, ValueError, path="d.csv", label_column="y", feature_columns=["a", "y"]
    )
    assert "both label_column and one of feature_columns" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [("", "is empty"), ("a,b\n", "has column names but no rows of data")],
)
def test_empty_csv(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "e.csv").write_text(content)
    assert expected in _error(tmp_path, ValueError, path="e.csv")


def test_only_a_label_column(tmp_path: Path) -> None:
    pd.DataFrame({"y": [0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    message = _error(tmp_path, ValueError, path="d.csv", label_column="y")
    assert "no feature columns besides the label column 'y'" in message


def test_empty_array(tmp_path: Path) -> None:
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    assert "is empty (shape (0, 3))" in _error(tmp_path, ValueError, path="e.npy")


def test_label_length_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((5, 2)))
    np.save(tmp_path / "y.npy", np.zeros(3, dtype=int))
    message = _error(tmp_path, ValueError, path="X.npy", labels_path="y.npy")
    assert f"{tmp_path / 'y.npy'} holds 3 labels but {tmp_path / 'X.npy'} has 5 rows" in message


def test_npz_label_length_mismatch(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.zeros(6))
    message = _error(tmp_path, ValueError, path="d.npz", label_column="y")
    assert "holds 6 labels but" in message and "has 4 rows" in message


def test_npz_unknown_array_lists_the_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", data=np.zeros((2, 2)), target=np.zeros(2))
    message = _error(tmp_path, ValueError, path="d.npz")
    assert "no array 'X' (npz_key)" in message and "data, target" in message
    message = _error(tmp_path, ValueError, path="d.npz", npz_key="data", label_column="labels")
    assert "no array 'labels' (label_column)" in message


def test_unknown_extension_and_format(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_text("x")
    message = _error(tmp_path, ValueError, path="d.xlsx")
    assert "cannot tell the format" in message and "csv, parquet, npy, npz" in message
    assert "unknown format 'excel'" in _error(tmp_path, ValueError, path="d.xlsx", format="excel")


def test_options_that_do_not_apply(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((2, 2)))
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "d.csv", index=False)
    assert "give the labels with labels_path" in _error(
        tmp_path, ValueError, path="X.npy", label_column="y"
    )
    assert "feature_columns applies to CSV and Parquet" in _error(
        tmp_path, ValueError, path="X.npy", feature_columns=["a"]
    )
    assert "npz_key applies only to .npz" in _error(
        tmp_path, ValueError, path="d.csv", npz_key="data"
    )
    assert "not both" in _error(
        tmp_path, ValueError, path="d.csv", label_column="a", labels_path="y.npy"
    )


def test_labels_csv_with_an_index_column(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    pd.Series([0, 1, 1], name="y").to_csv(tmp_path / "y.csv")  # pandas adds the index
    message = _error(tmp_path, ValueError, path="X.npy", labels_path="y.csv")
    assert "has 2 columns" in message and "index=False" in message


def test_missing_labels_are_reported(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["p", None, "q"]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    message = _error(tmp_path, ValueError, path="d.csv", label_column="y")
    assert "1 label(s)" in message and "missing (first in data row 2)" in message


def test_text_array_is_not_data(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    assert "not real numbers" in _error(tmp_path, ValueError, path="s.npy")
