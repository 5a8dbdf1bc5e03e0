"""Registers the built-in plots through clusterlab's hooks."""

from __future__ import annotations

from typing import Any

from clusterlab import hookimpl


@hookimpl
def register_plots(register: Any) -> None:
    """Register ``scatter``, ``dendrogram``, ``k_distance``, ``silhouette_diagram`` and
    ``condensed_tree``."""
    from clusterlab_plots.condensed_tree import condensed_tree
    from clusterlab_plots.dendrogram import dendrogram
    from clusterlab_plots.k_distance import k_distance
    from clusterlab_plots.scatter import scatter
    from clusterlab_plots.silhouette_diagram import silhouette_diagram

    register(
        "scatter",
        scatter,
        description="points coloured by cluster (PCA beyond 2-D), centres marked",
    )
    register(
        "dendrogram",
        dendrogram,
        description="merge tree of hierarchical clusterings with the cut drawn",
    )
    register(
        "k_distance",
        k_distance,
        description="sorted k-th nearest neighbour distances with eps, to choose DBSCAN's eps",
    )
    register(
        "silhouette_diagram",
        silhouette_diagram,
        description="per-sample silhouettes sorted within each cluster, with the mean",
    )
    register(
        "condensed_tree",
        condensed_tree,
        description="HDBSCAN's condensed tree as an icicle, the selected clusters outlined",
    )
