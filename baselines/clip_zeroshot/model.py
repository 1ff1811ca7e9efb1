"""CLIP zero-shot model (see package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.clip_zeroshot import CARD
from baselines.prompting import TEMPLATES, encode_prompt_sets, prompt_sets
from dfad_bench.backbones import create_backbone
from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import clip_image_features
from dfad_bench.taxonomy import REAL

#: Logit scales tried when ``temperature: val`` (CLIP's trained scale is 100 for OpenAI weights).
LOGIT_SCALE_GRID: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, classes: tuple[str, ...], labels: np.ndarray) -> float:
    index = {c: i for i, c in enumerate(classes)}
    p = probs[np.arange(len(labels)), [index[str(y)] for y in labels]]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


class ClipZeroShot(BaseModel):
    card = CARD

    @property
    def selection_rule(self) -> str:
        how = {
            "clip": "CLIP's learned logit scale",
            "fixed": "the configured temperature",
            "val": f"chosen on val from logit scales {list(LOGIT_SCALE_GRID)} by family-level NLL",
        }[getattr(self, "temperature_source_", "clip")]
        scale = getattr(self, "logit_scale_", None)
        shown = f" = {scale:g}" if scale is not None else ""
        return f"no training; logit scale{shown} ({how}); threshold calibrated on val"

    # ------------------------------------------------------------------ internals
    def _setup(self, ctx: RunContext) -> None:
        """Class prompts of the classes ``ctx`` names: fit and predict(val) get the seen classes only
        (the val temperature and threshold see no unseen class), predict(test) all of them."""
        if not hasattr(self, "backbone_"):
            self.backbone_ = create_backbone(self.config["backbone"], device=ctx.device)
        self.classes_: dict[str, tuple[str, ...]] = {}
        self.text_: dict[str, np.ndarray] = {}
        for level in ("family", "generator"):
            classes = ctx.attribution_classes(level, open_vocabulary=True)
            sets = prompt_sets(level, classes, ctx.taxonomy, TEMPLATES)
            self.classes_[level] = tuple(classes)
            self.text_[level] = encode_prompt_sets(self.backbone_, sets).cpu().numpy().astype(np.float64)
        if REAL not in self.classes_["family"]:
            raise DfadError("clip-zeroshot: the family label space has no 'real' class; cannot score fakes as 1 - p(real)")

    def _features(self, view: DataView) -> np.ndarray:
        return clip_image_features(view, self.backbone_, self.config["batch_size"]).astype(np.float64)

    def _probs(self, feats: np.ndarray, level: str, scale: float) -> np.ndarray:
        return softmax(scale * feats @ self.text_[level].T)

    # ------------------------------------------------------------------ contract
    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> ClipZeroShot:
        self._setup(ctx)
        t = self.config["temperature"]
        if t == "clip":
            self.temperature_source_ = "clip"
            self.logit_scale_ = float(self.backbone_.logit_scale.detach().cpu())
        elif t == "val":
            feats, labels = self._features(val), val.labels("family")
            self.history_: list[dict[str, Any]] = [
                {"logit_scale": s, "val_family_nll": nll(self._probs(feats, "family", s), self.classes_["family"], labels)}
                for s in LOGIT_SCALE_GRID
            ]
            best = min(self.history_, key=lambda r: (r["val_family_nll"], r["logit_scale"]))
            self.temperature_source_ = "val"
            self.logit_scale_ = float(best["logit_scale"])
        elif isinstance(t, int | float) and not isinstance(t, bool) and t > 0:
            self.temperature_source_ = "fixed"
            self.logit_scale_ = 1.0 / float(t)
        else:
            raise DfadError(f"clip-zeroshot: temperature must be 'clip', 'val' or a positive number, got {t!r}")
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        if any(self.classes_[lv] != tuple(ctx.attribution_classes(lv, open_vocabulary=True)) for lv in ("family", "generator")):
            self._setup(ctx)
        feats = self._features(data)
        fam = self._probs(feats, "family", self.logit_scale_)
        gen = self._probs(feats, "generator", self.logit_scale_)
        return Predictions.from_attribution(
            data.sample_ids, (self.classes_["family"], fam), (self.classes_["generator"], gen), feats.astype(np.float32)
        )

