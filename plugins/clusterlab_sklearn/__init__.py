"""clusterlab's built-in sklearn plugin."""
