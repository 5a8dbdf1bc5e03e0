"""Registers the built-in plots through clusterlab's hooks."""
