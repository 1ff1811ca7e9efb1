"""Classical heads on fixed per-image features, with every choice made on val.

Shared by the ``clip-linear``, ``spectrum`` and ``gaze-only`` baselines. A model subclasses
:class:`FeatureHeadsModel`, says how to compute raw features and which estimators to try; this
class fits three heads (detection, family, generator) on train, picks each head's regularisation
on VAL only (detection: val AUC; attribution: val accuracy; ties: val log-loss, then the earlier
candidate, i.e. the stronger regularisation), and records every candidate's val scores in
``history_`` (copied into the run record by the harness).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.metrics import accuracy, auc
from dfad_bench.progress import sig

HEADS = ("detection", "family", "generator")
Candidate = tuple[str, Callable[[], Any]]  # (label recorded in history, e.g. "C=0.1"; estimator factory)


def column_probs(est: Any, x: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """``predict_proba`` re-ordered onto ``classes`` (a seen class absent from train keeps 0)."""
    p = est.predict_proba(x)
    out = np.zeros((len(x), len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(est.classes_):
        out[:, index[str(c)]] = p[:, j]
    return out


def fit_all(candidates: list[Candidate], x_tr: np.ndarray, y_tr: np.ndarray) -> list[Any]:
    """Every candidate fitted on train, in their order. The fits are independent (no warm start),
    so running them on a thread pool gives exactly the estimators a loop gives, in a fraction of
    the wall time: the solvers spend it in NumPy/BLAS calls that release the GIL."""
    def fit(make: Callable[[], Any]) -> Any:
        return make().fit(x_tr, y_tr)

    workers = max(1, min(len(candidates), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
    # One BLAS thread per fit: iterative solvers on small problems make many tiny BLAS calls,
    # which a multi-threaded BLAS slows down several-fold. Limits and warning filters are
    # process-wide, so they are set once here, around the pool, not inside its threads.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # weak regularisation on separable data: fine
        if workers == 1:
            return [fit(make) for _, make in candidates]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(fit, [make for _, make in candidates]))


def select_on_val(
    head: str, candidates: list[Candidate], x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
    advance: Any = None,
) -> tuple[Any, str, list[dict[str, Any]]]:
    """Fit every candidate on train, keep the best on val; returns (estimator, label, history rows).
    ``advance()`` (a progress bar's) is called after each candidate."""
    if not candidates:
        raise DfadError(f"{head} head: no candidate estimator to choose from")
    history: list[dict[str, Any]] = []
    best: tuple[tuple[float, float, int], Any, str] | None = None
    for order, ((label, _), est) in enumerate(zip(candidates, fit_all(candidates, x_tr, y_tr), strict=True)):
        p_va = est.predict_proba(x_va)
        classes = list(est.classes_)
        if head == "detection":
            primary = auc(y_va, p_va[:, classes.index(1)]) if 1 in classes else None
        else:
            primary = accuracy(y_va, np.asarray(est.classes_)[p_va.argmax(1)])
        loss = float(log_loss(y_va, p_va, labels=est.classes_)) if set(y_va) <= set(classes) else float("inf")
        history.append({"head": head, "candidate": label, "val_primary": primary, "val_log_loss": loss})
        key = (-(primary if primary is not None else -np.inf), loss, order)  # lower is better
        if best is None or key < best[0]:
            best = (key, est, label)
        if advance is not None:
            advance()
    assert best is not None
    return best[1], best[2], history


class FeatureHeadsModel(BaseModel):
    """Features -> (model-specific preprocessing) -> standardisation -> three val-selected heads."""

    #: what the val primary metric is called in logs
    _metric = {"detection": "AUC", "family": "ACC", "generator": "ACC"}

    # -- hooks ---------------------------------------------------------------------------
    def raw_features(self, view: DataView, ctx: RunContext) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def candidates(self, head: str, ctx: RunContext) -> list[Candidate]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_preprocess(self, raw_train: np.ndarray, ctx: RunContext) -> None:
        """Learn preprocessing on TRAIN features (default: nothing before standardisation)."""

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        return raw

    def setup(self, ctx: RunContext) -> None:
        """Called once at the start of fit (e.g. build a frozen encoder)."""

    def embedding(self, features: np.ndarray, standardised: np.ndarray) -> np.ndarray:
        """What ``Predictions.embedding`` reports (clustering of unseen classes): by default the
        standardised features the heads see; ``features`` is the preprocessed, unscaled version."""
        return standardised

    # -- contract ------------------------------------------------------------------------
    @property
    def selection_rule(self) -> str:
        chosen = getattr(self, "chosen_", None)
        picked = ", ".join(f"{h} {c}" for h, c in chosen.items()) if chosen else "not fitted"
        return (
            "each head's regularisation chosen on val (detection: val AUC; family/generator: val accuracy; "
            f"ties: val log-loss, then stronger regularisation): {picked}; threshold calibrated on val"
        )

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> FeatureHeadsModel:
        self.setup(ctx)
        self.classes_ = {
            "family": tuple(ctx.attribution_classes("family", open_vocabulary=False)),
            "generator": tuple(ctx.attribution_classes("generator", open_vocabulary=False)),
        }
        raw_tr = self.raw_features(train, ctx)
        self.fit_preprocess(raw_tr, ctx)
        f_tr = self.preprocess(raw_tr)
        self.scaler_ = StandardScaler().fit(f_tr)
        x_tr = self.scaler_.transform(f_tr)
        x_va = self.scaler_.transform(self.preprocess(self.raw_features(val, ctx)))
        targets = {
            "detection": (train.labels("is_fake").astype(int), val.labels("is_fake").astype(int)),
            "family": (train.labels("family").astype(str), val.labels("family").astype(str)),
            "generator": (train.labels("generator").astype(str), val.labels("generator").astype(str)),
        }
        self.heads_: dict[str, Any] = {}
        self.chosen_: dict[str, str] = {}
        self.history_: list[dict[str, Any]] = []
        sweeps = {head: self.candidates(head, ctx) for head in HEADS}
        bar = ctx.progress(f"{self.card.name}: val sweep", sum(map(len, sweeps.values()))) if ctx.progress else None
        for head in HEADS:
            y_tr, y_va = targets[head]
            est, label, rows = select_on_val(head, sweeps[head], x_tr, y_tr, x_va, y_va, advance=bar)
            self.heads_[head], self.chosen_[head] = est, label
            self.history_.extend(rows)
            score = next(r["val_primary"] for r in rows if r["candidate"] == label)
            ctx.log(f"{self.card.name}: {head} head {label} (val {self._metric[head]} {sig(score)})")
        return self

    # -- export (dfad_bench/harness/export.py) -----------------------------------------------
    def export_state(self) -> dict[str, Any] | None:
        """Scaler and each head's coefficients as arrays (no pickles). Only linear heads of a
        model without learned preprocessing export (others return None)."""
        if type(self).fit_preprocess is not FeatureHeadsModel.fit_preprocess:
            return None
        if not all(isinstance(h, LogisticRegression) for h in self.heads_.values()):
            return None
        state: dict[str, Any] = {"scaler.mean": self.scaler_.mean_, "scaler.scale": self.scaler_.scale_}
        for head, est in self.heads_.items():
            # the head's classes as integers: 0/1 for detection, else positions in the level's seen classes
            state[f"{head}.classes"] = (np.asarray(est.classes_, np.int64) if head == "detection" else
                                        np.asarray([self.classes_[head].index(str(c)) for c in est.classes_], np.int64))
            state[f"{head}.coef"], state[f"{head}.intercept"] = est.coef_, est.intercept_
        return state

    def load_state(self, state: dict[str, np.ndarray], ctx: RunContext) -> None:
        self.setup(ctx)
        self.classes_ = {level: tuple(ctx.attribution_classes(level, open_vocabulary=False)) for level in ("family", "generator")}
        self.scaler_ = StandardScaler()
        self.scaler_.mean_, self.scaler_.scale_ = state["scaler.mean"], state["scaler.scale"]
        self.scaler_.var_ = state["scaler.scale"] ** 2
        self.scaler_.n_features_in_ = len(state["scaler.mean"])
        self.heads_ = {}
        for head in HEADS:
            est = LogisticRegression()
            idx = state[f"{head}.classes"]
            est.classes_ = idx if head == "detection" else np.asarray([self.classes_[head][int(i)] for i in idx], dtype=object)
            est.coef_, est.intercept_ = state[f"{head}.coef"], state[f"{head}.intercept"]
            est.n_features_in_ = est.coef_.shape[1]
            self.heads_[head] = est

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        features = self.preprocess(self.raw_features(data, ctx))
        x = self.scaler_.transform(features)
        det = self.heads_["detection"]
        classes = list(det.classes_)
        fake = det.predict_proba(x)[:, classes.index(1)] if 1 in classes else np.zeros(len(x))
        return Predictions(
            sample_ids=data.sample_ids,
            fake_score=fake,
            family_classes=self.classes_["family"],
            family_probs=column_probs(self.heads_["family"], x, self.classes_["family"]),
            generator_classes=self.classes_["generator"],
            generator_probs=column_probs(self.heads_["generator"], x, self.classes_["generator"]),
            embedding=self.embedding(features, x).astype(np.float32),
        )
