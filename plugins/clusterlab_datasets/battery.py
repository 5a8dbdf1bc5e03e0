"""The ``battery`` dataset: one dataset of a benchmark battery in the clustering-data-v1
layout, read from a local folder with the ``clustering-benchmarks`` package's loader.

A battery folder holds, per dataset, ``<name>.data.gz`` (the points, one per line),
``<name>.txt`` (its description) and one or more reference labellings
``<name>.labels0.gz``, ``<name>.labels1.gz``, … In those files label ``0`` marks a point
that belongs to no cluster (noise) and the clusters are ``1 .. k``; clusterlab numbers
them ``0 .. k - 1`` and marks the noise ``-1``, which the external scores leave out.
"""

from __future__ import annotations

import os
from pathlib import Path

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
