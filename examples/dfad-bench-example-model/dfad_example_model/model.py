"""A nearest-centroid model on per-image colour mean and contrast: the smallest honest plug-in."""

from __future__ import annotations

import numpy as np

from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_example_model import CARD


def _features(view: DataView, batch_size: int) -> np.ndarray:
    rows = []
    for _, images in view.iter_images(batch_size):
        x = images.float().div(255).numpy()
        rows.append(np.concatenate([x.mean(axis=(2, 3)), x.std(axis=(2, 3))], axis=1))
    return np.concatenate(rows)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ColourPrior(BaseModel):
    card = CARD

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> ColourPrior:
        x = _features(train, self.config["batch_size"])
        self.mu_, self.sd_ = x.mean(0), x.std(0) + 1e-6
        z = (x - self.mu_) / self.sd_
        self.centroids_ = {}
        for level in ("family", "generator"):
            classes = ctx.attribution_classes(level, open_vocabulary=False)
            labels = train.labels(level)
            self.centroids_[level] = (classes, np.stack([z[labels == c].mean(0) for c in classes]))
        fake = train.labels("is_fake").astype(bool)
        self.det_ = np.stack([z[~fake].mean(0), z[fake].mean(0)])
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        z = (_features(data, self.config["batch_size"]) - self.mu_) / self.sd_
        dist = lambda c: -((z[:, None, :] - c[None]) ** 2).sum(-1)  # noqa: E731
        out = {}
        for level, (classes, cents) in self.centroids_.items():
            out[level] = (classes, _softmax(dist(cents)))
        return Predictions(
            sample_ids=data.sample_ids,
            fake_score=_softmax(dist(self.det_))[:, 1],
            family_classes=out["family"][0], family_probs=out["family"][1],
            generator_classes=out["generator"][0], generator_probs=out["generator"][1],
        )
