"""Helpers every algorithm family may use: inputs, row blocks, distances, buffers, threads."""
