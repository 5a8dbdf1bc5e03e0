"""The ``battery`` dataset: one dataset of a benchmark battery in the clustering-data-v1
layout, read from a local folder with the ``clustering-benchmarks`` package's loader.

A battery folder holds, per dataset, ``<name>.data.gz`` (the points, one per line),
``<name>.txt`` (its description) and one or more reference labellings
``<name>.labels0.gz``, ``<name>.labels1.gz``, … In those files label ``0`` marks a point
that belongs to no cluster (noise) and the clusters are ``1 .. k``; clusterlab numbers
them ``0 .. k - 1`` and marks the noise ``-1``, which the external scores leave out.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Where the batteries live when a dataset entry gives no ``path``.
PATH_VARIABLE = "CLUSTERLAB_BATTERY_PATH"

Data = tuple[NDArray[np.float64], list[NDArray[np.int64]]]


def battery_root(path: str | None, base_dir: str | None) -> Path:
    """The folder that holds the batteries: ``path`` (relative to the experiment file's
    folder unless absolute), else the ``CLUSTERLAB_BATTERY_PATH`` variable."""
    given = path if path is not None else os.environ.get(PATH_VARIABLE)
    if not given:
        raise ValueError(
            f"no battery folder: give the dataset a path (the folder holding the battery "
            f"folders, as in clustering-data-v1) or set {PATH_VARIABLE}"
        )
    root = Path(os.path.expanduser(given))
    if not root.is_absolute() and base_dir is not None and path is not None:
        root = Path(base_dir) / root
    if not root.is_dir():
        source = "path" if path is not None else PATH_VARIABLE
        raise ValueError(f"the battery folder {root} ({source}) does not exist")
    return root


def dataset_names(battery: str, root: Path) -> list[str]:
    """The names of the datasets of ``battery`` under ``root``, in the package's order."""
    import clustbench

    if not (root / battery).is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise ValueError(
            f"no battery '{battery}' in {root}; the batteries there are: "
            f"{', '.join(found) or 'none'}"
        )
    return list(clustbench.get_dataset_names(battery, path=str(root)))


def load_battery(
    battery: str,
    name: str,
    path: str | None = None,
    benchmark_preprocess: bool = False,
    *,
    seed: int | None = None,
    base_dir: str | None = None,
) -> Data:
    """The dataset ``name`` of the battery ``battery`` with all its reference labellings.

    ``path`` is the folder holding the battery folders (default: the
    ``CLUSTERLAB_BATTERY_PATH`` variable); nothing is downloaded. With
    ``benchmark_preprocess: true`` the data goes through the package's
    ``preprocess_data`` (constant columns dropped, centred, scaled to unit total
    variance, a tiny jitter seeded by the trial's seed), as the published benchmark
    results were computed.
    """
    import clustbench

    root = battery_root(path, base_dir)
    names = dataset_names(battery, root)
    if name not in names:
        raise ValueError(
            f"no dataset '{name}' in the battery '{battery}' at {root}; it holds: "
            f"{', '.join(names) or 'no <name>.data.gz file'}"
        )
    folder = root / battery
    if not (folder / f"{name}.txt").is_file():
        raise ValueError(
            f"{folder / (name + '.txt')} is missing: a battery dataset comes with its "
            f"description file, as in clustering-data-v1"
        )
    loaded = clustbench.load_dataset(
        battery, name, path=str(root), preprocess=benchmark_preprocess, random_state=seed
    )
    if not loaded.labels:
        raise ValueError(f"{folder / name}: no reference labelling ({name}.labels0.gz)")
    # The format's 0 (noise) becomes -1 and its clusters 1..k become 0..k-1.
    references = [np.asarray(labels, dtype=np.int64) - 1 for labels in loaded.labels]
    return np.asarray(loaded.data, dtype=np.float64), references


#: The filters ``{each: {...}}`` takes for the ``name`` of a battery dataset.
NAME_FILTERS = ("max_samples", "max_features", "min_samples", "exclude")


def battery_names(
    param: str, filters: dict[str, Any], *, params: dict[str, Any], base_dir: str | None
) -> list[str]:
    """The ``name`` values ``{each: {...}}`` stands for: every dataset of the entry's
    battery, in the package's order, with at most ``max_samples`` points and
    ``max_features`` features, at least ``min_samples`` points, and none of ``exclude``.
    The sizes are read from the data files without loading them."""
    if param != "name":
        raise ValueError(f"{{each: ...}} lists the datasets of a battery ('name'), not '{param}'")
    unknown = sorted(set(filters) - set(NAME_FILTERS))
    if unknown:
        raise ValueError(
            f"unknown filter(s) {', '.join(unknown)}; {{each: ...}} takes {', '.join(NAME_FILTERS)}"
        )
    if "battery" not in params:
        raise ValueError("give the battery under params to list its datasets")
    root = battery_root(params.get("path"), base_dir)
    battery = str(params["battery"])
    excluded = set(filters.get("exclude") or ())
    names = []
    for name in dataset_names(battery, root):
        if name in excluded:
            continue
        n, d = data_shape(root / battery / f"{name}.data.gz")
        if n > filters.get("max_samples", n) or d > filters.get("max_features", d):
            continue
        if n < filters.get("min_samples", 0):
            continue
        names.append(name)
    return names


def data_shape(path: Path) -> tuple[int, int]:
    """The number of rows and of columns of a gzipped text matrix, read line by line."""
    rows, columns = 0, 0
    with gzip.open(path, "rt") as lines:
        for line in lines:
            if line.strip():
                if rows == 0:
                    columns = len(line.split())
                rows += 1
    return rows, columns
