"""Real-vs-fake detection metrics on a fake score (higher = more likely fake).

Convention for every function here: ``y_true`` is 1/True for fake, 0/False for real, and a
sample is predicted fake when ``score >= threshold``. A metric that needs both classes (AUC,
AP, EER, threshold calibration, oracle accuracy) returns ``None`` when one class is missing:
an undefined number is reported as undefined, never as NaN and never as a crash.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def _as_binary(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}")
    return y, s


def has_both_classes(y_true: ArrayLike) -> bool:
    y = np.asarray(y_true).astype(bool)
    return bool(y.any()) and bool((~y).any())


def auc(y_true: ArrayLike, score: ArrayLike) -> float | None:
    """Area under the ROC curve (fake positive); None when only one class is present."""
    y, s = _as_binary(y_true, score)
    if not has_both_classes(y):
        return None
    return float(roc_auc_score(y, s))


def average_precision(y_true: ArrayLike, score: ArrayLike) -> float | None:
    """Average precision with fake as the positive class (sklearn's step-wise AP, no interpolation)."""
    y, s = _as_binary(y_true, score)
    if not has_both_classes(y):
        return None
    return float(average_precision_score(y, s))


def eer(y_true: ArrayLike, score: ArrayLike) -> tuple[float | None, float | None]:
    """Equal error rate and the threshold where it occurs.

    On the full ROC (every distinct score is an operating point), FNR = 1 - TPR falls and FPR
    rises as the threshold goes down. The EER is the point where the piecewise-linear ROC
    crosses FPR = FNR: between the last point with FPR < FNR and the first with FPR >= FNR,
    both FPR and the threshold are linearly interpolated with the same weight. sklearn's first
    threshold is +inf (nothing predicted fake); for interpolation it is replaced by the highest
    score, so the returned threshold is always a finite value within the score range.
    Returns ``(None, None)`` when one class is missing.
    """
    y, s = _as_binary(y_true, score)
    if not has_both_classes(y):
        return None, None
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    thresholds = thresholds.astype(np.float64)
    thresholds[0] = thresholds[1]
    fnr = 1.0 - tpr
    diff = fpr - fnr  # -1 at the first point, +1 at the last: a sign change always exists
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i]), float(thresholds[i])
    w = diff[i - 1] / (diff[i - 1] - diff[i])  # in (0, 1): fraction of the segment before the crossing
    rate = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    thr = thresholds[i - 1] + w * (thresholds[i] - thresholds[i - 1])
    return float(rate), float(thr)


def accuracy_at_threshold(y_true: ArrayLike, score: ArrayLike, threshold: float) -> float | None:
    """Fraction of samples classified correctly with ``score >= threshold`` -> fake; None if empty."""
    y, s = _as_binary(y_true, score)
    if y.size == 0:
        return None
    return float(np.mean((s >= threshold) == y))


def tpr_at_threshold(y_true: ArrayLike, score: ArrayLike, threshold: float) -> float | None:
    """Fraction of fakes with ``score >= threshold``; None when there is no fake."""
    y, s = _as_binary(y_true, score)
    if not y.any():
        return None
    return float(np.mean(s[y] >= threshold))


def _cut_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts for every distinct way to split the sorted scores.

    With distinct sorted scores u_0 < ... < u_{m-1}, cut j (0..m) predicts fake for scores
    >= u_j (cut m predicts nothing fake). Returns ``(u, tn, tp)`` where tn[j] / tp[j] are the
    true negatives / true positives of cut j, as exact integers.
    """
    u, inverse = np.unique(s, return_inverse=True)
    real_per = np.bincount(inverse, weights=~y, minlength=u.size).astype(np.int64)
    fake_per = np.bincount(inverse, weights=y, minlength=u.size).astype(np.int64)
    tn = np.concatenate([[0], np.cumsum(real_per)])  # reals strictly below u_j
    fakes_below = np.concatenate([[0], np.cumsum(fake_per)])
    tp = int(y.sum()) - fakes_below
    return u, tn, tp


def _threshold_for_cuts(u: np.ndarray, first: int, last: int) -> float:
    """A threshold inside the score interval shared by cuts ``first..last`` (consecutive).

    Those cuts together accept any threshold in (u_{first-1}, u_last] (open ends at the extremes).
    The midpoint of that interval is returned; where one end is unbounded the bounded end is
    used (the lowest score itself, or the next float above the highest score).
    """
    m = u.size
    low = u[first - 1] if first > 0 else None
    high = u[last] if last < m else None
    if low is not None and high is not None:
        return float((low + high) / 2.0)
    if high is not None:
        return float(high)
    if low is not None:
        return float(np.nextafter(low, np.inf))
    return float(u[0])  # unreachable with a non-empty score array: kept for completeness


def _best_cut_threshold(u: np.ndarray, objective: np.ndarray) -> float:
    """Threshold at the middle of the longest run of consecutive cuts reaching the maximum."""
    best = objective == objective.max()
    idx = np.flatnonzero(best)
    # split indices into runs of consecutive cuts, take the longest (first on ties)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    k = int(np.argmax(ends - starts))
    return _threshold_for_cuts(u, int(starts[k]), int(ends[k]))


def calibrate_threshold(y_true_val: ArrayLike, score_val: ArrayLike) -> float | None:
    """The validation threshold: maximises balanced accuracy on VAL data.

    Every distinct split of the sorted val scores is tried (exact integer comparison, so ties
    in balanced accuracy are real ties). Among the splits reaching the maximum, the longest
    run of consecutive splits is taken and the threshold is the midpoint of its score
    interval, i.e. halfway between the neighbouring val scores, so the threshold never sits on
    a val sample. Balanced accuracy (mean of TPR and TNR) is used rather than accuracy so the
    real/fake ratio of the val split does not move the threshold. Returns None when the val
    data lacks one class. Call this on val data only; never on test.
    """
    y, s = _as_binary(y_true_val, score_val)
    if not has_both_classes(y):
        return None
    n_real, n_fake = int((~y).sum()), int(y.sum())
    u, tn, tp = _cut_counts(y, s)
    # 2 * n_real * n_fake * balanced_accuracy, as an exact integer
    objective = tn * n_fake + tp * n_real
    return _best_cut_threshold(u, objective)


def oracle_accuracy(y_true: ArrayLike, score: ArrayLike) -> float | None:
    """Best accuracy over all thresholds, chosen on the very data it is measured on.

    This is an optimistic upper bound, not a deployable accuracy: report it only under the
    separate name ``oracle_acc``. None when one class is missing.
    """
    y, s = _as_binary(y_true, score)
    if not has_both_classes(y):
        return None
    _, tn, tp = _cut_counts(y, s)
    return float((tn + tp).max() / y.size)
