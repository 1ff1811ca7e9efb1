"""DFAD-Mini pristine-face renderer: procedural cartoon faces with explicit 3D gaze.

Every face is an identity (:class:`IdentityParams`: face shape, skin, hair, brows, eyes,
nose, mouth, glasses, beard) seen in a scene (:class:`SceneParams`: head pose, where the
eyes fixate, expression, lighting, background, camera). Rendering is numpy, vectorised over
pixels, at ``SUPERSAMPLE`` x the output size and area-downsampled:

* the head is a rotated ellipsoid ray-cast per pixel (orthographic camera); skin, hair,
  brows, mouth and beard are painted in head-local surface coordinates, so they move with
  the head pose in 3D; the nose tip and ears are 3D points projected to the image (parallax);
* each eye is a sphere behind an almond-shaped lid opening. Iris and pupil are spherical caps
  centred on ``eyeball centre + radius * gaze direction``, so their image position follows from
  projecting the 3D gaze; both eyes fixate one 3D target (small vergence); the upper lid
  follows the eye's pitch; a corneal glint follows the light;
* directional Lambert lighting, random smooth backgrounds, then a camera pipeline
  (Gaussian blur, sensor noise, JPEG round trip at a random quality).

Ground truth per image (head pose, per-eye and mean gaze in the project's ETH-XGaze
convention, landmarks, all scene parameters) goes into :attr:`RenderBatch.params`, with a
caption written from that ground truth by :func:`caption_for`.

Conventions: "left eye" is the subject's left eye (it appears on the image's right).
In captions, "left"/"right" are image directions (the viewer's left/right).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from dfad_mini.face_drawing import SUPERSAMPLE, render_face
from dfad_mini.face_params import (
    BACKGROUNDS,
    BEARDS,
    EYE_COLOURS,
    GLASSES,
    HAIR_COLOURS,
    HAIR_STYLES,
    SKIN_TONES,
    IdentityParams,
    SceneParams,
    sample_identities,
    sample_scene,
    stable_rng,
)

__all__ = [
    "BACKGROUNDS", "BEARDS", "EYE_COLOURS", "GLASSES", "HAIR_COLOURS", "HAIR_STYLES", "RENDERER_VERSION",
    "SKIN_TONES", "SUPERSAMPLE", "IdentityParams", "RenderBatch", "SceneParams", "caption_for", "render_face",
    "render_faces", "render_training_set", "sample_identities", "sample_scene",
]

#: Bump when a change alters rendered pixels or ground truth (cached benchmarks are rebuilt).
RENDERER_VERSION = "1"


@dataclass(frozen=True)
class RenderBatch:
    """Rendered images and their ground truth, row i describing image i."""

    images: np.ndarray  # uint8 (N, size, size, 3)
    params: pd.DataFrame  # one row per image


# ----------------------------------------------------------------------------- batches

_IDENTITY_COLUMNS = ("sex", "age_group", "skin_tone", "hair_style", "hair_colour", "eye_colour", "glasses", "beard")
_SCENE_COLUMNS = (
    "eye_pitch", "eye_yaw", "fixation_distance", "light_pitch", "light_yaw", "ambient", "exposure",
    "background", "smile", "mouth_open", "brow_raise", "blur_sigma", "noise_sigma", "jpeg_quality",
)


def _row(identity: IdentityParams, scene: SceneParams, record: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"identity": identity.identity}
    row.update({k: getattr(identity, k) for k in _IDENTITY_COLUMNS})
    row.update(record)
    row.update({k: getattr(scene, k) for k in _SCENE_COLUMNS})
    row["caption"] = caption_for(row)
    return row


def render_faces(
    identities: Sequence[IdentityParams],
    n_per_identity: int,
    seed: int,
    size: int = 64,
    scene_overrides: Mapping[str, Any] | None = None,
) -> RenderBatch:
    """Render ``n_per_identity`` random views of each identity (identity-major order).

    Each image's scene comes from an RNG keyed by ``(seed, identity id, view index)``, so an
    image does not change when other identities are added or removed. ``scene_overrides``
    fixes scene fields (e.g. ``{"eye_yaw": 0.4, "head_yaw": 0.0}``) for controlled renders.
    """
    if size % 2 or size < 16:
        raise ValueError(f"render_faces: size must be an even number >= 16, got {size}")
    images = np.empty((len(identities) * n_per_identity, size, size, 3), dtype=np.uint8)
    rows: list[dict[str, Any]] = []
    for idn in identities:
        for k in range(n_per_identity):
            scene = sample_scene(stable_rng(seed, idn.identity, "view", k))
            if scene_overrides:
                scene = replace(scene, **scene_overrides)
            img, record = render_face(idn, scene, size)
            images[len(rows)] = img
            rows.append(_row(idn, scene, record))
    return RenderBatch(images=images, params=pd.DataFrame(rows))


def render_training_set(n: int, seed: int = 1000, images_per_identity: int = 4) -> RenderBatch:
    """``n`` renders of the TRAINING identity pool (ids ``train-id-*``), for training the mini
    generators, clip-mini and gaze-mini. The pool's prefix is part of every RNG key, so it
    never coincides with the benchmark's ``mini-id-*`` identities."""
    n_ids = max(1, math.ceil(n / images_per_identity))
    batch = render_faces(sample_identities(n_ids, seed, prefix="train-id"), images_per_identity, seed=seed)
    return RenderBatch(images=batch.images[:n], params=batch.params.iloc[:n].reset_index(drop=True))


