"""Attribution metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from dfad_bench.metrics.attribution import (
    accuracy,
    confusion,
    macro_f1,
    predict_from_probs,
    seen_unseen_accuracy,
)

CLASSES = ["real", "diffusion", "flow", "gan"]


def _random_labels(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.choice(CLASSES, size=n)
    p = np.where(
        rng.random(n) < 0.6, t, rng.choice(CLASSES[:3], size=n)
    )  # model never outputs "gan" at random
    return t.astype(object), p.astype(object)


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_and_macro_f1_match_sklearn(seed: int) -> None:
    t, p = _random_labels(seed)
    assert accuracy(t, p) == pytest.approx(accuracy_score(t, p), abs=1e-12)
    present = sorted(set(t))
    assert macro_f1(t, p) == pytest.approx(f1_score(t, p, labels=present, average="macro"), abs=1e-9)


def test_macro_f1_is_over_classes_present_in_y_true() -> None:
    # a: P=1, R=1/2 -> F1 2/3; b: F1 1. "c" is only predicted: no F1 term of its own.
    assert macro_f1(["a", "a", "b", "b"], ["a", "c", "b", "b"]) == pytest.approx((2 / 3 + 1) / 2)
    # a true class never predicted counts as F1 = 0
    assert macro_f1(["a", "b"], ["a", "a"]) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1([], []) is None and accuracy([], []) is None


def test_confusion_hand_case_and_order() -> None:
    out = confusion(
        ["gan", "gan", "real", "flow"], ["gan", "real", "real", "gan"], labels=["real", "gan", "flow"]
    )
    assert out == {"labels": ["real", "gan", "flow"], "matrix": [[1, 0, 0], [1, 1, 0], [0, 1, 0]]}
    # a class outside the given labels is appended, not dropped
    out = confusion(["x", "real"], ["real", "real"], labels=["real"])
    assert out["labels"] == ["real", "x"] and out["matrix"] == [[1, 0], [1, 0]]


@pytest.mark.parametrize("seed", range(3))
def test_confusion_matches_sklearn(seed: int) -> None:
    t, p = _random_labels(seed)
    out = confusion(t, p, CLASSES)
    assert np.array_equal(np.array(out["matrix"]), confusion_matrix(t, p, labels=CLASSES))
    assert sum(map(sum, out["matrix"])) == len(t)


def test_seen_unseen_breakdown() -> None:
    t = ["real", "gan", "flow", "flow", "diffusion"]
    p = ["real", "diffusion", "gan", "flow", "diffusion"]
    out = seen_unseen_accuracy(t, p, seen_classes=["real", "gan", "diffusion"])
    assert out == {
        "acc_seen": pytest.approx(2 / 3),
        "acc_unseen": pytest.approx(1 / 2),
        "n_seen": 3,
        "n_unseen": 2,
    }
    out = seen_unseen_accuracy(["real"], ["real"], seen_classes=["real"])
    assert out["acc_unseen"] is None and out["n_unseen"] == 0


def test_predict_from_probs_argmax_and_tie_break() -> None:
    probs = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8]])
    assert list(predict_from_probs(probs, ["a", "b", "c"])) == ["b", "a", "c"]
