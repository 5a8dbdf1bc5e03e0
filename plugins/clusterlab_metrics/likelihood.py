"""Scores of models with a likelihood: BIC, AIC and the mean log-likelihood of the data.

They apply to any fitted estimator that exposes scikit-learn's mixture methods ``bic``,
``aic`` and ``score`` (the mean log-likelihood per sample): clusterlab's torch ``gmm`` and
scikit-learn's ``GaussianMixture`` and ``BayesianGaussianMixture`` through the
``sklearn.*`` wrappers. For every other estimator (K-Means' ``score`` is its negative
inertia, not a likelihood) they are undefined, not an error. The model's own method
computes each score, on the data the trial fitted, so the value is exactly what the
estimator reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from clusterlab import ScoreUndefined

# The methods that mark an estimator as a model with a likelihood.
LIKELIHOOD_METHODS = ("bic", "aic", "score")


def _likelihood_model(estimator: Any) -> Any:
    """``estimator``, or ScoreUndefined where it has no likelihood to score."""
    missing = [name for name in LIKELIHOOD_METHODS if not callable(getattr(estimator, name, None))]
    if estimator is None or missing:
        name = type(estimator).__name__
        raise ScoreUndefined(f"{name} is not a model with a likelihood (no {', '.join(missing)})")
    return estimator


def _data_for(estimator: Any, X: Any) -> Any:
    """``X`` as the estimator takes it: the tensor itself for a torch estimator (one with a
    ``device`` parameter, which computes where the tensor lies), else a numpy array."""
    if not isinstance(X, torch.Tensor):
        return np.asarray(X)
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    if "device" in params:
        return X
    return X.detach().cpu().numpy()


def bic(X: Any, labels: Any, y_true: Any = None, estimator: Any = None) -> float:
    """Bayesian information criterion of the fitted model on ``X``: ``−2 log L + p log n``.

    ``L`` is the likelihood of all of ``X`` and ``p`` the model's free parameters. Lower
    is better.
    """
    model = _likelihood_model(estimator)
    return float(model.bic(_data_for(model, X)))


def aic(X: Any, labels: Any, y_true: Any = None, estimator: Any = None) -> float:
    """Akaike information criterion of the fitted model on ``X``: ``−2 log L + 2 p``.

    Lower is better.
    """
    model = _likelihood_model(estimator)
    return float(model.aic(_data_for(model, X)))


def log_likelihood(X: Any, labels: Any, y_true: Any = None, estimator: Any = None) -> float:
    """Mean log-likelihood per sample of ``X`` under the fitted model (its ``score``).

    Per sample, so that datasets of different sizes compare; ``n`` times it is the ``log L``
    of the criteria. Greater is better.
    """
    model = _likelihood_model(estimator)
    return float(model.score(_data_for(model, X)))
