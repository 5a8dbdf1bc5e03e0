"""A small battery folder in the clustering-data-v1 layout, made for the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from sklearn.datasets import make_blobs


def write_dataset(
    folder: Path, name: str, X: np.ndarray, references: list[np.ndarray], text: str = ""
) -> None:
    """``<name>.data.gz``, ``<name>.txt`` and one ``<name>.labels<i>.gz`` per reference
    (labels in the format's numbering: 0 is noise, clusters are 1..k)."""
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{name}.data.gz", "wt") as out:
        np.savetxt(out, X, fmt="%.10g")
    (folder / f"{name}.txt").write_text(text or f"{name}: made for the tests\n")
    for number, labels in enumerate(references):
        with gzip.open(folder / f"{name}.labels{number}.gz", "wt") as out:
            np.savetxt(out, labels, fmt="%d")


def four_blobs_two_references(seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Four blobs and scattered points. Reference 0 has three clusters (the two closest
    blobs as one); reference 1 has all four. In both the scattered points are noise (0)."""
    centers = [[0.0, 0.0], [1.6, 0.0], [8.0, 0.0], [4.0, 7.0]]
    X, blob = make_blobs(240, 2, centers=centers, cluster_std=0.35, random_state=seed)
    rng = np.random.default_rng(seed)
    scattered = rng.uniform(-3.0, 11.0, (20, 2))
    X = np.r_[X, scattered]
    four = np.r_[blob + 1, np.zeros(20, dtype=np.int64)]
    three = np.where(four == 2, 1, four)
    three = np.where(three > 2, three - 1, three)
    return X, [three, four]


def make_battery(root: Path) -> Path:
    """``root/toy`` with the datasets ``fourblobs`` (two references, with noise) and
    ``line`` (one reference); returns ``root``."""
    X, references = four_blobs_two_references()
    write_dataset(root / "toy", "fourblobs", X, references)
    line = np.c_[np.r_[np.linspace(0, 1, 30), np.linspace(5, 6, 30)], np.zeros(60)]
    write_dataset(root / "toy", "line", line, [np.r_[np.ones(30), np.full(30, 2)].astype(int)])
    return root


def battery_for(experiment: dict, root: Path) -> Path:
    """A battery folder under ``root`` holding a small dataset (the four blobs) under every
    battery and name that the ``battery`` entries of ``experiment`` (a parsed file) ask
    for, so that the file can be checked without the real collection; returns ``root``."""
    X, references = four_blobs_two_references()
    for entry in experiment.get("datasets", []):
        if entry.get("name") != "battery":
            continue
        params, grid = entry.get("params", {}), entry.get("grid", {})
        names = grid.get("name", [params.get("name")])
        if isinstance(names, dict):  # {each: ...}: a few datasets for it to list
            names = ["first", "second"]
        for name in names:
            write_dataset(root / params["battery"], name, X, references)
    return root
