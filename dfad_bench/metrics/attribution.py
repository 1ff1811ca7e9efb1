"""Attribution metrics: which family / generator made a sample, as a multi-class problem.

Labels are class-name strings. Every function accepts any sequence of names; an empty input
gives ``None`` for rates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import confusion_matrix, f1_score


def _labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=object).ravel()
    p = np.asarray(y_pred, dtype=object).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    return t, p


def predict_from_probs(probs: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Arg-max class per row; on exact ties the first column in ``classes`` order wins."""
    probs = np.asarray(probs, dtype=np.float64)
    return np.asarray(classes, dtype=object)[np.argmax(probs, axis=1)]


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float | None:
    t, p = _labels(y_true, y_pred)
    if t.size == 0:
        return None
    return float(np.mean(t == p))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float | None:
    """Unweighted mean of per-class F1 over the classes PRESENT IN ``y_true``.

    Predictions of a class absent from ``y_true`` still count (as misses of the true class),
    but such a class gets no F1 term of its own: its F1 would be 0 by construction and the
    score would then depend on what the model was able to output rather than on the data.
    A class in ``y_true`` that is never predicted has F1 = 0.
    """
    t, p = _labels(y_true, y_pred)
    if t.size == 0:
        return None
    present = sorted(set(t.tolist()))
    return float(f1_score(t, p, labels=present, average="macro", zero_division=0))


def confusion(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[str]) -> dict[str, list]:
    """``{"labels": [...], "matrix": [[...]]}``: rows are true classes, columns predicted ones.

    ``labels`` fixes the order (the label space's classes); any class seen in the data but
    missing from ``labels`` is appended so no sample silently disappears from the matrix.
    """
    t, p = _labels(y_true, y_pred)
    order = list(labels)
    extra = sorted((set(t.tolist()) | set(p.tolist())) - set(order))
    order += extra
    if t.size == 0:
        return {"labels": order, "matrix": [[0] * len(order) for _ in order]}
    matrix = confusion_matrix(t, p, labels=order)
    return {"labels": order, "matrix": matrix.astype(int).tolist()}


def seen_unseen_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, seen_classes: Sequence[str]
) -> dict[str, object]:
    """Accuracy over samples whose TRUE class is seen, and over those whose true class is unseen."""
    t, p = _labels(y_true, y_pred)
    seen = set(seen_classes)
    is_seen = np.fromiter((c in seen for c in t), dtype=bool, count=t.size)
    correct = t == p
    n_seen, n_unseen = int(is_seen.sum()), int((~is_seen).sum())
    return {
        "acc_seen": float(correct[is_seen].mean()) if n_seen else None,
        "acc_unseen": float(correct[~is_seen].mean()) if n_unseen else None,
        "n_seen": n_seen,
        "n_unseen": n_unseen,
    }
