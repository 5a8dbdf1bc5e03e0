"""Gaussian mixture fitted by EM in torch, with scikit-learn's ``GaussianMixture`` API."""

from __future__ import annotations

import warnings
from dataclasses import KW_ONLY
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from clusterlab.device import memory_budget
from clusterlab_algorithms._mixture.covariance import (
    COVARIANCE_TYPES,
    covariances_of,
    ill_defined_message,
    n_parameters,
    precision_cholesky_from_precisions,
    precisions_of,
)
from clusterlab_algorithms._mixture.em import (
    Fit,
    Mixture,
    m_step,
    most_probable,
    normalise,
    resp_sums,
    run_em,
    weighted_log_prob_blocks,
)
from clusterlab_algorithms._shared.estimator_io import (
    estimator_input,
    make_generator,
    to_output,
)
from clusterlab_algorithms._shared.params import estimator_params
from clusterlab_algorithms.kmeans import KMeans, kmeans_plusplus

__all__ = ["GaussianMixture"]

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


@estimator_params
class GaussianMixture(ClusterMixin, DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by expectation-maximisation, on the CPU or a GPU.

    Follows scikit-learn's ``GaussianMixture``: the same initialisations (responsibilities
    from K-Means labels, from k-means++ or random rows, or random), the same M-step and
    regularisation (``reg_covar`` added to the covariances' diagonal), the same stopping
    rule (the mean log-likelihood changed by less than ``tol``) and ``n_iter_`` count, the
    best of ``n_init`` runs by lower bound. The E-step runs in blocks of rows as batched
    matrix products with the precision factors, in the input's dtype, with a
    log-sum-exp over the components; memory stays ``O(n * (d + k))`` plus
    :func:`clusterlab.device.memory_budget`.

    Args:
        n_components: number of mixture components.
        covariance_type: ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"``.
        tol: convergence threshold on the change of the lower bound.
        reg_covar: non-negative value added to the diagonal of the covariances.
        max_iter: most EM iterations per run (0: only the initialisation).
        n_init: initialisations; the run with the largest lower bound is kept.
        init_params: ``"kmeans"`` (clusterlab's K-Means), ``"k-means++"``, ``"random"``
            or ``"random_from_data"``.
        weights_init, means_init, precisions_init: given initial parameters (shapes as
            scikit-learn's), replacing those the initialisation would give.
        random_state: seed (int), ``None`` or a numpy ``RandomState``; randomness comes
            only from a ``torch.Generator`` on the device.
        warm_start: a new ``fit`` continues from the fitted parameters (one run).
        verbose, verbose_interval: progress messages, as scikit-learn's.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``; ``None`` follows the input.

    Fitted attributes: ``weights_``, ``means_``, ``covariances_``, ``precisions_``,
    ``precisions_cholesky_``, ``converged_``, ``n_iter_``, ``lower_bound_``,
    ``lower_bounds_``, ``labels_``, ``n_features_in_``: numpy arrays for numpy input,
    tensors on the device for tensor input.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_PARAMS))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "device": [None, str, torch.device],
    }

    n_components: int = 1
    _: KW_ONLY
    covariance_type: str = "full"
    tol: float = 1e-3
    reg_covar: float = 1e-6
    max_iter: int = 100
    n_init: int = 1
    init_params: str = "kmeans"
    weights_init: Any = None
    means_init: Any = None
    precisions_init: Any = None
    random_state: Any = None
    warm_start: bool = False
    verbose: int = 0
    verbose_interval: int = 10
    device: Any = None

    # Fitting.

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> GaussianMixture:
        """Fit the mixture to ``X`` (n x d, numpy or torch) by EM; return the estimator."""
        data, as_tensor = estimator_input(self, X, reset=True, ensure_min_samples=2)
        device = data.device
        n, d = data.shape
        if n < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, n_samples = {n}"
            )
        given = self._given_parameters(d, data)
        budget = memory_budget(device)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        generator = make_generator(self.random_state, device)
        with torch.no_grad():
            # The likelihood does not change under translation; centring keeps the
            # differences to the means small next to the data's norms.
            offset = data.mean(0)
            centred = data - offset
            best: Fit | None = None
            for init in range(n_init):
                if self.verbose:
                    print(f"Initialization {init}")
                if do_init:
                    start = self._initial_mixture(centred, data, offset, given, generator, budget)
                    lower_bound = -np.inf
                else:
                    start = self._fitted_mixture(centred, offset)
                    lower_bound = float(self.lower_bound_)
                fit = run_em(
                    centred,
                    start,
                    tol=self.tol,
                    max_iter=self.max_iter,
                    reg_covar=self.reg_covar,
                    lower_bound=lower_bound,
                    budget=budget,
                    verbose=self.verbose,
                    verbose_interval=self.verbose_interval,
                )
                if self.verbose:
                    state = "converged" if fit.converged else "did not converge"
                    print(f"Initialization {state}. lower bound {fit.lower_bound}")
                if best is None or fit.lower_bound > best.lower_bound:
                    best = fit
            assert best is not None
            if not best.converged and self.max_iter > 0:
                warnings.warn(
                    "Best performing initialization did not converge. Try different init "
                    "parameters, or increase max_iter, tol, or check for degenerate data.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            mixture = best.mixture
            labels = self._labels(centred, mixture, budget)
        self._set_fitted(mixture, offset, as_tensor)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = list(best.lower_bounds)
        self.labels_ = to_output(labels, as_tensor)
        return self

    def _given_parameters(self, n_features: int, data: torch.Tensor) -> dict[str, torch.Tensor]:
        """The given initial parameters, checked as scikit-learn checks them, as tensors."""
        from sklearn.mixture._gaussian_mixture import (
            _check_means,
            _check_precisions,
            _check_weights,
        )

        checks = {
            "weights_init": lambda v: _check_weights(v, self.n_components, xp=np),
            "means_init": lambda v: _check_means(v, self.n_components, n_features, xp=np),
            "precisions_init": lambda v: _check_precisions(
                v, self.covariance_type, self.n_components, n_features, xp=np
            ),
        }
        given = {}
        for name, check in checks.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            checked = np.asarray(check(value))
            given[name] = torch.as_tensor(checked).to(device=data.device, dtype=data.dtype)
        return given

    def _initial_mixture(
        self,
        X: torch.Tensor,
        data: torch.Tensor,
        offset: torch.Tensor,
        given: dict[str, torch.Tensor],
        generator: torch.Generator,
        budget: int,
    ) -> Mixture:
        """The starting mixture of one run, as scikit-learn's ``_initialize_parameters``."""
        kind = self.covariance_type
        if len(given) < 3:
            resp_of = self._initial_resp(X, data, generator)
            k = self.n_components
            zero = torch.zeros((k, X.shape[1]), dtype=X.dtype, device=X.device)
            # Two passes: the means first, then the scatter about them.
            first = resp_sums(X, zero, "diag", budget, resp_of)
            means, _ = m_step(first, zero, "diag", 0.0, X.dtype)
            sums = resp_sums(X, means.means, kind, budget, resp_of)
            mixture, failed = m_step(
                sums, means.means, kind, self.reg_covar, X.dtype, n_samples=X.shape[0]
            )
            if "precisions_init" not in given and bool(failed):
                raise ValueError(ill_defined_message(X.dtype))
            weights, means_, covariances, factor = (
                mixture.weights,
                mixture.means,
                mixture.covariances,
                mixture.factor,
            )
        else:
            weights = means_ = covariances = factor = None  # type: ignore[assignment]
        if "weights_init" in given:
            weights = given["weights_init"]
        if "means_init" in given:
            means_ = given["means_init"] - offset
        if "precisions_init" in given:
            precisions = given["precisions_init"]
            factor = precision_cholesky_from_precisions(precisions, kind)
            covariances = None
        assert weights is not None and means_ is not None and factor is not None
        return Mixture(kind, weights, means_, covariances, factor)

    def _initial_resp(self, X: torch.Tensor, data: torch.Tensor, generator: torch.Generator):
        """A function giving the initial responsibilities of a block of rows (``k x b``)."""
        n, k = X.shape[0], self.n_components
        method = self.init_params
        if method == "random":
            resp = torch.rand((n, k), generator=generator, device=X.device, dtype=X.dtype)
            resp /= resp.sum(1, keepdim=True)
            return lambda start, stop: resp[start:stop].T
        if method == "kmeans":
            seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=X.device))
            labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(data).labels_
            return _one_hot_of(labels, k, X.dtype)
        if method == "random_from_data":
            indices = torch.randperm(n, generator=generator, device=X.device)[:k]
        else:
            seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=X.device))
            _, indices = kmeans_plusplus(data, k, random_state=seed)
        labels = torch.full((n,), -1, dtype=torch.int64, device=X.device)
        labels[indices] = torch.arange(k, device=X.device)
        return _one_hot_of(labels, k, X.dtype)

    def _fitted_mixture(self, X: torch.Tensor, offset: torch.Tensor) -> Mixture:
        """The fitted parameters, on ``X``'s device and dtype, as a warm start."""

        def tensor(value: Any) -> torch.Tensor:
            return torch.as_tensor(
                np.asarray(value) if not isinstance(value, torch.Tensor) else value
            ).to(device=X.device, dtype=X.dtype)

        return Mixture(
            self.covariance_type,
            tensor(self.weights_),
            tensor(self.means_) - offset,
            tensor(self.covariances_),
            tensor(self.precisions_cholesky_),
        )

    def _set_fitted(self, mixture: Mixture, offset: torch.Tensor, as_tensor: bool) -> None:
        kind = mixture.covariance_type
        precisions = precisions_of(mixture.factor, kind)
        covariances = mixture.covariances
        if covariances is None:
            covariances = covariances_of(precisions, kind)
        self.weights_ = to_output(mixture.weights, as_tensor)
        self.means_ = to_output(mixture.means + offset, as_tensor)
        self.covariances_ = to_output(covariances, as_tensor)
        self.precisions_cholesky_ = to_output(mixture.factor, as_tensor)
        self.precisions_ = to_output(precisions, as_tensor)
        self._offset = to_output(offset, as_tensor)

    # Inference.

    def _log_prob(self, X: torch.Tensor, mixture: Mixture, budget: int) -> torch.Tensor:
        """Weighted log-densities ``log wₖ + log N(x | k)`` of every row (``n x k``)."""
        out = torch.empty((X.shape[0], mixture.n_components), dtype=X.dtype, device=X.device)

        def store(start: int, stop: int, block: torch.Tensor) -> None:
            out[start:stop] = block

        weighted_log_prob_blocks(X, mixture, budget, store)
        return out

    def _labels(self, X: torch.Tensor, mixture: Mixture, budget: int) -> torch.Tensor:
        """The most probable component of every row, block by block (no ``n x k`` array)."""
        labels = torch.empty(X.shape[0], dtype=torch.int64, device=X.device)

        def store(start: int, stop: int, block: torch.Tensor) -> None:
            labels[start:stop] = most_probable(block, dim=1)

        weighted_log_prob_blocks(X, mixture, budget, store)
        return labels

    def _test_mixture(self, X: Any) -> tuple[torch.Tensor, Mixture, bool]:
        """``X`` checked and centred as in the fit, the fitted mixture on its device, and
        whether ``X`` was a tensor."""
        check_is_fitted(self)
        data, as_tensor = estimator_input(self, X, reset=False)

        def tensor(value: Any) -> torch.Tensor:
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(np.asarray(value))
            return value.to(device=data.device, dtype=data.dtype)

        with torch.no_grad():
            # The fit's own centring, so that predict(X) repeats the fit's labels exactly.
            offset = tensor(self._offset)
            mixture = Mixture(
                self.covariance_type,
                tensor(self.weights_),
                tensor(self.means_) - offset,
                None,
                tensor(self.precisions_cholesky_),
            )
            return data - offset, mixture, as_tensor

    def _test_log_prob(self, X: Any) -> tuple[torch.Tensor, bool]:
        data, mixture, as_tensor = self._test_mixture(X)
        with torch.no_grad():
            log_prob = self._log_prob(data, mixture, memory_budget(data.device))
        return log_prob, as_tensor

    def _log_likelihoods(self, X: Any) -> tuple[torch.Tensor, bool]:
        """Each sample's log-likelihood, block by block (no ``n x k`` array)."""
        data, mixture, as_tensor = self._test_mixture(X)
        scores = torch.empty(data.shape[0], dtype=data.dtype, device=data.device)

        def store(start: int, stop: int, block: torch.Tensor) -> None:
            scores[start:stop] = normalise(block, dim=1)[0]

        with torch.no_grad():
            weighted_log_prob_blocks(data, mixture, memory_budget(data.device), store)
        return scores, as_tensor

    def predict(self, X: Any) -> Any:
        """The most probable component of every sample of ``X``."""
        data, mixture, as_tensor = self._test_mixture(X)
        with torch.no_grad():
            labels = self._labels(data, mixture, memory_budget(data.device))
        return to_output(labels, as_tensor)

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """Fit on ``X`` and return the most probable component of every sample (``labels_``)."""
        return self.fit(X).labels_

    def predict_proba(self, X: Any) -> Any:
        """Posterior probability of every component for every sample (n x k)."""
        log_prob, as_tensor = self._test_log_prob(X)
        with torch.no_grad():
            _, proba = normalise(log_prob, dim=1)
        return to_output(proba, as_tensor)

    def score_samples(self, X: Any) -> Any:
        """Log-likelihood of every sample of ``X`` under the mixture."""
        scores, as_tensor = self._log_likelihoods(X)
        return to_output(scores, as_tensor)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood of the samples of ``X`` (greater is better)."""
        scores, _ = self._log_likelihoods(X)
        acc = torch.float32 if scores.device.type == "mps" else torch.float64
        return float(scores.sum(dtype=acc)) / scores.shape[0]

    def _n_parameters(self) -> int:
        """Free parameters of the fitted model."""
        n_features = int(np.asarray(self.means_.shape)[1])
        return n_parameters(self.n_components, n_features, self.covariance_type)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion of the model on ``X`` (lower is better)."""
        n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        return -2 * self.score(X) * n + self._n_parameters() * float(np.log(n))

    def aic(self, X: Any) -> float:
        """Akaike information criterion of the model on ``X`` (lower is better)."""
        n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        return -2 * self.score(X) * n + 2 * self._n_parameters()


def _one_hot_of(labels: torch.Tensor, k: int, dtype: torch.dtype):
    """Responsibilities ``1`` at each row's label (none where the label is -1), by blocks."""
    columns = torch.arange(k, device=labels.device).unsqueeze(1)

    def block(start: int, stop: int) -> torch.Tensor:
        return (labels[start:stop].unsqueeze(0) == columns).to(dtype)

    return block
