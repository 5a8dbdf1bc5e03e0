"""Registers the built-in metrics through clusterlab's hooks."""

from __future__ import annotations

from typing import Any

from clusterlab import hookimpl


@hookimpl
def register_metrics(register: Any) -> None:
    """Register the internal scores and the external ones, which need ground truth."""
    from clusterlab_metrics import external, internal, likelihood

    def add_internal(name: str, fn: Any, greater_is_better: bool, description: str) -> None:
        register(
            name,
            fn,
            greater_is_better=greater_is_better,
            needs_ground_truth=False,
            description=description,
        )

    def add_external(name: str, fn: Any, description: str) -> None:
        register(name, fn, greater_is_better=True, needs_ground_truth=True, description=description)

    add_internal("silhouette", internal.silhouette, True, "Mean silhouette coefficient, exact")
    add_internal("davies_bouldin", internal.davies_bouldin, False, "Davies-Bouldin index")
    add_internal(
        "calinski_harabasz", internal.calinski_harabasz, True, "Calinski-Harabasz variance ratio"
    )
    add_internal("inertia", internal.inertia, False, "Sum of squared distances to the centroids")
    add_internal("dunn", internal.dunn, True, "Dunn index: cluster gap over the widest diameter")

    add_external("adjusted_rand", external.adjusted_rand, "Adjusted Rand index")
    add_external(
        "adjusted_mutual_info", external.adjusted_mutual_info, "Adjusted mutual information"
    )
    add_external(
        "normalized_mutual_info", external.normalized_mutual_info, "Normalized mutual information"
    )
    add_external("homogeneity", external.homogeneity, "Homogeneity: one class per cluster")
    add_external("completeness", external.completeness, "Completeness: one cluster per class")
    add_external("v_measure", external.v_measure, "V-measure: homogeneity and completeness")
    add_external("fowlkes_mallows", external.fowlkes_mallows, "Fowlkes-Mallows index")
    add_external(
        "cluster_accuracy", external.cluster_accuracy, "Accuracy under the best cluster-class match"
    )
    add_external(
        "normalized_clustering_accuracy",
        external.normalized_clustering_accuracy,
        "Normalized clustering accuracy (benchmark score; as many clusters as classes)",
    )
    add_external("pair_sets_index", external.pair_sets_index, "Pair sets index")

    add_internal("bic", likelihood.bic, False, "Bayesian information criterion of a mixture")
    add_internal("aic", likelihood.aic, False, "Akaike information criterion of a mixture")
    add_internal(
        "log_likelihood", likelihood.log_likelihood, True, "Mean log-likelihood per sample"
    )
