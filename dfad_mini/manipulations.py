"""DFAD-Mini manipulations: face swap (``mini-swap``) and eye editing (``mini-eyeedit``).

Both start from pristine renders and paste in content made by a trained generator; neither
adds a hand-made artefact. What tells them apart from pristine images comes from the
generators and from the blending itself, as in real face-swap / editing pipelines.

Masks. Renders and generated faces are roughly centred (the renderer jitters the head centre
by +-0.04 of the half-image and its scale by +-6 %), so the face swap uses one fixed soft
ellipse over the inner face (brows, eyes, nose, mouth) of the renderer's canonical layout,
measured on renders at 64 px: eyes at y ~= 29, mouth at y ~= 42, face centre x ~= 31.5. Head
yaw and pitch move the features by a few pixels, so a swap onto a turned head is imperfectly
aligned, like a crude real swap without re-alignment. The eye edit places its mask on the
target's eye positions when they are given (the builder passes the renderer's landmarks,
standing in for a landmark detector) and otherwise on the canonical eye band.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dfad_bench.errors import DfadError

IMAGE_SIZE = 64
#: Inner-face ellipse of the canonical layout at 64 px: centre (x, y), radii (x, y), feather (px).
INNER_FACE_ELLIPSE = (31.5, 34.5, 13.0, 12.5, 3.0)
#: Canonical eye band at 64 px: centre y, half height, centre x, half width, feather (px).
EYE_BAND = (29.0, 5.0, 31.5, 14.0, 2.0)
#: Random scale of the face-swap mask (per image).
MASK_SCALE_RANGE = (0.92, 1.06)
#: Per-eye ellipse around a landmark: radii (x, y) and feather (px).
EYE_ELLIPSE = (6.5, 4.5, 2.0)

SdeditFn = Callable[[np.ndarray, float, int], np.ndarray]


def _check_batch(name: str, images: np.ndarray) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise DfadError(f"{name}: expected uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), got {arr.dtype} {arr.shape}")
    return arr


def _ellipse_alpha(cx: np.ndarray, cy: np.ndarray, rx: np.ndarray, ry: np.ndarray, feather: float) -> np.ndarray:
    """Soft ellipse masks (N, H, W) in [0, 1], full inside, fading over ``feather`` px outside."""
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    cx, cy, rx, ry = (np.asarray(x, dtype=np.float32).reshape(-1, 1, 1) for x in (cx, cy, rx, ry))
    # Approximate distance outside the ellipse in pixels (exact on the axes).
    rho = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    dist = (rho - 1.0) * np.minimum(rx, ry)
    return np.clip(1.0 - dist / feather, 0.0, 1.0)


def inner_face_mask(n: int, rng: np.random.Generator | None = None, scale: float = 1.0) -> np.ndarray:
    """Soft inner-face masks (n, 64, 64); with ``rng``, each is scaled by a random factor in
    :data:`MASK_SCALE_RANGE`, otherwise by ``scale``."""
    cx, cy, rx, ry, feather = INNER_FACE_ELLIPSE
    scales = rng.uniform(*MASK_SCALE_RANGE, n) if rng is not None else np.full(n, scale)
    return _ellipse_alpha(np.full(n, cx), np.full(n, cy), rx * scales, ry * scales, feather)


def eye_mask(n: int, eye_centres: np.ndarray | None = None) -> np.ndarray:
    """Soft eye-region masks (n, 64, 64): union of two ellipses around the given eye centres
    ((n, 2, 2) pixel (x, y) for the two eyes), or the canonical eye band when None."""
    if eye_centres is None:
        yc, hh, xc, hw, feather = EYE_BAND
        return _ellipse_alpha(np.full(n, xc), np.full(n, yc), np.full(n, hw), np.full(n, hh), feather)
    centres = np.asarray(eye_centres, dtype=np.float32)
    if centres.shape != (n, 2, 2):
        raise DfadError(f"eye_mask: eye_centres must have shape ({n}, 2, 2), got {centres.shape}")
    rx, ry, feather = EYE_ELLIPSE
    masks = [_ellipse_alpha(centres[:, k, 0], centres[:, k, 1], np.full(n, rx), np.full(n, ry), feather) for k in (0, 1)]
    return np.maximum(masks[0], masks[1])


def _blend(base: np.ndarray, patch: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = base.astype(np.float32) + alpha[..., None] * (patch.astype(np.float32) - base.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def colour_transfer(source: np.ndarray, reference: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Match per-channel mean/std of ``source`` to ``reference`` inside ``weight`` (N, H, W).

    Reinhard-style statistics transfer in RGB, the colour correction of classic face-swap
    pipelines (it matches skin tone and lighting level, not detail).
    """
    src = source.astype(np.float32)
    ref = reference.astype(np.float32)
    w = weight[..., None].astype(np.float32)
    total = np.maximum(w.sum(axis=(1, 2), keepdims=True), 1e-6)
    mu_s = (src * w).sum(axis=(1, 2), keepdims=True) / total
    mu_r = (ref * w).sum(axis=(1, 2), keepdims=True) / total
    sd_s = np.sqrt((((src - mu_s) ** 2) * w).sum(axis=(1, 2), keepdims=True) / total) + 1.0
    sd_r = np.sqrt((((ref - mu_r) ** 2) * w).sum(axis=(1, 2), keepdims=True) / total) + 1.0
    return np.clip((src - mu_s) * (sd_r / sd_s) + mu_r, 0.0, 255.0)


def face_swap(targets: np.ndarray, donors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paste each donor's inner face onto the matching target (both uint8 (N, 64, 64, 3)).

    The donor's inner face is colour-matched to the target inside the mask (mean/std per
    channel), then alpha-blended with a soft elliptical mask of random scale.
    """
    targets = _check_batch("face_swap targets", targets)
    donors = _check_batch("face_swap donors", donors)
    if len(targets) != len(donors):
        raise DfadError(f"face_swap: {len(targets)} targets but {len(donors)} donors")
    alpha = inner_face_mask(len(targets), rng)
    matched = colour_transfer(donors, targets, (alpha > 0.5).astype(np.float32))
    return _blend(targets, matched, alpha)


def eye_edit(
    images: np.ndarray,
    sdedit_fn: SdeditFn,
    rng: np.random.Generator,
    eye_centres: np.ndarray | None = None,
    strength_range: tuple[float, float] = (0.35, 0.6),
) -> np.ndarray:
    """Regenerate the eye region of each image with SDEdit and blend only that region back.

    ``sdedit_fn(images, strength, seed)`` noises the images to ``strength`` and denoises them
    (mini-ddpm's ``sdedit``). One strength (uniform in ``strength_range``) and one seed are
    drawn from ``rng`` per call; callers that want varied strengths call it on chunks.
    """
    images = _check_batch("eye_edit images", images)
    strength = float(rng.uniform(*strength_range))
    seed = int(rng.integers(0, 2**31 - 1))
    regenerated = _check_batch("eye_edit sdedit output", np.asarray(sdedit_fn(images, strength, seed)))
    if len(regenerated) != len(images):
        raise DfadError(f"eye_edit: sdedit returned {len(regenerated)} images for {len(images)} inputs")
    return _blend(images, regenerated, eye_mask(len(images), eye_centres))
