"""UnivFD-style linear probes on frozen CLIP features (see package docstring)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from baselines.clip_linear import CARD
from dfad_bench.backbones import create_backbone
from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import clip_image_features
from dfad_bench.metrics import accuracy, auc

HEADS = ("detection", "family", "generator")


def _column_probs(est: LogisticRegression, x: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """predict_proba re-ordered onto ``classes`` (a seen class absent from train keeps probability 0)."""
    p = est.predict_proba(x)
    out = np.zeros((len(x), len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(est.classes_):
        out[:, index[str(c)]] = p[:, j]
    return out


class ClipLinear(BaseModel):
    card = CARD

    @property
    def selection_rule(self) -> str:
        chosen = getattr(self, "chosen_C_", None)
        picked = ", ".join(f"{h} C={c:g}" for h, c in chosen.items()) if chosen else "not fitted"
        return (
            f"L2 strength C per head chosen on val from {list(self.config['C_grid'])} (detection: val AUC; "
            f"family/generator: val accuracy; ties: val log-loss, then smaller C): {picked}; threshold calibrated on val"
        )

    def _features(self, view: DataView) -> np.ndarray:
        return clip_image_features(view, self.backbone_, self.config["batch_size"]).astype(np.float64)

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> ClipLinear:
        grid = sorted(float(c) for c in self.config["C_grid"])
        if not grid or min(grid) <= 0:
            raise DfadError(f"clip-linear: C_grid must be a non-empty list of positive numbers, got {self.config['C_grid']!r}")
        self.backbone_ = create_backbone(self.config["backbone"], device=ctx.device)
        self.classes_ = {
            "family": tuple(ctx.attribution_classes("family", open_vocabulary=False)),
            "generator": tuple(ctx.attribution_classes("generator", open_vocabulary=False)),
        }
        f_tr = self._features(train)
        self.scaler_ = StandardScaler().fit(f_tr)
        x_tr = self.scaler_.transform(f_tr)
        x_va = self.scaler_.transform(self._features(val))
        targets = {
            "detection": (train.labels("is_fake").astype(int), val.labels("is_fake").astype(int)),
            "family": (train.labels("family").astype(str), val.labels("family").astype(str)),
            "generator": (train.labels("generator").astype(str), val.labels("generator").astype(str)),
        }
        self.heads_: dict[str, LogisticRegression] = {}
        self.chosen_C_: dict[str, float] = {}
        self.history_: list[dict[str, Any]] = []
        for head in HEADS:
            y_tr, y_va = targets[head]
            best: tuple[tuple[float, float, float], LogisticRegression, float] | None = None
            for c in grid:
                est = LogisticRegression(C=c, max_iter=int(self.config["max_iter"]), random_state=ctx.seed)
                # One BLAS thread: L-BFGS on a (n, ~128) problem makes many tiny BLAS calls, which a
                # multi-threaded BLAS slows down several-fold on a busy machine.
                with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                    warnings.simplefilter("ignore", ConvergenceWarning)  # large C on separable data: fine, recorded
                    est.fit(x_tr, y_tr)
                p_va = est.predict_proba(x_va)
                if head == "detection":
                    primary = auc(y_va, p_va[:, list(est.classes_).index(1)]) if 1 in est.classes_ else None
                else:
                    primary = accuracy(y_va, est.classes_[p_va.argmax(1)])
                loss = float(log_loss(y_va, p_va, labels=est.classes_)) if set(y_va) <= set(est.classes_) else float("inf")
                self.history_.append({"head": head, "C": c, "val_primary": primary, "val_log_loss": loss})
                key = (-(primary if primary is not None else -np.inf), loss, c)  # lower is better
                if best is None or key < best[0]:
                    best = (key, est, c)
            assert best is not None
            self.heads_[head], self.chosen_C_[head] = best[1], best[2]
            ctx.log(f"clip-linear: {head} head C={best[2]:g} (val {'AUC' if head == 'detection' else 'ACC'} {-best[0][0]:.4f})")
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        feats = self._features(data)
        x = self.scaler_.transform(feats)
        det = self.heads_["detection"]
        fake = det.predict_proba(x)[:, list(det.classes_).index(1)] if 1 in det.classes_ else np.zeros(len(x))
        return Predictions(
            sample_ids=data.sample_ids,
            fake_score=fake,
            family_classes=self.classes_["family"],
            family_probs=_column_probs(self.heads_["family"], x, self.classes_["family"]),
            generator_classes=self.classes_["generator"],
            generator_probs=_column_probs(self.heads_["generator"], x, self.classes_["generator"]),
            embedding=feats.astype(np.float32),
        )
