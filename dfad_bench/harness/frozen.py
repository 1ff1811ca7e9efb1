"""Frozen encoders over data views, cached on disk by (image content hash, encoder fingerprint).

A second epoch, a second run or a second model on the same images never re-encodes: models that
sit on frozen CLIP features or gaze outputs call these helpers instead of looping over images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dfad_bench.contract import DataView


def cached_features(
    view: DataView,
    fingerprint: str,
    encode_uint8: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 256,
    image_size: int | None = None,
) -> np.ndarray:
    """(len(view), d) features; ``encode_uint8`` (N,H,W,3 uint8 -> N,d) runs only on cache misses.

    The view keys the cache by content hashes it never hands out (``DataView.encode_cached``)."""
    return view.encode_cached(fingerprint, encode_uint8, batch_size=batch_size, image_size=image_size)


def clip_image_features(view: DataView, backbone, batch_size: int = 256) -> np.ndarray:
    """L2-normalised CLIP image embeddings of a view (backbone from dfad_bench.backbones)."""
    return cached_features(view, f"clip-image:{backbone.fingerprint}", lambda x: backbone.encode_uint8(x, batch_size), batch_size)


def gaze_features(view: DataView, encoder, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Gaze encoder outputs of a view, cached as one packed vector per image.

    Returns {"pitch","yaw" (n,), "left","right" (n,2), "vector" (n,3), "features" (n,D), "valid" (n,) bool}.
    """
    def encode(x: np.ndarray) -> np.ndarray:
        out = encoder.encode(x)
        return np.column_stack([
            out.pitch, out.yaw, out.left, out.right, out.vector, out.valid.astype(np.float32), out.features,
        ]).astype(np.float32)

    packed = cached_features(view, f"gaze:{encoder.fingerprint}", encode, batch_size)
    return {
        "pitch": packed[:, 0],
        "yaw": packed[:, 1],
        "left": packed[:, 2:4],
        "right": packed[:, 4:6],
        "vector": packed[:, 6:9],
        "valid": packed[:, 9] > 0.5,
        "features": packed[:, 10:],
    }
