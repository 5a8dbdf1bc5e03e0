"""Spectral clustering's machinery: affinity graphs, the Laplacian's eigenvectors, labels."""
