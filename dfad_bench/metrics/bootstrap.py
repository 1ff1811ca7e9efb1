"""Seeded percentile bootstrap confidence intervals.

Resampling is stratified: within each stratum (e.g. real / each generator, or each true
class) samples are drawn with replacement and the stratum keeps its size. A resample
therefore always holds both classes, so AUC stays defined, and the interval describes the
uncertainty of the metric at the test set's own composition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

#: A bootstrap whose statistic is undefined on more than this share of resamples gives no CI.
MAX_UNDEFINED_SHARE = 0.5


def _stratum_draws(n_samples: int, n: int, rng: np.random.Generator, strata: ArrayLike) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(members, (n, members.size) draws of positions in ``members``) per stratum, strata in
    sorted order. The one place the stratified random stream is consumed, so the full index
    matrix (:func:`bootstrap_indices`) and the matrix-free statistics (:func:`mean_auc_ci`,
    :func:`share_ci`) draw exactly the same resamples.

    Draws are int32 (half the memory of int64 at scale): for a range below 2**31 NumPy's
    generator gives the same values and leaves the same state for either dtype (tested)."""
    groups = np.asarray(strata).ravel()
    if groups.size != n_samples:
        raise ValueError(f"strata has {groups.size} values, expected {n_samples}")
    _, codes = np.unique(groups.astype(str), return_inverse=True)
    for g in np.unique(codes):
        members = np.flatnonzero(codes == g)
        dtype = np.int32 if members.size < 2**31 else np.int64
        yield members, rng.integers(0, members.size, size=(n, members.size), dtype=dtype)


def bootstrap_indices(n_samples: int, n: int, seed: int, strata: ArrayLike | None = None) -> np.ndarray:
    """(n, n_samples) resampling indices from ``numpy.random.default_rng(seed)``.

    With ``strata``, position i of every row draws from the samples of i's own stratum, so
    ``strata[idx]`` equals ``strata`` in every row. Strata are visited in sorted order, which
    makes the draw depend only on the data and the seed.
    """
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n_samples, size=(n, n_samples))
    idx = np.empty((n, n_samples), dtype=np.int64)
    for members, draws in _stratum_draws(n_samples, n, rng, strata):
        idx[:, members] = members[draws]
    return idx


