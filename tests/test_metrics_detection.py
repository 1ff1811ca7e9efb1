"""Detection metrics against scikit-learn, scipy and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    roc_auc_score,
    roc_curve,
)

from dfad_bench.metrics.detection import (
    accuracy_at_threshold,
    auc,
    average_precision,
    calibrate_threshold,
    eer,
    oracle_accuracy,
    tpr_at_threshold,
)


def _random_case(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_auc_ap_match_sklearn(seed: int, ties: bool) -> None:
    y, s = _random_case(seed, ties=ties)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-9)


def test_eer_hand_cases() -> None:
    # ROC points (fpr, fnr): (0,1) (0,.5) (.5,.5) (.5,0) (1,0): crossing exactly at threshold 0.6
    assert eer([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx((0.5, 0.6))
    # perfect separation: EER 0 at the lowest fake score
    assert eer([0, 1], [0.0, 1.0]) == pytest.approx((0.0, 1.0))
    # fully inverted: every operating point errs on one class completely -> EER 1
    rate, _ = eer([1, 0], [0.0, 1.0])
    assert rate == pytest.approx(1.0)
    # interpolated case: 3 reals, 1 fake. ROC (fpr, fnr): (0,1) (1/3,1) (1/3,0) ... crossing on the
    # vertical segment at fpr = 1/3 between thresholds .8 (first real) and .5 (the fake)
    rate, thr = eer([0, 0, 0, 1], [0.8, 0.2, 0.1, 0.5])
    assert rate == pytest.approx(1 / 3)
    # diff = fpr - fnr goes -2/3 -> 1/3: weight 2/3 along the segment from .8 to .5
    assert thr == pytest.approx(0.8 + (2 / 3) * (0.5 - 0.8))


@pytest.mark.parametrize("seed", range(6))
def test_eer_matches_root_of_the_roc_polyline(seed: int) -> None:
    """Independent reference: walk the ROC polyline with a parameter t and find FPR(t) = FNR(t) by brentq."""
    y, s = _random_case(seed, n=400, ties=seed % 2 == 1)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    thr = thr.copy()
    thr[0] = thr[1]

    def along(values: np.ndarray, t: float) -> float:
        k = min(int(np.floor(t)), len(values) - 2)
        return float(values[k] + (t - k) * (values[k + 1] - values[k]))

    t_star = brentq(lambda t: along(fpr, t) - (1.0 - along(tpr, t)), 0.0, len(fpr) - 1.0, xtol=1e-13)
    rate, threshold = eer(y, s)
    assert rate == pytest.approx(along(fpr, t_star), abs=1e-9)
    assert rate == pytest.approx(1.0 - along(tpr, t_star), abs=1e-9)
    assert threshold == pytest.approx(along(thr, t_star), abs=1e-9)


def test_accuracy_and_tpr_at_threshold_match_sklearn() -> None:
    y, s = _random_case(7)
    for thr in (-0.5, 0.0, 0.5, 1.3):
        assert accuracy_at_threshold(y, s, thr) == pytest.approx(accuracy_score(y, s >= thr), abs=1e-12)
        assert tpr_at_threshold(y, s, thr) == pytest.approx(np.mean(s[y] >= thr), abs=1e-12)
    # the rule is score >= thr -> fake: a score equal to the threshold is fake
    assert accuracy_at_threshold([1, 0], [0.5, 0.49], 0.5) == 1.0


def test_calibrate_threshold_hand_cases() -> None:
    assert calibrate_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.5)
    # cuts ">= .5" and ">= .9" both give balanced accuracy .75: the tied run spans (.1, .9] -> midpoint .5
    assert calibrate_threshold([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.5)
    # imbalance does not move the threshold: balanced accuracy, not accuracy
    assert calibrate_threshold([0] * 50 + [1, 1], [0.1] * 50 + [0.3, 0.7]) == pytest.approx(0.2)


@pytest.mark.parametrize("seed", range(5))
def test_calibrate_threshold_reaches_best_balanced_accuracy(seed: int) -> None:
    y, s = _random_case(seed, n=200, ties=seed % 2 == 0)
    thr = calibrate_threshold(y, s)
    pred = s[None, :] >= np.r_[np.unique(s), np.inf][:, None]  # every distinct operating point
    best = np.max(0.5 * (pred[:, y].mean(axis=1) + (~pred[:, ~y]).mean(axis=1)))
    assert balanced_accuracy_score(y, s >= thr) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_oracle_accuracy_is_best_accuracy_over_thresholds(seed: int) -> None:
    y, s = _random_case(seed, ties=True)
    pred = s[None, :] >= np.r_[np.unique(s), np.inf][:, None]
    best = np.max((pred == y[None, :]).mean(axis=1))
    assert oracle_accuracy(y, s) == pytest.approx(best, abs=1e-12)
    assert oracle_accuracy(y, s) >= accuracy_at_threshold(y, s, 0.5)


def test_one_class_is_undefined_not_a_crash() -> None:
    y, s = np.ones(5, bool), np.linspace(0, 1, 5)
    assert auc(y, s) is None
    assert average_precision(y, s) is None
    assert eer(y, s) == (None, None)
    assert calibrate_threshold(y, s) is None
    assert oracle_accuracy(y, s) is None
    assert accuracy_at_threshold(y, s, 0.5) == pytest.approx(0.6)
    assert tpr_at_threshold(~y, s, 0.5) is None
    assert accuracy_at_threshold([], [], 0.5) is None
