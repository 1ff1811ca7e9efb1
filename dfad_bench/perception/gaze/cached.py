"""Disk cache for any :class:`GazeEncoder`, keyed by (image content hash, encoder fingerprint).

Built on :class:`dfad_bench.cache.FeatureCache`: one float64 row per image holding
``[pitch, yaw, left pitch, left yaw, right pitch, right yaw, reason code, features...]``; the
reason code indexes :data:`INVALID_REASONS`, so "no face found" is cached as such and never
recomputed or turned into numbers. The gaze vector is recomputed from (pitch, yaw).

Keys: :meth:`CachedGazeEncoder.encode` hashes the decoded pixels (``px:`` + sha256 of shape,
dtype and bytes); :meth:`CachedGazeEncoder.encode_keys` takes caller-given keys, e.g. a manifest's
``content_hash`` (sha256 of the file bytes), and only decodes the images that are missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dfad_bench.cache import FeatureCache
from dfad_bench.paths import cache_dir
from dfad_bench.perception.gaze.base import INVALID_REASONS, GazeEncoder, GazeOutput, check_images

_HEAD = 7  # pitch, yaw, left (2), right (2), reason code


def pixel_key(image: np.ndarray) -> str:
    arr = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{arr.shape}|{arr.dtype.str}|".encode())
    digest.update(arr.tobytes())
    return "px:" + digest.hexdigest()


def pack(out: GazeOutput) -> np.ndarray:
    codes = np.array([INVALID_REASONS.index(r) for r in out.reason], dtype=np.float64)
    return np.concatenate(
        [out.pitch[:, None], out.yaw[:, None], out.left, out.right, codes[:, None], out.features.astype(np.float64)], axis=1
    )


def unpack(rows: np.ndarray) -> GazeOutput:
    codes = rows[:, 6].astype(np.int64)
    valid = codes == 0
    return GazeOutput.build(
        rows[:, 2:4], rows[:, 4:6], rows[:, _HEAD:], valid, [INVALID_REASONS[c] for c in codes], overall=rows[:, 0:2]
    )


def encode_images(encoder: GazeEncoder, images: Sequence[np.ndarray]) -> GazeOutput:
    """Encode images of possibly different sizes (grouped by shape, results in input order)."""
    if len(images) == 0:
        return GazeOutput.empty(encoder.feature_dim)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault(np.shape(img), []).append(i)
    parts, order = [], []
    for idx in groups.values():
        parts.append(encoder.encode(np.stack([images[i] for i in idx])))
        order.extend(idx)
    merged = GazeOutput.concat(parts)
    return merged.take(np.argsort(np.asarray(order), kind="stable"))


class CachedGazeEncoder:
    """A :class:`GazeEncoder` whose outputs are read from / written to a :class:`FeatureCache`."""

    def __init__(self, encoder: GazeEncoder, root: str | Path | None = None, batch_size: int = 256) -> None:
        self.inner = encoder
        self.name = encoder.name
        self.fingerprint = encoder.fingerprint
        self.feature_dim = encoder.feature_dim
        self.batch_size = int(batch_size)
        self.cache = FeatureCache(root if root is not None else cache_dir("gaze"), f"gaze:{encoder.fingerprint}",
                                  dtype="float64")
        self.computed = 0  # images actually sent to the inner encoder (for tests and logs)

    def encode(self, images: np.ndarray) -> GazeOutput:
        images = check_images(images, self.name)
        return self.encode_keys([pixel_key(im) for im in images], lambda pos: [images[p] for p in pos])

    def encode_keys(self, keys: Sequence[str], load: Callable[[list[int]], Sequence[np.ndarray]]) -> GazeOutput:
        """``load(positions)`` returns the images at those positions of ``keys`` (only missing ones are asked for)."""

        def compute(positions: list[int]) -> np.ndarray:
            self.computed += len(positions)
            return pack(encode_images(self.inner, list(load(positions))))

        rows = self.cache.encode_cached(list(keys), compute, batch_size=self.batch_size)
        if rows.shape[1] == 0:
            return GazeOutput.empty(self.feature_dim)
        return unpack(rows)
