"""UnivFD-style linear probes on frozen CLIP features (see package docstring)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from baselines.clip_linear import CARD
from baselines.heads import Candidate, FeatureHeadsModel
from dfad_bench.backbones import create_backbone
from dfad_bench.contract import DataView, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import clip_image_features


class ClipLinear(FeatureHeadsModel):
    """Three L2 logistic heads (detection, family, generator) on standardised frozen CLIP image
    features; each head's C is picked on val by :func:`baselines.heads.select_on_val` (ties go to
    the earlier, i.e. smaller, C of the sorted grid)."""

    card = CARD

    @property
    def selection_rule(self) -> str:
        chosen = getattr(self, "chosen_", None)
        picked = ", ".join(f"{h} {c}" for h, c in chosen.items()) if chosen else "not fitted"
        return (
            f"L2 strength C per head chosen on val from {list(self.config['C_grid'])} (detection: val AUC; "
            f"family/generator: val accuracy; ties: val log-loss, then smaller C): {picked}; threshold calibrated on val"
        )

    def setup(self, ctx: RunContext) -> None:
        self.grid_ = sorted(float(c) for c in self.config["C_grid"])
        if not self.grid_ or min(self.grid_) <= 0:
            raise DfadError(f"clip-linear: C_grid must be a non-empty list of positive numbers, got {self.config['C_grid']!r}")
        self.backbone_ = create_backbone(self.config["backbone"], device=ctx.device)

    def raw_features(self, view: DataView, ctx: RunContext) -> np.ndarray:
        return clip_image_features(view, self.backbone_, self.config["batch_size"]).astype(np.float64)

    def candidates(self, head: str, ctx: RunContext) -> list[Candidate]:
        max_iter = int(self.config["max_iter"])
        return [(f"C={c:g}", lambda c=c: LogisticRegression(C=c, max_iter=max_iter, random_state=ctx.seed))
                for c in self.grid_]

    def embedding(self, features: np.ndarray, standardised: np.ndarray) -> np.ndarray:
        return features  # the CLIP features themselves, as the other CLIP baselines report
