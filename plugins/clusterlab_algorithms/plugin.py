"""Registers the built-in algorithms through clusterlab's hooks."""
