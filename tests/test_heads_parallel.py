"""The val sweep fits its candidates on a thread pool: exactly the estimators a loop fits."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

import baselines.heads as heads


def _data(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 24))
    y = np.array(["a", "b", "c"])[(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.8, size=300) > 0).astype(int) + (x[:, 2] > 1)]
    return x[:200], y[:200], x[200:], y[200:]


def test_parallel_sweep_equals_the_sequential_loop(monkeypatch) -> None:
    x_tr, y_tr, x_va, y_va = _data(0)
    grid = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
    candidates = [(f"C={c:g}", lambda c=c: LogisticRegression(C=c, max_iter=200, random_state=0)) for c in grid]
    est_p, label_p, hist_p = heads.select_on_val("family", candidates, x_tr, y_tr, x_va, y_va)
    monkeypatch.setattr(heads, "ThreadPoolExecutor", None)  # would fail if used
    monkeypatch.setattr(heads.os, "sched_getaffinity", lambda _: {0}, raising=False)
    monkeypatch.setattr(heads.os, "cpu_count", lambda: 1)
    est_s, label_s, hist_s = heads.select_on_val("family", candidates, x_tr, y_tr, x_va, y_va)
    assert label_p == label_s and hist_p == hist_s
    assert est_p.coef_.tobytes() == est_s.coef_.tobytes() and est_p.intercept_.tobytes() == est_s.intercept_.tobytes()
    assert est_p.predict_proba(x_va).tobytes() == est_s.predict_proba(x_va).tobytes()


def test_fit_all_keeps_candidate_order() -> None:
    x_tr, y_tr, _, _ = _data(1)
    candidates = [(str(c), lambda c=c: LogisticRegression(C=c, max_iter=200)) for c in (0.01, 1.0, 100.0)]
    fitted = heads.fit_all(candidates, x_tr, y_tr)
    assert [e.C for e in fitted] == [0.01, 1.0, 100.0]
