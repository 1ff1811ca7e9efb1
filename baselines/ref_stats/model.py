"""Image-statistics reference model (see package docstring)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from baselines.ref_stats import CARD
from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext


def image_statistics(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 14) features, vectorised over the batch."""
    x = images.astype(np.float32) / 255.0
    mean = x.mean(axis=(1, 2))
    std = x.std(axis=(1, 2))
    gray = x.mean(axis=3)
    gx, gy = np.diff(gray, axis=2), np.diff(gray, axis=1)
    grad = np.stack([np.abs(gx).mean(axis=(1, 2)), np.abs(gy).mean(axis=(1, 2))], axis=1)
    lap = gray[:, 1:-1, 1:-1] * 4 - gray[:, :-2, 1:-1] - gray[:, 2:, 1:-1] - gray[:, 1:-1, :-2] - gray[:, 1:-1, 2:]
    spec = np.abs(np.fft.rfft2(gray - gray.mean(axis=(1, 2), keepdims=True)))
    h, w = spec.shape[1:]
    fy = np.abs(np.fft.fftfreq(gray.shape[1]))[:, None]
    fx = np.fft.rfftfreq(gray.shape[2])[None, :]
    high = (np.sqrt(fx**2 + fy**2) > 0.25)[None]
    high_share = (spec * high).sum(axis=(1, 2)) / (spec.sum(axis=(1, 2)) + 1e-8)
    sat = (x.max(axis=3) - x.min(axis=3)).mean(axis=(1, 2))
    return np.column_stack([mean, std, grad, lap.var(axis=(1, 2)), high_share, sat, gray.mean(axis=(1, 2)), np.full(len(x), h * w / 1e4)])


class ImageStatsModel(BaseModel):
    card = CARD

    @property
    def selection_rule(self) -> str:
        return "no model selection (fixed C); threshold calibrated on val"

    def _features(self, view: DataView) -> np.ndarray:
        chunks = [image_statistics(b.permute(0, 2, 3, 1).numpy()) for _, b in view.iter_images(self.config["batch_size"])]
        return np.concatenate(chunks)

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> ImageStatsModel:
        x = self._features(train)
        self.family_classes_ = ctx.attribution_classes("family", open_vocabulary=False)
        self.generator_classes_ = ctx.attribution_classes("generator", open_vocabulary=False)

        def clf():
            return make_pipeline(StandardScaler(), LogisticRegression(C=self.config["C"], max_iter=2000, random_state=ctx.seed))

        self.det_ = clf().fit(x, train.labels("is_fake").astype(int))
        self.fam_ = clf().fit(x, train.labels("family"))
        self.gen_ = clf().fit(x, train.labels("generator"))
        return self

    def _probs(self, est, x: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
        p = est.predict_proba(x)
        out = np.zeros((len(x), len(classes)))
        index = {c: i for i, c in enumerate(classes)}
        for j, c in enumerate(est.classes_):
            out[:, index[c]] = p[:, j]
        return out

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        x = self._features(data)
        return Predictions(
            sample_ids=data.sample_ids,
            fake_score=self.det_.predict_proba(x)[:, 1],
            family_classes=self.family_classes_,
            family_probs=self._probs(self.fam_, x, self.family_classes_),
            generator_classes=self.generator_classes_,
            generator_probs=self._probs(self.gen_, x, self.generator_classes_),
            embedding=x,
        )
