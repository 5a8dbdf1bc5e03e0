"""An example clusterlab plugin: the farthest_first algorithm, spirals data, size_balance score."""
