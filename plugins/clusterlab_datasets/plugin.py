"""Registers the built-in datasets and preprocessing steps through clusterlab's hooks."""

from __future__ import annotations

from typing import Any

from clusterlab import hookimpl


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the synthetic shapes, scikit-learn's bundled datasets and ``file``."""
    from clusterlab_datasets import battery, bundled, files, synthetic

    # Uniform data has no ground truth: label-based scores are not computed for it.
    register("uniform", synthetic.uniform, has_labels=False)
    register("no_structure", synthetic.no_structure, has_labels=False)
    register("blobs", synthetic.blobs)
    register("anisotropic", synthetic.anisotropic)
    register("varied", synthetic.varied)
    register("moons", synthetic.moons)
    register("circles", synthetic.circles)
    register("iris", bundled.iris)
    register("wine", bundled.wine)
    register("breast_cancer", bundled.breast_cancer)
    # A benchmark battery's dataset, with every reference labelling it has.
    register("battery", battery.load_battery, axis_values=battery.battery_names)
    register("digits", bundled.digits)
    # Labels exist only when label_column or labels_path is given; otherwise y is None.
    register("file", files.load_file, has_labels=True)


@hookimpl
def register_preprocessors(register: Any) -> None:
    """Register ``standardize``, ``minmax``, ``pca`` and ``drop_nonfinite``."""
    from clusterlab_datasets import preprocess

    register("standardize", preprocess.standardize)
    register("minmax", preprocess.minmax)
    register("pca", preprocess.pca)
    register("drop_nonfinite", preprocess.drop_nonfinite)
