"""clusterlab's built-in metrics plugin."""
