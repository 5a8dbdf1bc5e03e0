"""Registers the built-in metrics through clusterlab's hooks."""