# ----------------------------------------------------------------------------- captions

_TURN = 0.15


def _direction(pitch: float, yaw: float) -> str:
    """Image-space words for a (pitch, yaw): yaw > 0 points to the image's left."""
    vert = "up" if pitch > _TURN else "down" if pitch < -_TURN else ""
    horiz = "to the left" if yaw > _TURN else "to the right" if yaw < -_TURN else ""
    if vert and horiz:
        return f"{vert} and {horiz}"
    return vert or horiz


def caption_for(row: Mapping[str, Any] | pd.Series) -> str:
    """Caption from ground-truth parameters, e.g. "a photo of a young woman with dark skin,
    short black hair, brown eyes, round glasses, looking up and to the left, head turned right".
    Directions are image directions (the viewer's left/right)."""
    parts = []
    hair_style, hair_colour = row["hair_style"], row["hair_colour"]
    if hair_style == "bald":
        parts.append("a bald head")
    else:
        word = {"bob": "bob-cut", "bun": "tied-back"}.get(hair_style, hair_style)
        parts.append(f"{word} {hair_colour} hair")
    parts.append(f"{row['eye_colour']} eyes")
    if row.get("beard", "none") == "full beard":
        parts.append("a full beard")
    elif row.get("beard", "none") == "stubble":
        parts.append("stubble")
    if row.get("glasses", "none") != "none":
        parts.append(f"{row['glasses']} glasses")
    gaze = _direction(float(row["gaze_pitch"]), float(row["gaze_yaw"]))
    parts.append(f"looking {gaze}" if gaze else "looking at the camera")
    hp, hy = float(row["head_pitch"]), float(row["head_yaw"])
    turn = "left" if hy > _TURN else "right" if hy < -_TURN else ""
    tilt = "up" if hp > _TURN else "down" if hp < -_TURN else ""
    if turn and tilt:
        parts.append(f"head turned {turn} and tilted {tilt}")
    elif turn or tilt:
        parts.append(f"head turned {turn}" if turn else f"head tilted {tilt}")
    else:
        parts.append("head facing the camera")
    article = "an" if row["age_group"] == "older" else "a"
    return f"a photo of {article} {row['age_group']} {row['sex']} with {row['skin_tone']} skin, " + ", ".join(parts)