def percentile_interval(stats: ArrayLike, alpha: float = 0.05) -> tuple[float, float] | None:
    """(alpha/2, 1 - alpha/2) quantiles of the finite statistics; None if too many are undefined."""
    values = np.asarray(stats, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < (1.0 - MAX_UNDEFINED_SHARE) * values.size:
        return None
    lo, hi = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def bootstrap_ci(
    fn: Callable[..., Any],
    *arrays: ArrayLike,
    n: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    strata: ArrayLike | None = None,
    vectorised: bool = False,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of ``fn(*arrays)``.

    ``vectorised=False``: ``fn`` is called once per resample with 1-D resampled arrays and
    returns a float or None (None/NaN resamples are dropped). ``vectorised=True``: ``fn`` is
    called once with every array indexed by the (n, N) index matrix (shape (n, N, ...)) and
    returns n statistics. Same seed, same data -> same interval.
    """
    if n <= 0:
        return None
    data = [np.asarray(a) for a in arrays]
    if not data:
        raise ValueError("bootstrap_ci needs at least one array")
    n_samples = data[0].shape[0]
    if any(a.shape[0] != n_samples for a in data):
        raise ValueError(f"bootstrap_ci arrays differ in length: {[a.shape[0] for a in data]}")
    if n_samples == 0:
        return None
    idx = bootstrap_indices(n_samples, n, seed, strata)
    if vectorised:
        stats = np.asarray(fn(*(a[idx] for a in data)), dtype=np.float64)
    else:
        stats = np.array([_as_float(fn(*(a[row] for a in data))) for row in idx], dtype=np.float64)
    return percentile_interval(stats, alpha)


def share_ci(
    flags: ArrayLike, strata: ArrayLike, n: int = 200, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float] | None:
    """CI of the share of true ``flags`` (e.g. correct attributions), stratified by ``strata``.

    The same interval as ``bootstrap_ci(lambda c: c.mean(axis=1), flags, strata=strata,
    vectorised=True)``, bit for bit, without the (n, N) index and value matrices: a row's mean
    of 0/1 values is its count of ones (an exact integer sum in any order) over N, and a count is
    a sum over strata.
    """
    f = np.asarray(flags).astype(bool).ravel()
    if n <= 0 or f.size == 0:
        return None
    ones = np.zeros(n, dtype=np.int64)
    for members, draws in _stratum_draws(f.size, n, np.random.default_rng(seed), strata):
        ones += f[members][draws].sum(axis=1)
    return percentile_interval(ones / f.size, alpha)


def _as_float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def auc_batch(neg_scores: np.ndarray, pos_scores: np.ndarray) -> np.ndarray:
    """Row-wise ROC AUC of (B, n_neg) negatives vs (B, n_pos) positives (Mann-Whitney U, ties 1/2).

    Equal to sklearn's ``roc_auc_score`` on each row, computed for all rows at once.
    """
    n_neg, n_pos = neg_scores.shape[1], pos_scores.shape[1]
    ranks = rankdata(np.concatenate([neg_scores, pos_scores], axis=1), axis=1)  # average ranks on ties
    u = ranks[:, n_neg:].sum(axis=1) - n_pos * (n_pos + 1) / 2.0
    return u / (n_neg * n_pos)


def mean_auc_ci(
    score: ArrayLike,
    group: ArrayLike,
    negative: str,
    positives: list[str],
    n: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """CI of the mean over ``positives`` groups of AUC(group vs the ``negative`` group).

    Stratified by group: the real pool and every generator keep their sizes, and one
    resample of the real pool is shared by all generators within a replicate (as in the
    point estimate, where all generators are scored against the same real pool).
    """
    s = np.asarray(score, dtype=np.float64).ravel()
    g = np.asarray(group).astype(str).ravel()
    neg_cols = np.flatnonzero(g == negative)
    pos_cols = [np.flatnonzero(g == p) for p in positives]
    if n <= 0 or neg_cols.size == 0 or not pos_cols or any(c.size == 0 for c in pos_cols):
        return None
    keep = np.concatenate([neg_cols, *pos_cols])
    return percentile_interval(mean_auc_replicates(s[keep], g[keep], negative, positives, n, seed), alpha)


def mean_auc_replicates(s: np.ndarray, g: np.ndarray, negative: str, positives: list[str], n: int, seed: int) -> np.ndarray:
    """The n bootstrap statistics of :func:`mean_auc_ci` (``s``, ``g``: only the rows of
    ``negative`` and ``positives``, each group non-empty)."""
    # Same resamples as ranking every (n, N) resample (auc_batch over bootstrap_indices), without
    # building it: the real pool is sorted once; a resample of it is a count per sorted value, so
    # the negatives below / tied with a positive are a cumulative count at the positive's
    # searchsorted position. 2U = sum(below + at-or-below) is an exact integer, and U / (n_neg *
    # n_pos) is the same float the average-rank sum gives (half-integers, exact below 2**52).
    neg = np.flatnonzero(g == negative)
    order = np.argsort(s[neg], kind="stable")
    pool = s[neg][order]
    rank_of = np.empty(order.size, dtype=np.int32)
    rank_of[order] = np.arange(order.size, dtype=np.int32)
    n_neg = neg.size
    neg_ranks: np.ndarray | None = None
    drawn: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for members, d in _stratum_draws(s.size, n, np.random.default_rng(seed), g):
        name = g[members[0]]
        if name == negative:
            neg_ranks = rank_of[d]
        else:  # a positive's below / at-or-below counts are positions in the sorted pool
            values = s[members]
            drawn[name] = (np.searchsorted(pool, values, side="left"), np.searchsorted(pool, values, side="right"), d)
    assert neg_ranks is not None
    bounds = [drawn[p] for p in positives]
    aucs = np.empty((len(positives), n), dtype=np.float64)
    for b in range(n):
        below = np.zeros(n_neg + 1, dtype=np.int64)
        np.cumsum(np.bincount(neg_ranks[b], minlength=n_neg), out=below[1:])
        for k, (lo, hi, d) in enumerate(bounds):
            twice_u = int((below[lo] + below[hi])[d[b]].sum())
            aucs[k, b] = (twice_u / 2.0) / (n_neg * d.shape[1])
    return np.mean(aucs, axis=0)
