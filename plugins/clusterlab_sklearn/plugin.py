"""Registers the built-in sklearn through clusterlab's hooks."""
