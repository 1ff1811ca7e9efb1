"""Seeded percentile bootstrap confidence intervals.

Resampling is stratified: within each stratum (e.g. real / each generator, or each true
class) samples are drawn with replacement and the stratum keeps its size. A resample
therefore always holds both classes, so AUC stays defined, and the interval describes the
uncertainty of the metric at the test set's own composition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

#: A bootstrap whose statistic is undefined on more than this share of resamples gives no CI.
MAX_UNDEFINED_SHARE = 0.5


def bootstrap_indices(n_samples: int, n: int, seed: int, strata: ArrayLike | None = None) -> np.ndarray:
    """(n, n_samples) resampling indices from ``numpy.random.default_rng(seed)``.

    With ``strata``, position i of every row draws from the samples of i's own stratum, so
    ``strata[idx]`` equals ``strata`` in every row. Strata are visited in sorted order, which
    makes the draw depend only on the data and the seed.
    """
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n_samples, size=(n, n_samples))
    groups = np.asarray(strata).ravel()
    if groups.size != n_samples:
        raise ValueError(f"strata has {groups.size} values, expected {n_samples}")
    _, codes = np.unique(groups.astype(str), return_inverse=True)
    idx = np.empty((n, n_samples), dtype=np.int64)
    for g in np.unique(codes):
        members = np.flatnonzero(codes == g)
        idx[:, members] = members[rng.integers(0, members.size, size=(n, members.size))]
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
    s, g = s[keep], g[keep]
    idx = bootstrap_indices(s.size, n, seed, strata=g)
    resampled = s[idx]
    n_neg = neg_cols.size
    aucs = []
    start = n_neg
    for cols in pos_cols:
        aucs.append(auc_batch(resampled[:, :n_neg], resampled[:, start : start + cols.size]))
        start += cols.size
    return percentile_interval(np.mean(aucs, axis=0), alpha)
