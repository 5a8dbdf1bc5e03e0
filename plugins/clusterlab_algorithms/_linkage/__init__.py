"""Hierarchical clustering's machinery: distance matrix, merge loops, spanning tree, tree cuts."""
