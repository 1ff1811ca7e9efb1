"""Gaze encoder ``example-gaze``: a deterministic stand-in that reads "gaze" off colour statistics.
A real encoder would run a face/eye model; the interface is the same (dfad_bench GazeEncoder)."""

from __future__ import annotations

import numpy as np

from dfad_bench.perception.gaze import GazeOutput
from dfad_bench.perception.gaze.base import check_images


class ColourGaze:
    name = "example-gaze"
    fingerprint = "example-gaze/1"  # change it whenever outputs could change: caches key on it
    feature_dim = 3

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def encode(self, images: np.ndarray) -> GazeOutput:
        x = check_images(images, self.name).astype(np.float64) / 255.0
        mean = x.mean(axis=(1, 2))  # (N, 3)
        left = np.column_stack([mean[:, 0] - 0.5, mean[:, 1] - 0.5])
        right = np.column_stack([mean[:, 0] - 0.5, mean[:, 2] - 0.5])
        n = len(x)
        return GazeOutput.build(left, right, mean, np.ones(n, bool), ["ok"] * n)
