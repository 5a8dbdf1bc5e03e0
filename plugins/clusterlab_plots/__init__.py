"""clusterlab's built-in plots plugin."""
