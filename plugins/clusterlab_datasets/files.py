"""The ``file`` dataset: a user's own data from a CSV, Parquet, .npy or .npz file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

Data = tuple[NDArray[np.float64], NDArray[np.int64] | None]

FORMATS = ("csv", "parquet", "npy", "npz")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npy": "npy", ".npz": "npz"}
_COMPRESSION = (".gz", ".bz2", ".zip", ".xz", ".zst")
_DEFAULT_NPZ_KEY = "X"


def load_file(
    path: str,
    format: str | None = None,
    label_column: str | None = None,
    labels_path: str | None = None,
    feature_columns: Sequence[str] | None = None,
    npz_key: str = _DEFAULT_NPZ_KEY,
    *,
    seed: int | None = None,
    base_dir: str | None = None,
) -> Data:
    """Your own data from a CSV, Parquet, .npy or .npz file, with labels where you name them.

    ``path`` (and ``labels_path``) are relative to the experiment file's folder unless
    absolute. ``format`` is inferred from the extension when not given. CSV and Parquet:
    ``feature_columns`` picks the columns (default: all but ``label_column``). ``.npz``:
    ``npz_key`` names the data array and ``label_column`` the labels array. Labels that
    are not integers (strings, say) are numbered in sorted order. Without a label column
    or labels file, ``y`` is ``None`` and scores that need ground truth are not computed.
    """
    data_path = _resolve(path, base_dir, "path")
    fmt = _format_of(data_path, format)
    if label_column is not None and labels_path is not None:
        raise ValueError("give the labels either as label_column or as labels_path, not both")
    if npz_key != _DEFAULT_NPZ_KEY and fmt != "npz":
        raise ValueError(
            f"npz_key applies only to .npz files, but {data_path} is read as {fmt}; remove npz_key"
        )
    if fmt in ("csv", "parquet"):
        frame = _read_table(data_path, fmt)
        X, raw_labels = _from_table(frame, data_path, label_column, feature_columns)
    else:
        if feature_columns is not None:
            raise ValueError(
                f"feature_columns applies to CSV and Parquet files; {data_path} "
                f"is a .{fmt} array, so every column of it is a feature. Remove feature_columns "
                f"or select the columns when saving the array"
            )
        if fmt == "npy":
            if label_column is not None:
                raise ValueError(
                    f"a .npy file holds a single array, so label_column does not "
                    f"apply to {data_path}; give the labels with labels_path (a .npy or .csv "
                    f"file) or save data and labels together in an .npz file"
                )
            X, raw_labels = _as_matrix(_read_npy(data_path), str(data_path)), None
        else:
            X, raw_labels = _from_npz(data_path, npz_key, label_column)
    if labels_path is not None:
        labels_file = _resolve(labels_path, base_dir, "labels_path")
        raw_labels = _read_labels(labels_file, n_rows=len(X))
        source = str(labels_file)
    else:
        source = f"{data_path} ({label_column!r})"
    if raw_labels is None:
        return X, None
    if len(raw_labels) != len(X):
        raise ValueError(
            f"{source} holds {len(raw_labels)} labels but {data_path} has "
            f"{len(X)} rows of data; give one label per row"
        )
    return X, _encode_labels(raw_labels, source)


def _resolve(path: Any, base_dir: str | None, key: str) -> Path:
    if not isinstance(path, str | Path) or not str(path).strip():
        raise ValueError(f"{key} must be a file path; got {path!r}")
    given = Path(path).expanduser()
    resolved = given if given.is_absolute() or base_dir is None else Path(base_dir) / given
    if resolved.is_file():
        return resolved
    if given.is_absolute():
        where = "the path is absolute"
    elif base_dir is None:
        where = f"'{path}' is relative to the current directory"
    else:
        where = f"'{path}' is relative to the experiment file's folder {base_dir}"
    problem = "is a folder, not a file" if resolved.is_dir() else "does not exist"
    raise FileNotFoundError(
        f"{key} {resolved} {problem} ({where}); fix {key} in the experiment "
        f"file or give an absolute path"
    )


def _format_of(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = str(format).strip().lower().lstrip(".")
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffixes = [suffix.lower() for suffix in path.suffixes]
    # pandas reads compressed CSV itself, so data.csv.gz is still a CSV.
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSION and suffixes[-2] == ".csv":
        return "csv"
    fmt = _SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ValueError(
            f"cannot tell the format of {path} from its extension; name the "
            f"file .csv, .parquet, .npy or .npz, or set format to one of {', '.join(FORMATS)}"
        )
    return fmt


def _read_table(path: Path, fmt: str) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path} is empty; it holds no data") from exc
    except Exception as exc:  # parsers raise many types; the person needs the file and why
        raise ValueError(
            f"cannot read {path} as {fmt}: {exc}; check the file, or set "
            f"format if its extension is misleading"
        ) from exc
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _from_table(
    frame: pd.DataFrame,
    path: Path,
    label_column: str | None,
    feature_columns: Sequence[str] | None,
) -> tuple[NDArray[np.float64], Any]:
    available = list(frame.columns)
    wanted = [] if label_column is None else [str(label_column)]
    if feature_columns is not None:
        if isinstance(feature_columns, str):
            feature_columns = [feature_columns]
        features = [str(column) for column in feature_columns]
        wanted += features
    unknown = [column for column in wanted if column not in available]
    if unknown:
        raise ValueError(
            f"{path} has no column(s) {', '.join(map(repr, unknown))}; its "
            f"columns are: {', '.join(map(repr, available))}"
        )
    if feature_columns is None:
        features = [column for column in available if column != label_column]
    elif label_column is not None and label_column in features:
        raise ValueError(
            f"column {label_column!r} is both label_column and one of "
            f"feature_columns in {path}; remove it from feature_columns so the labels do not "
            f"leak into the data"
        )
    if frame.shape[0] == 0:
        raise ValueError(f"{path} has column names but no rows of data")
    if not features:
        raise ValueError(
            f"{path} has no feature columns besides the label column "
            f"{label_column!r}; add data columns to the file"
        )
    bad = [column for column in features if not _is_numeric(frame[column])]
    if bad:
        numeric = [c for c in features if c not in bad]
        details = "; ".join(_first_non_number(frame[column], column) for column in bad)
        hint = f"set feature_columns to numeric columns only (here: {numeric})"
        if label_column is None and len(bad) == 1:
            hint += f", or set label_column: {bad[0]} if it holds the ground-truth labels"
        raise ValueError(
            f"feature column(s) {', '.join(map(repr, bad))} of {path} are not "
            f"numeric ({details}); {hint}"
        )
    X = frame[features].to_numpy(dtype=np.float64, na_value=np.nan)
    labels = None if label_column is None else frame[label_column].to_numpy()
    return X, labels


def _is_numeric(column: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_complex_dtype(column))


def _first_non_number(column: pd.Series, name: str) -> str:
    import pandas as pd

    coerced = pd.to_numeric(column, errors="coerce")
    offending = np.flatnonzero(coerced.isna().to_numpy() & column.notna().to_numpy())
    if len(offending) == 0:
        return f"{name!r} has type {column.dtype}"
    row = int(offending[0])
    # The row, not its text: a message must not print what a file holds (a path in an
    # experiment file from elsewhere may point at a file that is not meant to be shown).
    return f"{name!r} holds text that is not a number in data row {row + 1}"


def _read_npy(path: Path) -> NDArray[Any]:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as a .npy array: {exc}") from exc


def _from_npz(
    path: Path, npz_key: str, label_column: str | None
) -> tuple[NDArray[np.float64], Any]:
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as an .npz archive: {exc}") from exc
    with archive:
        names = list(archive.files)
        for key, role in ((npz_key, "npz_key"), (label_column, "label_column")):
            if key is not None and key not in names:
                raise ValueError(
                    f"{path} has no array {key!r} ({role}); the arrays in it "
                    f"are: {', '.join(names) or 'none'}. Set {role} to one of them"
                )
        X = _as_matrix(archive[npz_key], f"{path} (array {npz_key!r})")
        labels = None if label_column is None else _as_vector(archive[label_column], str(path))
    return X, labels


def _as_matrix(array: NDArray[Any], where: str) -> NDArray[np.float64]:
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} holds values of type {array.dtype}, not real numbers; "
            f"save the features as a numeric array"
        )
    if array.ndim == 1:  # a single feature per sample
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(
            f"{where} has shape {array.shape}; the data must be a 2-D array "
            f"with one row per sample and one column per feature"
        )
    if array.size == 0:
        raise ValueError(f"{where} is empty (shape {array.shape})")
    return array.astype(np.float64, copy=False)


def _as_vector(array: NDArray[Any], where: str) -> NDArray[Any]:
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"the labels in {where} have shape {array.shape}; they must be a "
            f"1-D array with one label per sample"
        )
    return array


def _read_labels(path: Path, n_rows: int) -> NDArray[Any]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _as_vector(_read_npy(path), str(path))
    if suffix != ".csv":
        raise ValueError(
            f"labels_path {path} must be a .npy or .csv file with one label per sample"
        )
    import pandas as pd

    try:
        raw = pd.read_csv(path, header=None)
        # A header row is told apart from a label by the count: one line more than the data.
        frame = pd.read_csv(path) if len(raw) == n_rows + 1 else raw
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"labels file {path} is empty") from exc
    except Exception as exc:
        raise ValueError(f"cannot read labels file {path}: {exc}") from exc
    if frame.shape[1] != 1:
        raise ValueError(
            f"labels file {path} has {frame.shape[1]} columns; it must have "
            f"exactly one, the labels (pandas writes its index as an extra column unless "
            f"to_csv is called with index=False)"
        )
    return frame.iloc[:, 0].to_numpy()


def _encode_labels(values: Any, source: str) -> NDArray[np.int64]:
    import pandas as pd

    array = np.asarray(values)
    absent = pd.isna(array)
    if array.dtype.kind == "f":
        absent |= ~np.isfinite(array)
    missing = np.flatnonzero(absent)
    if len(missing):
        raise ValueError(
            f"{len(missing)} label(s) in {source} are missing (first in data "
            f"row {missing[0] + 1}); fill them in or remove those rows"
        )
    kind = array.dtype.kind
    if kind in "biu":
        return array.astype(np.int64)
    if kind == "f" and np.all(array == np.round(array)):
        return array.astype(np.int64)
    if kind != "f":
        # Mixed or text labels: compare as text so that numbering is total and stable.
        array = array.astype(str)
    _, codes = np.unique(array, return_inverse=True)
    return codes.astype(np.int64).reshape(-1)
