"""DBSCAN's machinery: the pairs of points within ``eps``, and the clusters they join."""
