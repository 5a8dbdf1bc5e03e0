"""clusterlab's built-in torch clustering estimators, usable on their own with the scikit-learn API."""
