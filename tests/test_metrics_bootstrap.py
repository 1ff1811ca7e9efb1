"""Bootstrap CIs: seeded determinism, stratification, and the vectorised AUC path."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dfad_bench.metrics.bootstrap import (
    auc_batch,
    bootstrap_ci,
    bootstrap_indices,
    mean_auc_ci,
    percentile_interval,
)


def _scores(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = np.repeat(["neg", "g1", "g2"], [60, 25, 15])
    score = np.round(rng.normal(size=100) + (group != "neg") * np.where(group == "g1", 1.0, 0.3), 1)
    return score, group


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    x = np.random.default_rng(0).normal(size=50)
    a = bootstrap_ci(np.mean, x, n=300, seed=11)
    assert a == bootstrap_ci(np.mean, x, n=300, seed=11)
    assert a != bootstrap_ci(np.mean, x, n=300, seed=12)
    lo, hi = a
    assert lo < x.mean() < hi


def test_vectorised_and_loop_paths_agree() -> None:
    x = np.random.default_rng(1).random(40) < 0.7
    looped = bootstrap_ci(lambda c: c.mean(), x, n=100, seed=5)
    vectorised = bootstrap_ci(lambda c: c.mean(axis=1), x, n=100, seed=5, vectorised=True)
    assert looped == pytest.approx(vectorised, abs=1e-12)


def test_stratified_indices_keep_every_stratum() -> None:
    strata = np.array(["b", "a", "b", "a", "a", "c"])
    idx = bootstrap_indices(strata.size, 50, seed=0, strata=strata)
    assert idx.shape == (50, 6)
    assert (strata[idx] == strata[None, :]).all()
    assert len(set(idx[:, 5].tolist())) == 1  # a singleton stratum always draws itself


def test_auc_batch_equals_sklearn_per_row() -> None:
    score, group = _scores(2)
    idx = bootstrap_indices(score.size, 20, seed=1, strata=group)
    s = score[idx]
    neg, pos = s[:, group == "neg"], s[:, group == "g1"]
    labels = np.r_[np.zeros(neg.shape[1]), np.ones(pos.shape[1])]
    ref = [roc_auc_score(labels, np.r_[n, p]) for n, p in zip(neg, pos, strict=True)]
    assert np.allclose(auc_batch(neg, pos), ref, atol=1e-9)


def test_mean_auc_ci_equals_generic_bootstrap_with_sklearn() -> None:
    score, group = _scores(3)

    def mean_auc(s: np.ndarray, g: np.ndarray) -> float:
        aucs = []
        for name in ("g1", "g2"):
            keep = (g == "neg") | (g == name)
            aucs.append(roc_auc_score(g[keep] == name, s[keep]))
        return float(np.mean(aucs))

    fast = mean_auc_ci(score, group, "neg", ["g1", "g2"], n=60, seed=4)
    slow = bootstrap_ci(mean_auc, score, group, n=60, seed=4, strata=group)
    assert fast == pytest.approx(slow, abs=1e-9)
    assert mean_auc_ci(score, group, "neg", ["missing"], n=60, seed=4) is None


def test_percentile_interval_undefined_cases() -> None:
    assert percentile_interval([np.nan] * 6 + [0.5] * 4) is None
    assert percentile_interval([]) is None
    assert percentile_interval([0.2, 0.4, np.nan]) == pytest.approx((0.205, 0.395))
    assert bootstrap_ci(np.mean, np.arange(5.0), n=0) is None
