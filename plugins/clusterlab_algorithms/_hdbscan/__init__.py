"""HDBSCAN's machinery: core distances, the mutual-reachability tree, the condensed tree."""
