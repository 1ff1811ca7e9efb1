"""Clustering metrics: Hungarian-matched accuracy against brute force, NMI/ARI against sklearn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from dfad_bench.metrics.clustering import cluster_accuracy, cluster_metrics, kmeans_labels


def _brute_force_cluster_accuracy(t: np.ndarray, c: np.ndarray) -> float:
    classes, clusters = sorted(set(t)), sorted(set(c))
    best = 0
    # every one-to-one map between clusters and classes (the smaller side fully matched)
    if len(clusters) <= len(classes):
        maps = (dict(zip(clusters, p, strict=True)) for p in itertools.permutations(classes, len(clusters)))
    else:
        maps = (dict(zip(p, classes, strict=True)) for p in itertools.permutations(clusters, len(classes)))
    for mapping in maps:
        best = max(best, sum(mapping.get(ci) == ti for ti, ci in zip(t, c, strict=True)))
    return best / len(t)


def test_cluster_accuracy_hand_cases() -> None:
    assert cluster_accuracy(["a", "a", "b", "b"], [1, 1, 0, 0]) == 1.0
    # best map: 0->a (2 right), 1->b (1 right) -> 3/5
    assert cluster_accuracy(["a", "a", "b", "b", "a"], [0, 0, 1, 0, 1]) == pytest.approx(3 / 5)
    # one cluster for two classes: only one class can be matched
    assert cluster_accuracy(["a", "b", "b"], [0, 0, 0]) == pytest.approx(2 / 3)
    assert cluster_accuracy([], []) is None


@pytest.mark.parametrize("seed", range(5))
def test_cluster_accuracy_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.choice(["a", "b", "c", "d"], size=60)
    c = rng.integers(0, 3 + seed % 3, size=60)  # 3..5 clusters: fewer, equal and more than classes
    assert cluster_accuracy(t, c) == pytest.approx(_brute_force_cluster_accuracy(t, c), abs=1e-12)


def _blobs(seed: int, k: int = 3, per: int = 30, spread: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 8)) * 5
    x = np.concatenate([c + spread * rng.normal(size=(per, 8)) for c in centres])
    y = np.repeat([f"g{i}" for i in range(k)], per).astype(object)
    return x, y


def test_separated_blobs_are_recovered() -> None:
    x, y = _blobs(0)
    out = cluster_metrics(x, y, seed=0)
    assert out is not None and out["k"] == 3 and out["n"] == 90
    assert (
        out["acc"] == pytest.approx(1.0)
        and out["nmi"] == pytest.approx(1.0)
        and out["ari"] == pytest.approx(1.0)
    )


def test_overlapping_blobs_match_sklearn_scores_and_are_seeded() -> None:
    x, y = _blobs(1, k=4, spread=6.0)
    out = cluster_metrics(x, y, seed=3)
    pred = kmeans_labels(x, 4, seed=3)
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(y.astype(str), pred), abs=1e-9)
    assert out["ari"] == pytest.approx(adjusted_rand_score(y.astype(str), pred), abs=1e-9)
    assert out["acc"] == pytest.approx(_brute_force_cluster_accuracy(y, pred), abs=1e-12)
    assert out["acc"] < 1.0  # heavy overlap: the test can tell a perfect score from a real one
    assert cluster_metrics(x, y, seed=3) == out


def test_fewer_than_two_classes_is_undefined() -> None:
    x, _ = _blobs(2)
    assert cluster_metrics(x, np.array(["a"] * len(x), dtype=object)) is None
    assert cluster_metrics(x[:1], np.array(["a"], dtype=object)) is None
