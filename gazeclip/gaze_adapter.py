"""Gaze adapter: any gaze encoder of the perception interface -> one gaze descriptor per image.

The abstract motivates GazeCLIP by two observations: gaze vectors of pristine and forged faces are
distributed differently, and GAN and diffusion generators preserve the target's gaze to different
degrees. A forged face also need not have two eyes that agree. The descriptor therefore keeps
three parts, each later turned into its own gaze token (``gaze_prompts.GazeTokenizer``) that the
forgery gaze prompts, the VPE and the gaze probe read:

- ``features``     the encoder's own feature vector (D values; gaze-mini: its 128-d penultimate layer);
- ``geometry``     overall (pitch, yaw), the 3D gaze vector, left-eye and right-eye (pitch, yaw): 9 values;
- ``consistency``  left minus right (pitch, yaw), the angle between the two eyes' gaze directions
                   (radians), a has-per-eye-estimate flag and the valid flag: 5 values.

Encoder outputs come through :func:`dfad_bench.harness.frozen.gaze_features`, cached on disk by
(image content hash, encoder fingerprint): gaze is computed once per image, whatever the number of
epochs, runs or ablations. Missing numbers (an invalid face, an encoder without per-eye output) stay
NaN here; :class:`GazeStandardizer` maps them to the train mean (0 after standardisation) and the
flags tell the model they were missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dfad_bench.contract import DataView
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import gaze_features

GEOMETRY_DIM = 9
CONSISTENCY_DIM = 5


@dataclass(frozen=True)
class GazeLayout:
    """Where each part of the descriptor lives (column slices)."""

    feature_dim: int

    @property
    def total(self) -> int:
        return self.feature_dim + GEOMETRY_DIM + CONSISTENCY_DIM

    @property
    def features(self) -> slice:
        return slice(0, self.feature_dim)

    @property
    def geometry(self) -> slice:
        return slice(self.feature_dim, self.feature_dim + GEOMETRY_DIM)

    @property
    def consistency(self) -> slice:
        return slice(self.feature_dim + GEOMETRY_DIM, self.total)


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (radians) between gaze directions given as (n, 2) pitch/yaw; NaN in -> NaN out."""
    from dfad_bench.perception.gaze import pitchyaw_to_vector

    va, vb = pitchyaw_to_vector(a[:, 0], a[:, 1]), pitchyaw_to_vector(b[:, 0], b[:, 1])
    with np.errstate(invalid="ignore"):
        return np.arccos(np.clip(np.sum(va * vb, axis=-1), -1.0, 1.0))


def build_descriptor(out: dict[str, np.ndarray]) -> np.ndarray:
    """Packed gaze outputs (as returned by ``gaze_features``) -> raw descriptor (n, D + 14), NaN kept."""
    left, right = np.asarray(out["left"], np.float64), np.asarray(out["right"], np.float64)
    n = len(left)
    has_eyes = np.isfinite(left).all(1) & np.isfinite(right).all(1)
    geometry = np.column_stack([out["pitch"], out["yaw"], out["vector"], left, right])
    consistency = np.column_stack([left - right, _angle_between(left, right), has_eyes.astype(np.float64),
                                   np.asarray(out["valid"], np.float64)])
    desc = np.column_stack([np.asarray(out["features"], np.float64).reshape(n, -1), geometry, consistency])
    return desc.astype(np.float32)


class GazeAdapter:
    """A gaze encoder plus the descriptor layout; ``describe(view)`` is cached per image."""

    def __init__(self, encoder: Any) -> None:
        for attr in ("name", "fingerprint", "feature_dim", "encode"):
            if not hasattr(encoder, attr):
                raise DfadError(f"gazeclip: gaze encoder {encoder!r} lacks {attr!r} (the GazeEncoder interface)")
        self.encoder = encoder
        self.layout = GazeLayout(int(encoder.feature_dim))

    @classmethod
    def create(cls, name: str, device: str = "cpu") -> GazeAdapter:
        from dfad_bench.perception.gaze import create_gaze_encoder

        return cls(create_gaze_encoder(name, device=device))

    @property
    def fingerprint(self) -> str:
        return str(self.encoder.fingerprint)

    def describe(self, view: DataView, batch_size: int = 256) -> np.ndarray:
        """(len(view), layout.total) raw descriptors; the encoder runs only on cache misses."""
        desc = build_descriptor(gaze_features(view, self.encoder, batch_size))
        if desc.shape[1] != self.layout.total:
            raise DfadError(
                f"gazeclip: gaze encoder {self.encoder.name} returned {desc.shape[1] - GEOMETRY_DIM - CONSISTENCY_DIM} "
                f"feature dims, its feature_dim says {self.layout.feature_dim}"
            )
        return desc


@dataclass(frozen=True)
class GazeStandardizer:
    """Per-column mean/std fitted on the TRAIN descriptors only (NaN-aware)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray) -> GazeStandardizer:
        x = np.asarray(raw, np.float64)
        finite = np.isfinite(x)
        count = finite.sum(0)
        safe = np.where(finite, x, 0.0)
        mean = np.divide(safe.sum(0), count, out=np.zeros(x.shape[1]), where=count > 0)
        var = np.divide((((safe - mean) * finite) ** 2).sum(0), count, out=np.ones(x.shape[1]), where=count > 0)
        std = np.sqrt(var)
        std = np.where(std > 1e-6, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        z = (np.asarray(raw, np.float32) - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
