"""Property-based tests (hypothesis) of metric invariants: random scores and labels, not examples."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dfad_bench.metrics.attribution import accuracy
from dfad_bench.metrics.clustering import cluster_accuracy
from dfad_bench.metrics.detection import auc, calibrate_threshold, eer

SETTINGS = settings(max_examples=40, deadline=None)

# Scores on a coarse grid so ties are common (ties are where AUC implementations differ).
scores_and_labels = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 20).map(lambda k: k / 20), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda y: any(y) and not all(y)),
    )
)


def pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney definition: P(score of a fake > score of a real) + half the ties."""
    fake, real = s[y], s[~y]
    diff = fake[:, None] - real[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


@SETTINGS
@given(scores_and_labels)
def test_auc_is_the_pairwise_probability_and_in_unit_interval(data):
    s, y = np.array(data[0]), np.array(data[1])
    value = auc(y, s)
    assert value is not None and 0.0 <= value <= 1.0
    assert abs(value - pairwise_auc(y, s)) < 1e-12


@SETTINGS
@given(scores_and_labels, st.sampled_from(["exp", "affine", "cube", "rank", "logit"]))
def test_auc_is_invariant_to_strictly_increasing_transforms(data, how):
    s, y = np.array(data[0]), np.array(data[1])
    t = {
        "exp": np.exp(s),
        "affine": 3.0 * s + 7.0,
        "cube": (s - 0.5) ** 3,
        "rank": np.searchsorted(np.unique(s), s).astype(float),
        "logit": np.log((s + 0.01) / (1.01 - s)),
    }[how]
    assert abs(auc(y, s) - auc(y, t)) < 1e-12


@SETTINGS
@given(scores_and_labels)
def test_auc_of_negated_scores_is_one_minus_auc(data):
    s, y = np.array(data[0]), np.array(data[1])
    assert abs(auc(y, -s) - (1.0 - auc(y, s))) < 1e-12


@SETTINGS
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30), st.booleans())
def test_auc_is_none_not_nan_with_one_class(scores, fake):
    assert auc([fake] * len(scores), scores) is None


@SETTINGS
@given(scores_and_labels)
def test_eer_and_val_threshold_lie_in_range(data):
    s, y = np.array(data[0]), np.array(data[1])
    rate, threshold = eer(y, s)
    assert 0.0 <= rate <= 1.0
    assert s.min() - 1e-12 <= threshold <= s.max() + 1e-12
    t = calibrate_threshold(y, s)
    assert t is not None and np.isfinite(t)


labels = st.lists(st.sampled_from(["real", "gan", "diffusion", "flow"]), min_size=1, max_size=50)


@SETTINGS
@given(labels, st.randoms(use_true_random=False))
def test_cluster_accuracy_ignores_cluster_names_and_is_one_on_perfect_clusters(y, rnd):
    y = np.array(y)
    classes = sorted(set(y))
    names = list(range(len(classes)))
    rnd.shuffle(names)
    perfect = np.array([names[classes.index(v)] for v in y])
    assert cluster_accuracy(y, perfect) == 1.0
    noisy = np.array([rnd.randrange(5) for _ in y])
    renamed = np.array([{0: 40, 1: 11, 2: 7, 3: 99, 4: 3}[c] for c in noisy])
    a = cluster_accuracy(y, noisy)
    assert a == cluster_accuracy(y, renamed) and 0.0 < a <= 1.0


@SETTINGS
@given(labels, labels)
def test_accuracy_is_the_matching_share(a, b):
    n = min(len(a), len(b))
    y, p = np.array(a[:n]), np.array(b[:n])
    value = accuracy(y, p)
    assert value == float((y == p).mean()) and 0.0 <= value <= 1.0
