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
    mean_auc_replicates,
    percentile_interval,
    share_ci,
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


def _mean_auc_replicates_by_ranking(s: np.ndarray, g: np.ndarray, negative: str, positives: list[str], n: int, seed: int) -> np.ndarray:
    """The implementation before the searchsorted rewrite: rank every (n, N) resample."""
    idx = bootstrap_indices(s.size, n, seed, strata=g)
    resampled = s[idx]
    n_neg = int((g == negative).sum())
    aucs, start = [], n_neg
    for p in positives:
        size = int((g == p).sum())
        aucs.append(auc_batch(resampled[:, :n_neg], resampled[:, start : start + size]))
        start += size
    return np.mean(aucs, axis=0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mean_auc_replicates_are_bit_identical_to_ranking_every_resample(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 90, size=4)
    names = ["\x00real", "b", "a", "c"]  # the real pool sorts first; generators not in sorted order
    g = np.repeat(names, sizes)
    # Coarse scores: many ties within and across groups, and values only one group has.
    s = np.round(rng.uniform(size=g.size) * rng.choice([3, 10, 1000]), 0) / 7.0
    s[g == "c"] += 0.5
    order = np.concatenate([np.flatnonzero(g == k) for k in ["\x00real", "a", "b", "c"]])
    s, g = s[order], g[order]
    new = mean_auc_replicates(s, g, "\x00real", ["a", "b", "c"], 150, seed)
    old = _mean_auc_replicates_by_ranking(s, g, "\x00real", ["a", "b", "c"], 150, seed)
    assert new.tobytes() == old.tobytes()
    assert mean_auc_ci(s, g, "\x00real", ["a", "b", "c"], n=150, seed=seed) == percentile_interval(old)


@pytest.mark.parametrize("seed", [0, 5])
def test_share_ci_is_bit_identical_to_the_vectorised_mean(seed: int) -> None:
    rng = np.random.default_rng(seed)
    strata = rng.choice(["gan", "flow", "real", "diffusion"], size=333)
    flags = rng.uniform(size=333) < 0.6
    before = bootstrap_ci(lambda c: c.mean(axis=1), flags.astype(np.float64), n=120, seed=seed, strata=strata, vectorised=True)
    assert share_ci(flags, strata, n=120, seed=seed) == before
    assert share_ci(flags, strata, n=120, seed=seed + 1) != before


def test_int32_draws_equal_the_int64_stream() -> None:
    """_stratum_draws draws int32 to halve memory; that is only sound while NumPy gives the same
    values and leaves the same state as the int64 draws the intervals were defined with."""
    strata = np.repeat(["b", "a", "c"], [5, 70001, 3])
    expected = np.empty((9, strata.size), dtype=np.int64)
    rng = np.random.default_rng(4)
    for g in ["a", "b", "c"]:  # sorted order, int64 draws: the definition
        members = np.flatnonzero(strata == g)
        expected[:, members] = members[rng.integers(0, members.size, size=(9, members.size))]
    assert (bootstrap_indices(strata.size, 9, 4, strata) == expected).all()
