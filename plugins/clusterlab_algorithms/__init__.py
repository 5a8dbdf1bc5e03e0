"""Built-in torch clustering estimators, usable alone with the scikit-learn API."""
