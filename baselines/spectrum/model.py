"""Spectral-feature baseline (see the package docstring)."""

from __future__ import annotations

import json

import numpy as np
from sklearn.linear_model import LogisticRegression

from baselines.heads import Candidate, FeatureHeadsModel
from baselines.spectrum import CARD
from baselines.spectrum.features import FEATURE_KINDS, spectral_features
from dfad_bench.contract import DataView, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import cached_features

FEATURE_VERSION = "spectrum-features-v1"  # bump when features.py changes what it computes


class SpectrumModel(FeatureHeadsModel):
    card = CARD

    def setup(self, ctx: RunContext) -> None:
        c = self.config
        if c["features"] not in FEATURE_KINDS:
            raise DfadError(f"spectrum: config features={c['features']!r}; expected one of {FEATURE_KINDS}")
        grid = list(c["C_grid"]) if isinstance(c["C_grid"], list | tuple) else [c["C_grid"]]
        if not grid or min(float(v) for v in grid) <= 0:
            raise DfadError(f"spectrum: C_grid must be a non-empty list of positive numbers, got {c['C_grid']!r}")
        self.C_grid_ = sorted(float(v) for v in grid)

    @property
    def fingerprint(self) -> str:
        """Cache key of the features: everything that changes them, nothing else."""
        keys = ("features", "dct_grid", "radial_minmax", "image_size")
        return f"{FEATURE_VERSION}:" + json.dumps({k: self.config[k] for k in keys}, sort_keys=True)

    def feature_key(self, view: DataView) -> str:
        """:attr:`fingerprint` plus the size images reach the encoder at. With ``image_size`` None
        that is their decoded size, which sets the FFT profile's length (the feature dim): without
        it, features of a 64 px benchmark and a 128 px one shared a key ("features have dim 1070,
        the cache holds dim 1138"). Read off the first image as the loader delivers it (after any
        resize the view applies), so it is exactly what the encoder sees."""
        size = self.config["image_size"]
        if size is None and len(view):
            _, batch = next(iter(view.iter_images(batch_size=1)))
            size = f"{int(batch.shape[3])}x{int(batch.shape[2])}"
        elif size is not None:
            size = f"{int(size)}x{int(size)}"
        return f"{self.fingerprint}|input={size}"

    def raw_features(self, view: DataView, ctx: RunContext) -> np.ndarray:
        c = self.config

        def encode(images: np.ndarray) -> np.ndarray:
            return spectral_features(images, c["features"], int(c["dct_grid"]), bool(c["radial_minmax"]))

        try:
            feats = cached_features(view, self.feature_key(view), encode, int(c["batch_size"]), image_size=c["image_size"])
        except RuntimeError as exc:  # torch's collate refuses a batch of differently sized images
            if "size" not in str(exc):
                raise
            raise DfadError(
                f"spectrum: images of the {view.role} split differ in size ({exc}); set image_size=N to resize them "
                "(resizing low-passes the spectrum: prefer benchmarks with one image size)"
            ) from exc
        return feats.astype(np.float64)

    def candidates(self, head: str, ctx: RunContext) -> list[Candidate]:
        max_iter = int(self.config["max_iter"])
        return [
            (f"C={c:g}", lambda c=c: LogisticRegression(C=c, max_iter=max_iter, random_state=ctx.seed))
            for c in self.C_grid_
        ]
