"""clusterlab's built-in datasets plugin."""
