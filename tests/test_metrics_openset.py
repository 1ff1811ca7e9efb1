"""Open-set metrics (novel-class AUROC, OSCR): hand-computed cases and an independent brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dfad_bench.metrics.openset import novel_auroc, oscr, oscr_curve


def _brute_force_oscr(correct: np.ndarray, max_prob: np.ndarray, is_unseen: np.ndarray) -> float:
    """Direct definition: for every delta, count accepted samples with boolean masks."""
    seen = ~is_unseen
    points = [(0.0, 0.0)]
    for delta in sorted(set(max_prob.tolist()), reverse=True):
        accepted = max_prob >= delta
        ccr = np.sum(accepted & seen & correct) / seen.sum()
        fpr = np.sum(accepted & is_unseen) / is_unseen.sum()
        points.append((fpr, ccr))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
        area += (x1 - x0) * (y0 + y1) / 2.0
    return area


def test_oscr_hand_case() -> None:
    # seen: .9 correct, .8 wrong, .6 correct; unseen: .7, .5
    # curve: (0,0) (0,1/3) (0,1/3) (1/2,1/3) (1/2,2/3) (1,2/3) -> area 1/2 * 1/3 + 1/2 * 2/3 = 1/2
    correct = np.array([True, False, True, False, False])
    max_prob = np.array([0.9, 0.8, 0.6, 0.7, 0.5])
    unseen = np.array([False, False, False, True, True])
    assert oscr(correct, max_prob, unseen) == pytest.approx(0.5)
    fpr, ccr = oscr_curve(correct, max_prob, unseen)
    assert np.allclose(fpr, [0, 0, 0, 0.5, 0.5, 1]) and np.allclose(
        ccr, [0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3]
    )


def test_oscr_ties_make_a_diagonal_and_perfect_model_scores_one() -> None:
    # seen correct at .9, seen correct tied with unseen at .7: (0,0) (0,.5) (1,1) -> .75
    assert oscr([True, True, False], [0.9, 0.7, 0.7], [False, False, True]) == pytest.approx(0.75)
    # all seen correct and more confident than every unseen sample -> 1
    assert oscr(
        [True, True, False, False], [0.9, 0.8, 0.3, 0.2], [False, False, True, True]
    ) == pytest.approx(1.0)
    # ``correct`` on unseen samples is ignored
    assert oscr([True, True, True, True], [0.9, 0.8, 0.3, 0.2], [False, False, True, True]) == pytest.approx(
        1.0
    )


@pytest.mark.parametrize("seed", range(5))
def test_oscr_matches_brute_force_and_is_bounded_by_accuracy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    unseen = rng.random(n) < 0.3
    correct = rng.random(n) < 0.7
    max_prob = np.round(rng.uniform(0.2, 1.0, n) - 0.2 * unseen, 2)  # rounding makes ties
    value = oscr(correct, max_prob, unseen)
    assert value == pytest.approx(_brute_force_oscr(correct, max_prob, unseen), abs=1e-12)
    assert value <= np.mean(correct[~unseen]) + 1e-12


def test_novel_auroc_hand_case_and_sklearn() -> None:
    # unseen samples are positives and are the least confident -> 1
    assert novel_auroc([False, False, True], [0.9, 0.8, 0.4]) == pytest.approx(1.0)
    assert novel_auroc([False, True], [0.4, 0.9]) == pytest.approx(0.0)
    rng = np.random.default_rng(3)
    unseen = rng.random(200) < 0.4
    mp = rng.uniform(size=200) - 0.1 * unseen
    assert novel_auroc(unseen, mp) == pytest.approx(roc_auc_score(unseen, 1 - mp), abs=1e-9)


def test_open_set_undefined_without_both_groups() -> None:
    assert novel_auroc([False, False], [0.3, 0.4]) is None
    assert oscr([True, True], [0.3, 0.4], [False, False]) is None
    assert oscr([True], [0.3], [True]) is None
