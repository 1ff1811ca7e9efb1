"""DFAD-Mini face parameters: who is drawn (:class:`IdentityParams`) and how (:class:`SceneParams`),
with their random samplers. Pure parameter logic; the pixels are made by :mod:`face_drawing`."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dfad_mini.face_geometry import head_rotation, vector_to_pitchyaw

RGB = tuple[float, float, float]

SKIN_TONES: dict[str, RGB] = {
    "pale": (0.93, 0.81, 0.73),
    "light": (0.88, 0.71, 0.59),
    "medium": (0.78, 0.59, 0.44),
    "tan": (0.67, 0.48, 0.33),
    "brown": (0.52, 0.35, 0.23),
    "dark": (0.36, 0.24, 0.16),
}
HAIR_COLOURS: dict[str, RGB] = {
    "black": (0.09, 0.08, 0.08),
    "dark brown": (0.23, 0.15, 0.10),
    "brown": (0.43, 0.28, 0.16),
    "blonde": (0.84, 0.70, 0.43),
    "red": (0.62, 0.27, 0.13),
    "grey": (0.58, 0.58, 0.58),
    "white": (0.88, 0.88, 0.86),
}
EYE_COLOURS: dict[str, RGB] = {
    "brown": (0.42, 0.25, 0.12),
    "dark brown": (0.22, 0.13, 0.07),
    "blue": (0.25, 0.47, 0.78),
    "green": (0.28, 0.55, 0.30),
    "hazel": (0.52, 0.43, 0.22),
    "grey": (0.48, 0.53, 0.58),
}
#: hair style -> (volume factor of the hair shell, hairline height at the centre and at the
#: temples (in face half-heights, negative = up), how far down the back/sides hair reaches)
HAIR_STYLES: dict[str, tuple[float, float, float, float]] = {
    "short": (1.07, -0.52, -0.10, 0.15),
    "buzz-cut": (1.02, -0.58, -0.20, 0.05),
    "long": (1.08, -0.50, -0.05, 0.95),
    "bob": (1.12, -0.30, 0.10, 0.45),
    "curly": (1.24, -0.48, -0.05, 0.40),
    "bun": (1.05, -0.55, -0.15, 0.10),
    "bald": (1.0, -2.0, -2.0, -2.0),
}
GLASSES = ("none", "round", "square")
BEARDS = ("none", "stubble", "full beard")
BACKGROUNDS = ("solid", "linear gradient", "radial gradient", "blotches", "stripes")


@dataclass(frozen=True)
class IdentityParams:
    """Everything that makes one synthetic person look like themselves.

    Lengths are relative to the face half-width (``face_width``, canvas units where the
    image spans [-1, 1]); colours are linear-ish RGB in [0, 1].
    """

    identity: str
    sex: str  # "woman" | "man" (apparent, drives lashes, lips, beard odds)
    age_group: str  # "young" | "middle-aged" | "older"
    skin_tone: str
    skin_rgb: RGB
    hair_style: str
    hair_colour: str
    hair_rgb: RGB
    eye_colour: str
    iris_rgb: RGB
    glasses: str
    glasses_rgb: RGB
    beard: str
    lip_rgb: RGB
    clothing_rgb: RGB
    face_width: float
    face_aspect: float
    face_depth: float
    jaw_taper: float
    eye_spacing: float
    eye_height: float
    eye_radius: float
    eye_width: float
    upper_lid: float
    lower_lid: float
    brow_thickness: float
    brow_arch: float
    brow_gap: float
    nose_length: float
    nose_width: float
    mouth_width: float
    mouth_y: float
    lip_thickness: float
    ear_size: float
    blush: float


@dataclass(frozen=True)
class SceneParams:
    """One view of an identity: pose, fixation, expression, light, background, camera."""

    head_pitch: float
    head_yaw: float
    head_roll: float
    eye_pitch: float  # cyclopean gaze relative to the head (radians, same convention)
    eye_yaw: float
    fixation_distance: float  # canvas units from the eyes to the fixated 3D point
    centre_x: float
    centre_y: float
    scale: float
    light_pitch: float
    light_yaw: float
    ambient: float
    light_rgb: RGB
    exposure: float
    background: str
    bg_rgb1: RGB
    bg_rgb2: RGB
    bg_angle: float
    bg_seed: int
    smile: float
    mouth_open: float
    brow_raise: float
    blur_sigma: float  # output pixels
    noise_sigma: float  # 8-bit levels
    jpeg_quality: int


# ----------------------------------------------------------------------------- sampling


def stable_rng(seed: int, *tags: str | int) -> np.random.Generator:
    """RNG keyed by a seed and tags (stable across runs/platforms, unlike ``hash``)."""
    words = [int(seed) & 0xFFFFFFFF]
    for tag in tags:
        words.append(zlib.crc32(tag.encode()) if isinstance(tag, str) else int(tag) & 0xFFFFFFFF)
    return np.random.default_rng(words)


def _jitter(rng: np.random.Generator, rgb: RGB, amount: float) -> RGB:
    arr = np.clip(np.asarray(rgb) * (1.0 + rng.normal(0.0, amount, 3)) + rng.normal(0.0, amount / 3), 0, 1)
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _choice(rng: np.random.Generator, options: Sequence[str], p: Sequence[float] | None = None) -> str:
    return str(options[int(rng.choice(len(options), p=p))])


def _sample_identity(rng: np.random.Generator, identity: str) -> IdentityParams:
    sex = _choice(rng, ["woman", "man"])
    age = _choice(rng, ["young", "middle-aged", "older"], [0.45, 0.35, 0.20])
    skin = _choice(rng, list(SKIN_TONES))
    if age == "older" and rng.random() < 0.6:
        hair_colour = _choice(rng, ["grey", "white"])
    else:
        hair_colour = _choice(rng, list(HAIR_COLOURS)[:5], [0.32, 0.26, 0.2, 0.14, 0.08])
    if sex == "woman":
        style = _choice(rng, ["long", "bob", "curly", "bun", "short"], [0.38, 0.2, 0.16, 0.16, 0.1])
        beard = "none"
    else:
        bald_p = 0.35 if age == "older" else 0.08
        style = _choice(
            rng, ["short", "buzz-cut", "curly", "long", "bald"],
            [0.56 - bald_p, 0.22, 0.14, 0.08, bald_p],
        )
        beard = _choice(rng, list(BEARDS), [0.6, 0.2, 0.2])
    glasses = _choice(rng, list(GLASSES), [0.5, 0.25, 0.25] if age == "older" else [0.72, 0.14, 0.14])
    eye = _choice(rng, list(EYE_COLOURS), [0.3, 0.22, 0.18, 0.12, 0.1, 0.08])
    skin_rgb = _jitter(rng, SKIN_TONES[skin], 0.04)
    lip = np.asarray(skin_rgb) * np.array([0.82, 0.55, 0.56])
    if sex == "woman" and rng.random() < 0.5:
        lip = 0.6 * lip + 0.4 * np.array([0.72, 0.18, 0.24])  # lipstick
    lip_rgb = (float(lip[0]), float(lip[1]), float(lip[2]))
    u = rng.uniform
    return IdentityParams(
        identity=identity,
        sex=sex,
        age_group=age,
        skin_tone=skin,
        skin_rgb=skin_rgb,
        hair_style=style,
        hair_colour=hair_colour,
        hair_rgb=_jitter(rng, HAIR_COLOURS[hair_colour], 0.06),
        eye_colour=eye,
        iris_rgb=_jitter(rng, EYE_COLOURS[eye], 0.06),
        glasses=glasses,
        glasses_rgb=_jitter(rng, [(0.08, 0.08, 0.08), (0.45, 0.25, 0.1), (0.6, 0.6, 0.65)][int(rng.integers(3))], 0.1),
        beard=beard,
        lip_rgb=lip_rgb,
        clothing_rgb=(float(u(0.05, 0.9)), float(u(0.05, 0.9)), float(u(0.05, 0.9))),
        face_width=float(u(0.5, 0.58)),
        face_aspect=float(u(1.18, 1.35)),
        face_depth=float(u(1.0, 1.15)),
        jaw_taper=float(u(0.0, 0.35)),
        eye_spacing=float(u(0.36, 0.44)),
        eye_height=float(u(0.02, 0.10)),
        eye_radius=float(u(0.24, 0.28)),
        eye_width=float(u(0.85, 0.95)),
        upper_lid=float(u(0.55, 0.8)),
        lower_lid=float(u(0.4, 0.55)),
        brow_thickness=float(u(0.05, 0.09) if sex == "man" else u(0.035, 0.06)),
        brow_arch=float(u(0.0, 0.08)),
        brow_gap=float(u(0.12, 0.2)),
        nose_length=float(u(0.18, 0.3)),
        nose_width=float(u(0.13, 0.19)),
        mouth_width=float(u(0.3, 0.42)),
        mouth_y=float(u(0.5, 0.6)),
        lip_thickness=float(u(0.05, 0.09)),
        ear_size=float(u(0.85, 1.15)),
        blush=float(u(0.0, 0.25) if sex == "woman" else u(0.0, 0.1)),
    )


def sample_identities(n: int, seed: int, prefix: str = "mini-id") -> list[IdentityParams]:
    """``n`` identities named ``f"{prefix}-{i:05d}"``; the prefix is part of the RNG key,
    so pools with different prefixes never share parameters even with the same seed."""
    if n < 0:
        raise ValueError(f"sample_identities: n must be >= 0, got {n}")
    return [_sample_identity(stable_rng(seed, prefix, "identity", i), f"{prefix}-{i:05d}") for i in range(n)]


def sample_scene(rng: np.random.Generator) -> SceneParams:
    """A random view: pose, fixation, expression, lighting, background and camera settings."""
    u = rng.uniform
    head_pitch, head_yaw = float(u(-0.3, 0.3)), float(u(-0.55, 0.55))
    head_roll = float(np.clip(rng.normal(0.0, 0.1), -0.25, 0.25))
    if rng.random() < 0.2:
        # Looking at the camera: the eyes counter-rotate the head (within their range).
        rot = head_rotation(head_pitch, head_yaw, head_roll)
        p, y = vector_to_pitchyaw(rot.T @ np.array([0.0, 0.0, -1.0]))
        eye_pitch, eye_yaw = float(np.clip(p, -0.35, 0.35)), float(np.clip(y, -0.5, 0.5))
    else:
        eye_pitch, eye_yaw = float(u(-0.35, 0.35)), float(u(-0.5, 0.5))
    bg = _choice(rng, list(BACKGROUNDS), [0.2, 0.25, 0.2, 0.2, 0.15])
    light_rgb = _jitter(rng, (1.0, 0.97, 0.92), 0.04)
    return SceneParams(
        head_pitch=head_pitch,
        head_yaw=head_yaw,
        head_roll=head_roll,
        eye_pitch=eye_pitch,
        eye_yaw=eye_yaw,
        fixation_distance=float(u(3.0, 8.0)),
        centre_x=float(u(-0.04, 0.04)),
        centre_y=float(u(-0.07, 0.01)),
        scale=float(u(0.94, 1.06)),
        light_pitch=float(u(-0.1, 0.8)),
        light_yaw=float(u(-0.9, 0.9)),
        ambient=float(u(0.45, 0.7)),
        light_rgb=light_rgb,
        exposure=float(u(0.9, 1.12)),
        background=bg,
        bg_rgb1=(float(u(0.05, 0.95)), float(u(0.05, 0.95)), float(u(0.05, 0.95))),
        bg_rgb2=(float(u(0.05, 0.95)), float(u(0.05, 0.95)), float(u(0.05, 0.95))),
        bg_angle=float(u(0.0, 2 * math.pi)),
        bg_seed=int(rng.integers(0, 2**31 - 1)),
        smile=float(u(-0.3, 1.0)),
        mouth_open=0.0 if rng.random() < 0.7 else float(u(0.2, 1.0)),
        brow_raise=float(u(-0.5, 1.0)),
        blur_sigma=float(u(0.0, 0.7)),
        noise_sigma=float(u(0.5, 4.0)),
        jpeg_quality=int(rng.integers(70, 96)),
    )
