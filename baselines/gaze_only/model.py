"""Gaze-only baseline (see the package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from baselines.gaze_only import CARD
from baselines.heads import Candidate, FeatureHeadsModel
from dfad_bench.contract import DataView, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import gaze_features
from dfad_bench.perception.gaze import angular_error_deg, create_gaze_encoder

GAZE_COLUMNS = (
    "pitch", "yaw", "left_pitch", "left_yaw", "right_pitch", "right_yaw", "vector_x", "vector_y", "vector_z",
    "eye_inconsistency_rad", "eye_diff_pitch", "eye_diff_yaw", "gaze_valid", "per_eye_available",
)
HEAD_KINDS = ("mlp", "logistic")


def gaze_table(g: dict[str, np.ndarray], use_features: bool) -> tuple[np.ndarray, list[str]]:
    """Raw (n, d) gaze features with NaN where the encoder gave nothing, and the column names.

    ``g`` is the output of :func:`dfad_bench.harness.frozen.gaze_features`. The two indicator
    columns are never NaN.
    """
    valid = np.asarray(g["valid"], dtype=bool)
    left, right = np.asarray(g["left"], np.float64), np.asarray(g["right"], np.float64)
    eyes = valid & np.isfinite(left).all(1) & np.isfinite(right).all(1)
    cols = [
        g["pitch"], g["yaw"], left[:, 0], left[:, 1], right[:, 0], right[:, 1], *np.asarray(g["vector"], np.float64).T,
        np.radians(angular_error_deg(left, right)), left[:, 0] - right[:, 0], left[:, 1] - right[:, 1],
        valid.astype(np.float64), eyes.astype(np.float64),
    ]
    x = np.column_stack([np.asarray(c, np.float64) for c in cols])
    x[~valid, :-2] = np.nan  # an invalid row carries no numbers, whatever the encoder wrote
    names = list(GAZE_COLUMNS)
    if use_features:
        feats = np.asarray(g["features"], np.float64).copy()
        feats[~valid] = np.nan
        x = np.column_stack([x, feats])
        names += [f"feature_{i}" for i in range(feats.shape[1])]
    return x, names


class GazeOnlyModel(FeatureHeadsModel):
    card = CARD

    def setup(self, ctx: RunContext) -> None:
        if self.config["head"] not in HEAD_KINDS:
            raise DfadError(f"gaze-only: config head={self.config['head']!r}; expected one of {HEAD_KINDS}")
        self.encoder_ = create_gaze_encoder(str(self.config["gaze"]), device=ctx.device)
        ctx.log(f"gaze-only: gaze encoder {self.encoder_.name} ({self.encoder_.fingerprint})")

    def raw_features(self, view: DataView, ctx: RunContext) -> np.ndarray:
        g = gaze_features(view, self.encoder_, int(self.config["batch_size"]))
        x, self.columns_ = gaze_table(g, bool(self.config["use_gaze_features"]))
        return x

    def fit_preprocess(self, raw_train: np.ndarray, ctx: RunContext) -> None:
        known = np.isfinite(raw_train)
        self.keep_ = known.any(axis=0)
        counts = known.sum(axis=0)
        sums = np.where(known, raw_train, 0.0).sum(axis=0)
        self.impute_ = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)[self.keep_]
        n_invalid = int((raw_train[:, GAZE_COLUMNS.index("gaze_valid")] < 0.5).sum())
        self.imputation_: dict[str, Any] = {
            "rule": "missing values (invalid gaze, absent per-eye estimates) <- mean of the column over train rows where known",
            "train_rows": int(len(raw_train)),
            "train_invalid_gaze": n_invalid,
            "dropped_never_known": [c for c, k in zip(self.columns_, self.keep_, strict=True) if not k],
        }
        if n_invalid:
            ctx.log(f"gaze-only: {n_invalid}/{len(raw_train)} train images without valid gaze (imputed, flagged)")

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        x = raw[:, self.keep_]
        return np.where(np.isfinite(x), x, self.impute_[None, :])

    @property
    def selection_rule(self) -> str:
        rule = super().selection_rule
        imp = getattr(self, "imputation_", None)
        if imp is None:
            return rule
        dropped = ", ".join(imp["dropped_never_known"]) or "none"
        return (f"{rule}; invalid gaze: {imp['train_invalid_gaze']}/{imp['train_rows']} train rows, flagged by gaze_valid "
                f"and imputed (train means of known values); columns never known in train, dropped: {dropped}")

    def candidates(self, head: str, ctx: RunContext) -> list[Candidate]:
        c = self.config
        max_iter = int(c["max_iter"])
        if c["head"] == "logistic":  # ascending C = stronger regularisation first (wins ties)
            return [(f"logistic C={v:g}", lambda v=v: LogisticRegression(C=v, max_iter=max_iter, random_state=ctx.seed))
                    for v in sorted(float(v) for v in c["C_grid"])]
        hidden = int(c["hidden"])
        return [  # descending alpha = stronger regularisation first (wins ties)
            (f"mlp({hidden}) alpha={a:g}",
             lambda a=a: MLPClassifier((hidden,), alpha=a, max_iter=max_iter, random_state=ctx.seed))
            for a in sorted((float(v) for v in c["alpha_grid"]), reverse=True)
        ]
