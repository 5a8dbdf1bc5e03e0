"""Registers the built-in datasets through clusterlab's hooks."""
