"""EM for a Gaussian mixture in blocks of rows: the E-step and the M-step's sums in one pass.

Each block of rows is measured against every component at once: its differences to the
means ``D`` (``k x b x d``) go through one batched matrix product with the precision
factors, the weighted log-densities are normalised by a log-sum-exp over the components
(which subtracts the largest term first, so nothing overflows), and the responsibilities
then weight the same ``D`` into the sums the M-step needs. The sums are taken about the
current means, which the new means differ from by little, so the covariances come out
without the cancellation of ``E[x xᵀ] − μ μᵀ``. Only blocks are held, never an
``n x k x d`` array; the sums are accumulated in float64 (float32 on MPS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from clusterlab_algorithms._mixture.covariance import (
    LOG_2PI,
    ill_defined_message,
    log_det_factor,
    precision_cholesky,
)
from clusterlab_algorithms._shared.blocks import block_rows, row_blocks
from clusterlab_algorithms._shared.threads import block_workers


def accumulate_dtype(device: torch.device) -> torch.dtype:
    """float64 for sums over samples, except where the device lacks it (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


@dataclass(frozen=True)
class Mixture:
    """A mixture's parameters in the data's dtype, means in the centred coordinates."""

    covariance_type: str
    weights: torch.Tensor
    means: torch.Tensor
    #: ``None`` only where the mixture came from given precisions and no M-step ran.
    covariances: torch.Tensor | None
    factor: torch.Tensor

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(self.means.shape[0])


@dataclass
class Sums:
    """Sums over the samples, about given centres ``c``: what the M-step needs."""

    #: ``Σᵢ rᵢₖ`` (``k``).
    resp: torch.Tensor
    #: ``Σᵢ rᵢₖ (xᵢ − cₖ)`` (``k x d``).
    first: torch.Tensor
    #: ``Σᵢ rᵢₖ (xᵢ − cₖ)(xᵢ − cₖ)ᵀ`` (``k x d x d``), or its diagonal (``k x d``).
    second: torch.Tensor
    #: ``Σᵢ log p(xᵢ)`` when the responsibilities came from an E-step, else ``None``.
    log_norm: torch.Tensor | None


def rows_for(X: torch.Tensor, n_components: int, budget: int, kind: str = "full") -> int:
    """Rows per block so that one block's largest temporary fits the budget (and, on the
    CPU, the cache): ``k x b x d`` differences for full and tied, ``k x b``
    responsibilities in the accumulation dtype for diag and spherical."""
    if kind in ("full", "tied"):
        return block_rows(n_components * X.shape[1], X.element_size(), budget, X.device)
    return block_rows(n_components, 8, budget, X.device)


def _threaded(X: torch.Tensor, n_components: int, kind: str) -> bool:
    """Whether a pass shares its chunks out to threads on the CPU: for full and tied
    covariances whose pass multiplies out at least :data:`MIN_THREADED_WORK` terms
    (``n k d²``). A diag or spherical block is two small matrix products and a few
    operations on ``k x b``, and two threads of such blocks slowed each other down."""
    n, d = X.shape
    return kind in ("full", "tied") and n * n_components * d * d >= MIN_THREADED_WORK


def _log_prob_block(
    X: torch.Tensor,
    mixture: Mixture,
    log_det: torch.Tensor,
    log_w: torch.Tensor,
    powers: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``log wₖ + log N(x | μₖ, Σₖ)`` for a block of rows (``k x b``), and the differences
    ``D`` (``k x b x d``) where they were formed.

    Full and tied: ``‖(x − μₖ) U‖²`` from ``D`` by one batched product. Diag and spherical:
    the expansion ``Σ x²p − 2 x·(μp) + Σ μ²p`` as two matrix products over ``d``, as
    scikit-learn computes it, with no ``k x b x d`` temporary; diag with the block's
    ``powers`` ``[x, x²]`` as one product over ``2d``.
    """
    kind, factor, means = mixture.covariance_type, mixture.factor, mixture.means
    D = None
    if kind in ("full", "tied"):
        D = X.unsqueeze(0) - means.unsqueeze(1)
        product = torch.bmm(D, factor) if kind == "full" else torch.matmul(D, factor)
        maha = product.square_().sum(-1)
    elif kind == "diag":
        precision = factor * factor
        constant = (means * means * precision).sum(1).unsqueeze(1)
        if powers is not None:
            weights = torch.cat([means * precision * -2, precision], dim=1)
            maha = torch.addmm(constant, weights, powers.T)
        else:
            maha = torch.addmm(constant, means * precision, X.T, alpha=-2)
            maha.addmm_(precision, (X * X).T)
    else:
        precision = factor * factor
        maha = torch.addmm((means * means).sum(1).unsqueeze(1), means, X.T, alpha=-2)
        maha.add_(torch.linalg.vector_norm(X, dim=1).square_().unsqueeze(0))
        maha.mul_(precision.unsqueeze(1))
    log_prob = maha.add_(X.shape[1] * LOG_2PI).mul_(-0.5)
    log_prob += (log_det + log_w).reshape(-1, 1)
    return log_prob, D


def normalise(log_prob: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-sum-exp of ``log_prob`` over ``dim`` and the normalised probabilities.

    The largest term is taken out first, so no exponential overflows. Terms far below
    it (about 83 in float32, 704 in float64, with 8 terms) are raised to a floor before
    the exponential: their share of the sum is far below the dtype's resolution, and
    without the floor their exponentials and the probabilities land among the subnormal
    numbers, which the CPU computes many times slower (the exponential took twenty
    times longer in a fit whose components are well apart). The floor keeps the
    probabilities, down to ``e² · tiny``, normal. ``log_prob`` is overwritten.
    """
    largest = log_prob.amax(dim, keepdim=True)
    floor = math.log(torch.finfo(log_prob.dtype).tiny) + math.log(log_prob.shape[dim]) + 2
    weights = log_prob.sub_(largest).clamp_(min=floor).exp_()
    total = weights.sum(dim, keepdim=True)
    log_norm = (largest + total.log()).squeeze(dim)
    return log_norm, weights.div_(total)


def most_probable(log_prob: torch.Tensor, dim: int) -> torch.Tensor:
    """The index of the largest entry along ``dim``, the first among equal ones (int64).

    As ``argmax``, from a maximum and a comparison: torch's ``argmax`` over a short
    dimension ran ten times slower on the CPU than these two reductions.
    """
    k = log_prob.shape[dim]
    shape = [1] * log_prob.ndim
    shape[dim] = k
    # Row j weighs k - j, so the largest weight among the maxima is the first of them.
    weights = torch.arange(k, 0, -1, dtype=log_prob.dtype, device=log_prob.device).view(shape)
    is_max = log_prob >= log_prob.amax(dim, keepdim=True)
    first = is_max.to(log_prob.dtype).mul_(weights).amax(dim)
    return (k - first.to(torch.int64)).clamp_(0, k - 1)


def _block_terms(mixture: Mixture) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-component constants of the log-densities: ``log det U`` and ``log w``."""
    log_det = log_det_factor(mixture.factor, mixture.covariance_type, mixture.means.shape[1])
    if log_det.ndim == 0:
        log_det = log_det.expand(mixture.n_components)
    return log_det, torch.log(mixture.weights)


def weighted_log_prob_blocks(
    X: torch.Tensor, mixture: Mixture, budget: int, fn: Callable[[int, int, torch.Tensor], None]
) -> None:
    """Call ``fn(start, stop, log_prob)`` with every block's weighted log-densities (``b x k``).

    ``fn`` may be called from several threads at once, each time for other rows.
    """
    log_det, log_w = _block_terms(mixture)
    rows = rows_for(X, mixture.n_components, budget, mixture.covariance_type)

    def block(start: int, stop: int) -> None:
        log_prob, _ = _log_prob_block(X[start:stop], mixture, log_det, log_w)
        fn(start, stop, log_prob.T)

    # Each block writes only its own rows, so blocks may run on several threads.
    threaded = _threaded(X, mixture.n_components, mixture.covariance_type)
    with block_workers(X.device, threaded=threaded) as workers:
        workers.map(block, row_blocks(X.shape[0], rows))


def _add_block_sums(
    sums: Sums,
    X: torch.Tensor,
    centers: torch.Tensor,
    D: torch.Tensor | None,
    resp: torch.Tensor,
    kind: str,
    powers: torch.Tensor | None = None,
) -> None:
    """Add one block's weighted sums about ``centers`` (``resp`` is ``k x b``) to ``sums``.

    Full and tied: from the differences ``D``, by batched products. Diag and spherical:
    the raw moments ``Σ r x`` and ``Σ r x²`` by one product, moved to the centres in
    the accumulation dtype (float64 keeps the digits that the shift cancels). With the
    block's ``powers`` ``[x, x²]`` (the E-step's) the product runs in the data's dtype
    and only the block's result is widened; without, the block is widened first.
    """
    acc = sums.resp.dtype
    if kind in ("full", "tied"):
        if D is None:
            D = X.unsqueeze(0) - centers.unsqueeze(1)
        sums.resp += resp.sum(1, dtype=acc)
        sums.first += torch.bmm(resp.unsqueeze(1), D).squeeze(1).to(acc)
        weighted = D * resp.unsqueeze(-1)
        sums.second += torch.bmm(weighted.mT, D).to(acc)
        return
    c = centers.to(acc)
    total = resp.sum(1, dtype=acc)
    if powers is not None:
        raw = (resp @ powers).to(acc)
    else:
        x = X.to(acc)
        raw = resp.to(acc) @ torch.cat([x, x * x], dim=1)
    first, second = raw.tensor_split(2, dim=1)
    sums.resp += total
    sums.first += first - total.unsqueeze(1) * c
    sums.second += second - 2 * c * first + total.unsqueeze(1) * c * c


def _empty_sums(X: torch.Tensor, centers: torch.Tensor, kind: str, with_log_norm: bool) -> Sums:
    acc = accumulate_dtype(X.device)
    k, d = centers.shape
    shape = (k, d, d) if kind in ("full", "tied") else (k, d)
    zeros = lambda *s: torch.zeros(s, dtype=acc, device=X.device)  # noqa: E731
    return Sums(zeros(k), zeros(k, d), zeros(*shape), zeros() if with_log_norm else None)


# The rows are cut into at most this many chunks, each summed on its own and the chunks'
# sums added in order: a layout that does not depend on the number of threads, so that
# results do not depend on the machine, with few partial sums to hold.
CHUNKS = 8
# Below this many multiply-adds (n k d² of the products by the precision factors) a pass
# runs on one thread: sharing a short pass cost more in waking threads than it gained.
MIN_THREADED_WORK = 2**22


def _chunks(n_rows: int, rows: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of at most :data:`CHUNKS` near-equal chunks of whole blocks."""
    n_blocks = -(-n_rows // rows)
    count = max(1, min(CHUNKS, n_blocks))
    return [
        (i * n_blocks // count * rows, min(n_rows, (i + 1) * n_blocks // count * rows))
        for i in range(count)
    ]


def _summed(
    X: torch.Tensor,
    rows: int,
    n_components: int,
    kind: str,
    chunk_sums: Callable[[int, int], Sums],
) -> Sums:
    """The sums of every chunk of rows, each chunk on a worker thread (one torch thread
    each) on the CPU where :func:`_threaded`, added in the chunks' order."""
    with block_workers(X.device, threaded=_threaded(X, n_components, kind)) as workers:
        parts = workers.map(chunk_sums, _chunks(X.shape[0], rows))
    total = parts[0]
    for part in parts[1:]:
        total.resp += part.resp
        total.first += part.first
        total.second += part.second
        if total.log_norm is not None and part.log_norm is not None:
            total.log_norm += part.log_norm
    return total


def powers_of(X: torch.Tensor) -> torch.Tensor:
    """``[x, x²]`` of every sample (``n x 2d``, the data's dtype): what the diag E-step
    reads, made once per fit."""
    return torch.cat([X, X * X], dim=1)


def e_step_sums(
    X: torch.Tensor, mixture: Mixture, budget: int, powers: torch.Tensor | None = None
) -> Sums:
    """The E-step under ``mixture`` and the M-step's sums about its means, in one pass
    (diag: from the samples' :func:`powers_of` where given)."""
    kind = mixture.covariance_type
    log_det, log_w = _block_terms(mixture)
    rows = rows_for(X, mixture.n_components, budget, kind)

    def chunk_sums(begin: int, end: int) -> Sums:
        sums = _empty_sums(X, mixture.means, kind, with_log_norm=True)
        assert sums.log_norm is not None
        for start, stop in row_blocks(end - begin, rows):
            lo, hi = begin + start, begin + stop
            block = X[lo:hi]
            rows_powers = None if powers is None else powers[lo:hi]
            log_prob, D = _log_prob_block(block, mixture, log_det, log_w, rows_powers)
            log_norm, resp = normalise(log_prob, dim=0)
            sums.log_norm += log_norm.sum(dtype=sums.log_norm.dtype)
            _add_block_sums(sums, block, mixture.means, D, resp, kind, rows_powers)
        return sums

    return _summed(X, rows, mixture.n_components, kind, chunk_sums)


def resp_sums(
    X: torch.Tensor,
    centers: torch.Tensor,
    kind: str,
    budget: int,
    resp_of: Callable[[int, int], torch.Tensor],
) -> Sums:
    """The M-step's sums about ``centers`` for given responsibilities (``resp_of(start, stop)``
    returns a block's, ``k x b``)."""
    rows = rows_for(X, centers.shape[0], budget, kind)

    def chunk_sums(begin: int, end: int) -> Sums:
        sums = _empty_sums(X, centers, kind, with_log_norm=False)
        for start, stop in row_blocks(end - begin, rows):
            lo, hi = begin + start, begin + stop
            _add_block_sums(sums, X[lo:hi], centers, None, resp_of(lo, hi), kind)
        return sums

    return _summed(X, rows, centers.shape[0], kind, chunk_sums)


def m_step(
    sums: Sums,
    centers: torch.Tensor,
    kind: str,
    reg_covar: float,
    dtype: torch.dtype,
    n_samples: int | None = None,
) -> tuple[Mixture, torch.Tensor]:
    """The mixture the sums give, as scikit-learn's M-step, and whether a factor failed.

    As scikit-learn: ``nₖ = Σᵢ rᵢₖ + 10 ε`` (ε of the data's dtype), means ``Σ rx / nₖ``,
    covariances about the new means over ``nₖ`` plus ``reg_covar`` on the diagonal (tied:
    the components' scatter summed over ``Σ nₖ``; spherical: the mean of the diagonal).
    Weights are ``nₖ / n_samples`` where given (the initialisation), else ``nₖ / Σ nₖ``.
    """
    acc = sums.resp.dtype
    c = centers.to(acc)
    nk = sums.resp + 10 * torch.finfo(dtype).eps
    means = (sums.first + sums.resp.unsqueeze(1) * c) / nk.unsqueeze(1)
    delta = means - c
    if kind in ("full", "tied"):
        cross = sums.first.unsqueeze(2) * delta.unsqueeze(1)
        scatter = (
            sums.second
            - cross
            - cross.mT
            + sums.resp.reshape(-1, 1, 1) * delta.unsqueeze(2) * delta.unsqueeze(1)
        )
        d = scatter.shape[-1]
        eye = torch.eye(d, dtype=acc, device=scatter.device)
        if kind == "full":
            covariances = scatter / nk.reshape(-1, 1, 1) + reg_covar * eye
        else:
            covariances = scatter.sum(0) / nk.sum() + reg_covar * eye
    else:
        variances = sums.second - 2 * delta * sums.first + sums.resp.unsqueeze(1) * delta**2
        variances = variances / nk.unsqueeze(1) + reg_covar
        covariances = variances if kind == "diag" else variances.mean(1)
    weights = nk / (n_samples if n_samples is not None else nk.sum())
    covariances = covariances.to(dtype)
    factor, failed = precision_cholesky(covariances, kind)
    mixture = Mixture(kind, weights.to(dtype), means.to(dtype), covariances, factor)
    return mixture, failed


@dataclass
class Fit:
    """The outcome of EM from one initialisation."""

    mixture: Mixture
    n_iter: int
    lower_bound: float
    lower_bounds: list[float]
    converged: bool


def run_em(
    X: torch.Tensor,
    mixture: Mixture,
    *,
    tol: float,
    max_iter: int,
    reg_covar: float,
    lower_bound: float,
    budget: int,
    verbose: int = 0,
    verbose_interval: int = 10,
) -> Fit:
    """EM iterations from ``mixture`` until the lower bound changes by less than ``tol``.

    As scikit-learn: iteration ``n`` runs an E-step under the current parameters and an
    M-step; its lower bound is the mean log-likelihood of that E-step (of the parameters
    before the M-step), and the fit stops at the first ``n`` where it changed by less
    than ``tol`` from the previous one (``lower_bound`` is the value before the first).
    One host read per iteration: the lower bound and whether a factor failed, together.
    """
    n = X.shape[0]
    bounds: list[float] = []
    if max_iter == 0:
        return Fit(mixture, 0, lower_bound, bounds, False)
    converged = False
    n_iter = 0
    # Every diag E-step reads x and x² together.
    powers = powers_of(X) if mixture.covariance_type == "diag" else None
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        sums = e_step_sums(X, mixture, budget, powers)
        assert sums.log_norm is not None
        mixture, failed = m_step(sums, mixture.means, mixture.covariance_type, reg_covar, X.dtype)
        mean_log_norm = (sums.log_norm / n).to(X.dtype)
        value, bad = torch.stack(
            [mean_log_norm.to(sums.resp.dtype), failed.to(sums.resp.dtype)]
        ).tolist()
        if bad:
            raise ValueError(ill_defined_message(X.dtype))
        lower_bound = value
        bounds.append(value)
        change = lower_bound - previous
        if verbose >= 2 and n_iter % verbose_interval == 0:
            print(f"  Iteration {n_iter}\t change: {change}")
        if abs(change) < tol:
            converged = True
            break
    return Fit(mixture, n_iter, lower_bound, bounds, converged)
