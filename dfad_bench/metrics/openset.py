"""Open-set metrics for closed-set attribution models (probabilities over seen classes only).

Such a model cannot name an unseen class, but its confidence can still flag one: the max
class probability should be lower on samples from classes it never trained on.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score


def novel_auroc(is_unseen: ArrayLike, max_prob: ArrayLike) -> float | None:
    """AUROC of "this sample's class is unseen" with novelty score ``1 - max_prob``.

    Samples from unseen classes are positives, samples from seen classes (real included)
    negatives. None when either group is empty.
    """
    u = np.asarray(is_unseen).astype(bool).ravel()
    m = np.asarray(max_prob, dtype=np.float64).ravel()
    if u.shape != m.shape:
        raise ValueError(f"is_unseen has {u.size} values but max_prob has {m.size}")
    if u.all() or not u.any():
        return None
    return float(roc_auc_score(u, 1.0 - m))


def oscr_curve(
    correct: ArrayLike, max_prob: ArrayLike, is_unseen: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Points (FPR, CCR) of the open-set classification rate curve, FPR ascending.

    A sample is accepted as "known" when ``max_prob >= delta``. For each distinct delta, from
    above the highest score (nothing accepted: (0, 0)) down to the lowest (everything
    accepted), CCR = #(seen-class samples accepted AND correctly classified) / #seen-class
    samples and FPR = #(unseen-class samples accepted) / #unseen-class samples. Samples with
    equal max prob enter together, so a tie between a seen and an unseen sample is a diagonal
    segment, as in a ROC curve. ``correct`` is ignored on unseen-class samples.
    """
    c = np.asarray(correct).astype(bool).ravel()
    m = np.asarray(max_prob, dtype=np.float64).ravel()
    u = np.asarray(is_unseen).astype(bool).ravel()
    if not (c.shape == m.shape == u.shape):
        raise ValueError(f"correct, max_prob, is_unseen lengths differ: {c.size}, {m.size}, {u.size}")
    n_seen, n_unseen = int((~u).sum()), int(u.sum())
    if n_seen == 0 or n_unseen == 0:
        raise ValueError("OSCR needs both seen-class and unseen-class samples")
    order = np.argsort(-m, kind="stable")
    m_sorted = m[order]
    cc = np.cumsum((c & ~u)[order])
    fp = np.cumsum(u[order])
    # keep the last index of each group of equal scores: one operating point per distinct delta
    last = np.flatnonzero(np.r_[m_sorted[1:] != m_sorted[:-1], True])
    ccr = np.r_[0.0, cc[last] / n_seen]
    fpr = np.r_[0.0, fp[last] / n_unseen]
    return fpr, ccr


def oscr(correct: ArrayLike, max_prob: ArrayLike, is_unseen: ArrayLike) -> float | None:
    """Open-Set Classification Rate (Dhamija et al. 2018; Vaze et al. 2022).

    Trapezoidal area under CCR versus FPR (see :func:`oscr_curve`), over FPR in [0, 1]. Its
    maximum is the closed-set accuracy on seen-class samples (reached at FPR = 1). Unlike the
    reference code of Vaze et al., ties are grouped and no artificial (1, 1) end point is
    added, so a model cannot score above its own accuracy. None when either group is empty.
    """
    u = np.asarray(is_unseen).astype(bool).ravel()
    if u.all() or not u.any():
        return None
    fpr, ccr = oscr_curve(correct, max_prob, u)
    return float(np.trapezoid(ccr, fpr))
