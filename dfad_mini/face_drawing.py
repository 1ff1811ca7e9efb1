"""DFAD-Mini face drawing: turns (identity, scene) into pixels and ground-truth landmarks.

numpy only, vectorised over pixels; small features are computed inside windows around their
projected position. See :mod:`dfad_mini.renderer` for the model of the face.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from dfad_mini.face_geometry import (
    dot3,
    ellipsoid_normal_camera,
    head_rotation,
    pitchyaw_to_vector,
    raycast_ellipsoid,
    surface_z,
    vector_to_pitchyaw,
)
from dfad_mini.face_params import BACKGROUNDS, HAIR_STYLES, RGB, IdentityParams, SceneParams

#: Internal render size = output size x SUPERSAMPLE, area-downsampled (anti-aliasing).
SUPERSAMPLE = 2

# ----------------------------------------------------------------------------- drawing
# Pixel arrays are float32 and channel-first ((3, H, W) images, (3, H, W) head-local points):
# numpy broadcasts far faster over a long last axis than over a trailing axis of 3.

F32 = np.float32


def _soft(sd: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage of a region given a signed distance (negative inside)."""
    return np.minimum(np.maximum(0.5 - sd * (1.0 / px), 0.0), 1.0)  # np.clip has more call overhead


def _col(colour: Any) -> np.ndarray:
    arr = np.asarray(colour, dtype=F32)
    return arr.reshape(3, 1, 1) if arr.ndim == 1 else arr


def _paint(img: np.ndarray, colour: Any, alpha: np.ndarray) -> None:
    """In-place alpha blend of ``colour`` ((3,) or (3, H, W)) over ``img`` (3, H, W)."""
    img += alpha * (_col(colour) - img)


def _w(arr: np.ndarray, win: tuple[slice, slice]) -> np.ndarray:
    """A window (view) of a channel-first array."""
    return arr[:, win[0], win[1]]


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(size, dtype=F32) + 0.5) / size) * 2.0 - 1.0
    v, u = np.meshgrid(c, c, indexing="ij")
    u.setflags(write=False)
    v.setflags(write=False)
    return u, v


def _window(x: float, y: float, rx: float, ry: float, big: int) -> tuple[slice, slice] | None:
    """Pixel window (rows, cols) of the supersampled canvas covering a canvas-space box."""
    j0, j1 = int((x - rx + 1.0) * big / 2.0), int(math.ceil((x + rx + 1.0) * big / 2.0)) + 1
    i0, i1 = int((y - ry + 1.0) * big / 2.0), int(math.ceil((y + ry + 1.0) * big / 2.0)) + 1
    i0, i1, j0, j1 = max(i0, 0), min(i1, big), max(j0, 0), min(j1, big)
    if i0 >= i1 or j0 >= j1:
        return None
    return slice(i0, i1), slice(j0, j1)


def _muted(rgb: RGB, amount: float) -> np.ndarray:
    arr = np.asarray(rgb, dtype=F32).reshape(3, 1, 1)
    return arr + F32(amount) * (F32(0.5) - arr)


def _background(scene: SceneParams, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    c1 = _muted(scene.bg_rgb1, 0.35)
    c2 = _muted(scene.bg_rgb2, 0.35)
    kind = scene.background
    ca, sa = F32(math.cos(scene.bg_angle)), F32(math.sin(scene.bg_angle))
    if kind == "solid":
        return np.broadcast_to(c1, (3,) + u.shape).copy()
    if kind == "linear gradient":
        t = np.clip(0.5 + 0.5 * (u * ca + v * sa), 0, 1)
    elif kind == "radial gradient":
        t = np.clip(np.sqrt((u - 0.6 * ca) ** 2 + (v - 0.6 * sa) ** 2) * F32(0.5), 0, 1)
    elif kind == "blotches":
        small = np.random.default_rng(scene.bg_seed).random((5, 5)).astype(F32)
        big = Image.fromarray(small, mode="F").resize(u.shape[::-1], Image.Resampling.BICUBIC)
        t = np.clip(np.asarray(big), 0, 1)
    elif kind == "stripes":
        t = 0.5 + 0.5 * np.sin((u * ca + v * sa) * F32(6.0 + 4.0 * (scene.bg_seed % 5)))
    else:
        raise ValueError(f"unknown background kind {kind!r}; expected one of {BACKGROUNDS}")
    return c1 + t * (c2 - c1)


def _hair_region(q: np.ndarray, radii: np.ndarray, style: str, px: float) -> np.ndarray:
    """Soft hair coverage at head-local points (3, ...) on a (possibly enlarged) head shell."""
    _, top, side, reach = HAIR_STYLES[style]
    ra, rb, rc = (float(r) for r in radii)
    xn, yn, zn = q[0] * (1.0 / ra), q[1] * (1.0 / rb), q[2] * (1.0 / rc)
    hairline = top + (side - top) * xn * xn
    if style in ("bob", "curly"):
        hairline = hairline + F32(0.03) * np.sin(xn * F32(23.0))  # a fringe with strands
    cap = _soft((yn - hairline) * rb, px)
    back = np.minimum(_soft((yn - reach) * rb, px), _soft((-0.25 - zn) * rc, px))
    cover = np.maximum(cap, back)
    if style in ("long", "bob", "curly"):
        sides = np.minimum(_soft((0.8 - np.abs(xn)) * ra, px), _soft((yn - reach) * rb, px))
        cover = np.maximum(cover, sides)
    return cover


def _hair_texture(q: np.ndarray, style: str) -> np.ndarray:
    """Multiplicative strand/curl texture so hair is not a flat colour."""
    if style == "curly":
        return 0.84 + 0.16 * np.sin(q[0] * F32(60.0)) * np.sin(q[1] * F32(60.0))
    return 0.92 + 0.08 * np.sin(q[0] * F32(70.0) + F32(8.0) * q[1])


class _Face:
    """Per-render geometry shared by the drawing steps (plain floats; float32 pixel arrays)."""

    def __init__(self, identity: IdentityParams, scene: SceneParams, size: int) -> None:
        self.idn, self.scene, self.size = identity, scene, size
        self.big = size * SUPERSAMPLE
        self.px = 2.0 / self.big
        self.u, self.v = _grid(self.big)
        self.a = identity.face_width * scene.scale
        self.b = self.a * identity.face_aspect
        self.c = self.a * identity.face_depth
        self.radii = np.array([self.a, self.b, self.c], dtype=F32)
        self.centre = np.array([scene.centre_x, scene.centre_y, 0.0])
        self.rot = head_rotation(scene.head_pitch, scene.head_yaw, scene.head_roll)
        self.light = pitchyaw_to_vector(scene.light_pitch, scene.light_yaw).astype(F32)
        self.flat_shade = scene.ambient + (1.0 - scene.ambient) * 0.55
        self.skin = np.asarray(identity.skin_rgb, dtype=F32)
        self.hair = np.asarray(identity.hair_rgb, dtype=F32)
        self.ex = identity.eye_spacing * self.a
        self.ey = -identity.eye_height * self.b
        self.r_eye = identity.eye_radius * self.a

    def project(self, local: Sequence[float]) -> np.ndarray:
        """Head-local 3D point -> camera coordinates (x, y are canvas coordinates)."""
        return self.centre + self.rot @ np.asarray(local, dtype=np.float64)

    def surface_point(self, x: float, y: float, lift: float = 0.0) -> np.ndarray:
        """Head-local point on the face surface above (x, y), ``lift`` towards the camera."""
        return np.array([x, y, surface_z(x, y, (self.a, self.b, self.c)) - lift])

    def window_at(self, local: Sequence[float], rx: float, ry: float | None = None) -> tuple[slice, slice] | None:
        p = self.project(local)
        return _window(float(p[0]), float(p[1]), rx, rx if ry is None else ry, self.big)

    def shade(self, q: np.ndarray, radii: np.ndarray) -> np.ndarray:
        n = ellipsoid_normal_camera(q, self.rot, radii)
        return self.scene.ambient + (1.0 - self.scene.ambient) * np.clip(dot3(n, self.light), 0.0, 1.0)


def _draw_body(f: _Face, img: np.ndarray) -> None:
    """Shoulders, long hair hanging behind, neck and ears: 2D layers behind the head."""
    u, v, px, a, b, idn = f.u, f.v, f.px, f.a, f.b, f.idn
    head = f.project((0.0, 0.0, 0.0))
    sh_cx = float(head[0]) + 0.15 * math.sin(f.scene.head_yaw)
    win = _window(sh_cx, 1.0, 1.5, 0.2 + 2 * px, f.big)
    if win is not None:
        sd = ((u[win] - sh_cx) * F32(1 / 1.5)) ** 2 + ((v[win] - 1.36) * F32(1 / 0.55)) ** 2 - 1.0
        _paint(_w(img, win), np.asarray(idn.clothing_rgb, dtype=F32) * F32(f.flat_shade), _soft(sd, px * 2.0))
    if idn.hair_style in ("long", "curly"):
        width = a * (1.12 if idn.hair_style == "long" else 1.3)
        hy0 = float(head[1])
        bottom = 1.05 if idn.hair_style == "long" else b * 1.05 + hy0
        win = _window(float(head[0]), (hy0 + bottom) / 2, width, (bottom - hy0) / 2 + b, f.big)
        if win is not None:
            wu, wv = u[win], v[win]
            ny = np.where(wv < hy0, (wv - hy0) * (1.0 / b), (wv - hy0) * (1.0 / max(bottom - hy0, 1e-3)))
            sd = np.sqrt(np.sqrt(((wu - float(head[0])) * (1.0 / width)) ** 4 + ny**4)) - 1.0
            _paint(_w(img, win), f.hair * F32(0.7 * f.flat_shade), _soft(sd * width, px * 2.0))
    chin = f.project((0.0, 0.7 * b, 0.25 * f.c))
    win = _window(float(chin[0]), (float(chin[1]) + 1.0) / 2, 0.42 * a + 2 * px, (1.0 - float(chin[1])) / 2, f.big)
    if win is not None:
        neck = np.minimum(_soft(np.abs(u[win] - float(chin[0])) - 0.42 * a, px), _soft(float(chin[1]) - v[win], px))
        _paint(_w(img, win), f.skin * F32(0.78 * f.flat_shade), neck)
    er = (0.17 * a * idn.ear_size, 0.3 * a * idn.ear_size)
    for side in (-1.0, 1.0):
        local = (side * 0.97 * a, 0.05 * b, 0.12 * f.c)
        win = f.window_at(local, er[0] + 2 * px, er[1] + 2 * px)
        if win is None:
            continue
        ear = f.project(local)
        sd = np.sqrt(((u[win] - float(ear[0])) * (1 / er[0])) ** 2 + ((v[win] - float(ear[1])) * (1 / er[1])) ** 2) - 1.0
        _paint(_w(img, win), f.skin * F32(0.88 * f.flat_shade), _soft(sd * er[0], px))


def _draw_hair_volume(f: _Face, img: np.ndarray) -> None:
    """The hair shell: an enlarged head ellipsoid painted before (behind) the face."""
    idn = f.idn
    if idn.hair_style == "bald":
        return
    vol = HAIR_STYLES[idn.hair_style][0]
    shell = f.radii * np.array([vol, vol * 0.98 + 0.02, vol], dtype=F32)
    if idn.hair_style == "bun":
        local = (0.0, -1.02 * f.b, 0.35 * f.c)
        win = f.window_at(local, 0.4 * f.a)
        if win is not None:
            bun = f.project(local)
            sd = np.sqrt((f.u[win] - float(bun[0])) ** 2 + (f.v[win] - float(bun[1])) ** 2) - 0.36 * f.a
            _paint(_w(img, win), f.hair * F32(0.8 * f.flat_shade), _soft(sd, f.px))
    ext = float(shell.max()) + 2 * f.px
    win = _window(float(f.centre[0]), float(f.centre[1]), ext, ext, f.big)
    if win is None:
        return
    hit, q = raycast_ellipsoid(f.u[win], f.v[win], f.centre, f.rot, shell)
    cover = hit * _hair_region(q, shell, idn.hair_style, f.px)
    _paint(_w(img, win), f.hair[:, None, None] * (f.shade(q, shell) * _hair_texture(q, idn.hair_style)), cover)


def _draw_face_albedo(f: _Face, q: np.ndarray, alb: np.ndarray, hwin: tuple[slice, slice]) -> None:
    """Skin details, beard, hair, brows and mouth painted in head-local surface coordinates."""
    idn, scene, px, a, b = f.idn, f.scene, f.px, f.a, f.b
    if idn.blush > 0:
        for side in (-1.0, 1.0):
            win = f.window_at(f.surface_point(side * 0.55 * a, 0.3 * b), 0.45 * a)
            if win is not None:
                wq = _w(q, win)
                cheek = np.exp(-(((wq[0] - side * 0.55 * a) * (1 / (0.2 * a))) ** 2
                                 + ((wq[1] - 0.3 * b) * (1 / (0.15 * b))) ** 2))
                _paint(_w(alb, win), (0.85, 0.35, 0.35), F32(idn.blush) * cheek)
    if idn.age_group == "older":
        win = f.window_at(f.surface_point(0.0, -0.37 * b), 0.5 * a, 0.2 * b)
        if win is not None:
            wq = _w(q, win)
            for k in (0.0, 1.0):
                line = np.abs(wq[1] - (-0.40 + 0.07 * k) * b - (0.05 * b / a**2) * wq[0] ** 2) - 0.008 * a
                _paint(_w(alb, win), f.skin * F32(0.78), 0.6 * _soft(line, px) * _soft(np.abs(wq[0]) - 0.35 * a, px))
    if idn.beard != "none":
        # Lower face (before the mouth so lips stay visible).
        win = f.window_at(f.surface_point(0.0, 0.6 * b), 1.05 * a, 0.55 * b)
        if win is not None:
            wq = _w(q, win)
            start = 0.18 if idn.beard == "full beard" else 0.3
            beard = _soft((start - wq[1] * (1 / b)) * b, px * 3)
            strength = 0.95 if idn.beard == "full beard" else 0.35
            _paint(_w(alb, win), f.hair[:, None, None] * _hair_texture(wq, "curly"), F32(strength) * beard)
    if idn.hair_style != "bald":
        hq = _w(q, hwin)
        hair = _hair_region(hq, f.radii, idn.hair_style, px)
        if idn.hair_style == "buzz-cut":
            hair = hair * F32(0.75)
        _paint(_w(alb, hwin), f.hair[:, None, None] * _hair_texture(hq, idn.hair_style), hair)
    # Brows.
    bw = 1.15 * f.r_eye
    y_brow0 = f.ey - idn.upper_lid * f.r_eye - idn.brow_gap * a - scene.brow_raise * 0.04 * a
    arch = idn.brow_arch * a + 0.03 * a
    for side in (-1.0, 1.0):
        win = f.window_at(f.surface_point(side * f.ex, y_brow0 - arch), bw + 2 * px, arch + 0.1 * a)
        if win is None:
            continue
        wq = _w(q, win)
        t = (wq[0] - side * f.ex) * (1 / bw)
        y_brow = y_brow0 - arch * (1.0 - t * t)
        thick = idn.brow_thickness * a * (1.0 - 0.35 * side * t)
        brow = np.minimum(_soft(np.abs(wq[1] - y_brow) - 0.5 * thick, px), _soft(np.abs(t) - 1.0, px / bw))
        _paint(_w(alb, win), f.hair * F32(0.75), F32(0.95) * brow)
    # Mouth: lips around a smile curve, optionally open.
    mw, my = idn.mouth_width * a, idn.mouth_y * b
    win = f.window_at(f.surface_point(0.0, my), mw + 3 * px, 0.25 * a)
    if win is None:
        return
    wq = _w(q, win)
    qx, qy = wq[0], wq[1]
    t = qx * (1 / mw)
    env = np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0))
    y_line = my - scene.smile * 0.07 * a * t * t + scene.smile * 0.02 * a
    gap = scene.mouth_open * 0.08 * a * env
    lip_t = idn.lip_thickness * a
    upper = _soft(np.maximum(y_line - gap * 0.5 - lip_t * env - qy, qy - y_line + gap * 0.5), px)
    lower = _soft(np.maximum(y_line + gap * 0.5 - qy, qy - y_line - gap * 0.5 - 1.2 * lip_t * env), px)
    w_alb = _w(alb, win)
    _paint(w_alb, idn.lip_rgb, np.minimum(upper + lower, 1.0))
    if scene.mouth_open > 0:
        opening = _soft(np.abs(qy - y_line) - gap * 0.5, px) * (np.abs(t) < 1.0)
        _paint(w_alb, (0.25, 0.07, 0.07), opening)
        teeth = opening * _soft(qy - (y_line - gap * 0.5 + 0.35 * gap), px)
        _paint(w_alb, (0.92, 0.9, 0.85), teeth)
    line = np.minimum(_soft(np.abs(qy - y_line) - 0.014 * a, px), _soft(np.abs(t) - 1.02, px / mw))
    _paint(w_alb, np.asarray(idn.lip_rgb, dtype=F32) * F32(0.4), F32(0.9) * line)


def _draw_nose(f: _Face, img: np.ndarray, face: np.ndarray) -> dict[str, float]:
    """Nose tip and nostrils are 3D points in front of the surface, so they shift with yaw."""
    idn, px, a, b = f.idn, f.px, f.a, f.b
    ny = 0.3 * b
    tip = f.project(f.surface_point(0.0, ny, idn.nose_length * a))
    bridge = f.project(f.surface_point(0.0, f.ey))
    nose_shade = f.scene.ambient + (1.0 - f.scene.ambient) * 0.6
    cx, cy = float(tip[0] + bridge[0]) / 2, float(tip[1] + bridge[1]) / 2
    half = 0.5 * math.hypot(float(tip[0] - bridge[0]), float(tip[1] - bridge[1])) + idn.nose_width * a + 3 * px
    win = _window(cx, cy, half, half, f.big)
    if win is not None:
        u, v, wface, w_img = f.u[win], f.v[win], face[win], _w(img, win)
        sx, sy = float(tip[0] - bridge[0]), float(tip[1] - bridge[1])
        s = np.clip(((u - float(bridge[0])) * sx + (v - float(bridge[1])) * sy) * (1.0 / (sx * sx + sy * sy + 1e-9)), 0, 1)
        dx, dy = u - (float(bridge[0]) + s * sx), v - (float(bridge[1]) + s * sy)
        ridge = _soft(np.sqrt(dx * dx + dy * dy) - idn.nose_width * a * (0.2 + 0.45 * s), px)
        lit_side = 1.0 if f.light[0] >= 0 else -1.0
        shadow = ridge * _soft(dx * lit_side, px) * wface * (0.6 * s)
        _paint(w_img, f.skin * F32(nose_shade * 0.75), shadow)
        tip_sd = np.sqrt((u - float(tip[0])) ** 2 + ((v - float(tip[1])) * (1 / 0.8)) ** 2) - idn.nose_width * a * 0.6
        _paint(w_img, f.skin * F32(nose_shade + 0.1), _soft(tip_sd, px) * wface * F32(0.6))
        for side in (-1.0, 1.0):
            nos = f.project(f.surface_point(side * 0.45 * idn.nose_width * a, ny + 0.05 * b, 0.4 * idn.nose_length * a))
            sd = np.sqrt(((u - float(nos[0])) * (1 / 1.4)) ** 2 + (v - float(nos[1])) ** 2) - 0.035 * a
            _paint(w_img, f.skin * F32(0.35), _soft(sd, px) * wface * F32(0.85))
    return {"nose_x": _to_px(float(tip[0]), f.size), "nose_y": _to_px(float(tip[1]), f.size)}


def _draw_eyes(f: _Face, img: np.ndarray, q: np.ndarray, face: np.ndarray) -> dict[str, float]:
    """Eyeball spheres behind lid openings; both eyes fixate one 3D target."""
    idn, scene, px, a = f.idn, f.scene, f.px, f.a
    r_eye = f.r_eye
    centres = {
        name: f.project(f.surface_point(side * f.ex, f.ey, -0.45 * r_eye))
        for name, side in (("left", 1.0), ("right", -1.0))
    }
    mid = 0.5 * (centres["left"] + centres["right"])
    target = mid + scene.fixation_distance * (f.rot @ pitchyaw_to_vector(scene.eye_pitch, scene.eye_yaw))
    cos_iris, cos_pupil = math.cos(0.6), math.cos(0.24)
    half_vec = f.light + np.array([0.0, 0.0, -1.0], dtype=F32)
    half_vec = half_vec / np.linalg.norm(half_vec)
    lash = 0.024 * a if idn.sex == "woman" else 0.016 * a
    lash_rgb = np.minimum(f.hair * F32(0.5), F32(0.12))
    sclera = np.array([0.95, 0.94, 0.92], dtype=F32).reshape(3, 1, 1)
    iris_base = np.asarray(idn.iris_rgb, dtype=F32).reshape(3, 1, 1)
    record: dict[str, float] = {}
    for name, side in (("left", 1.0), ("right", -1.0)):
        c_eye = centres[name]
        gaze = target - c_eye
        gaze = gaze / np.linalg.norm(gaze)
        gp, gy = vector_to_pitchyaw(gaze)
        record[f"gaze_{name}_pitch"], record[f"gaze_{name}_yaw"] = float(gp), float(gy)
        iris_c = c_eye + r_eye * gaze
        record[f"eye_{name}_x"], record[f"eye_{name}_y"] = _to_px(c_eye[0], f.size), _to_px(c_eye[1], f.size)
        record[f"iris_{name}_x"], record[f"iris_{name}_y"] = _to_px(iris_c[0], f.size), _to_px(iris_c[1], f.size)
        in_head_pitch = float(vector_to_pitchyaw(f.rot.T @ gaze)[0])
        win = _window(float(c_eye[0]), float(c_eye[1]), 1.5 * r_eye, 1.5 * r_eye, f.big)
        if win is None:
            continue
        wq, wu, wv, wface, w_img = _w(q, win), f.u[win], f.v[win], face[win], _w(img, win)
        t = (wq[0] - side * f.ex) * (1.0 / (idn.eye_width * r_eye))
        bump = np.clip(1.0 - t * t, 0.0, None)
        lid_up = f.ey - idn.upper_lid * r_eye * (1.0 + 0.7 * in_head_pitch) * bump**0.8
        lid_lo = f.ey + idn.lower_lid * r_eye * (1.0 - 0.3 * in_head_pitch) * bump**0.9
        opening = np.minimum(_soft(lid_up - wq[1], px), _soft(wq[1] - lid_lo, px)) * wface
        du, dv = wu - float(c_eye[0]), wv - float(c_eye[1])
        nz = -np.sqrt(np.maximum(r_eye * r_eye - du * du - dv * dv, (0.15 * r_eye) ** 2))
        inv = 1.0 / np.sqrt(du * du + dv * dv + nz * nz)
        n = np.stack([du * inv, dv * inv, nz * inv])
        cosg = dot3(n, gaze)
        lid_shadow = 1.0 - 0.35 * np.exp(-np.maximum(wq[1] - lid_up, 0.0) * (1.0 / (0.3 * r_eye)))
        eye_light = (0.8 + 0.2 * np.clip(dot3(n, f.light), 0, 1)) * lid_shadow
        aa = px / r_eye
        theta_frac = np.arccos(np.clip(cosg, -1.0, 1.0)) * (1.0 / 0.6)
        ring = 1.0 - 0.55 * np.clip((theta_frac - 0.8) * 5.0, 0.0, 1.0)
        iris_rgb = iris_base * ((0.65 + 0.55 * np.clip(theta_frac, 0, 1)) * ring)
        eye_rgb = np.broadcast_to(sclera, (3,) + wu.shape).copy()
        _paint(eye_rgb, iris_rgb, np.clip((cosg - cos_iris) * (1.0 / (0.6 * aa)) + 0.5, 0, 1))
        _paint(eye_rgb, (0.03, 0.03, 0.03), np.clip((cosg - cos_pupil) * (1.0 / (0.35 * aa)) + 0.5, 0, 1))
        eye_rgb *= eye_light
        glint = np.clip((dot3(n, half_vec) - math.cos(0.17)) * 50.0, 0.0, 1.0)
        _paint(eye_rgb, (1.0, 1.0, 1.0), F32(0.9) * glint)
        _paint(w_img, eye_rgb, opening)
        # Upper lid line with lashes, faint lower lid line.
        lid_line = _soft(np.abs(wq[1] - (lid_up - lash * 0.5)) - lash, px) * (np.abs(t) < 1.08)
        _paint(w_img, lash_rgb, lid_line * wface)
        low_line = _soft(np.abs(wq[1] - lid_lo) - 0.006 * a, px) * (np.abs(t) < 0.95)
        _paint(w_img, f.skin * F32(0.6 * f.flat_shade), F32(0.5) * low_line * wface)
    return record


def _draw_glasses(f: _Face, img: np.ndarray, q: np.ndarray, face: np.ndarray) -> None:
    """Frames painted on the face surface, unshaded (they are not skin)."""
    idn, px, a = f.idn, f.px, f.a
    if idn.glasses == "none":
        return
    rim_r = 1.45 * f.r_eye
    th = 0.028 * a
    win = f.window_at(f.surface_point(0.0, f.ey), 1.05 * a, rim_r * 1.3)
    if win is None:
        return
    wq = _w(q, win)
    qx, qy = wq[0], wq[1]
    frame = np.zeros(qx.shape, dtype=F32)
    for side in (-1.0, 1.0):
        ddx, ddy = qx - side * f.ex, qy - f.ey - 0.1 * f.r_eye
        if idn.glasses == "round":
            rho = np.sqrt(ddx * ddx + ddy * ddy)
        else:
            rho = np.sqrt(np.sqrt(ddx**4 + (ddy * (1 / 0.78)) ** 4))
        frame = np.maximum(frame, _soft(np.abs(rho - rim_r) - th, px))
    bridge = np.minimum(_soft(np.abs(qy - f.ey + 0.25 * f.r_eye) - th * 0.8, px),
                        _soft(np.abs(qx) - (f.ex - rim_r + th), px))
    arm = np.minimum(_soft(np.abs(qy - f.ey + 0.2 * f.r_eye) - th * 0.8, px), _soft(f.ex + rim_r - np.abs(qx), px))
    frame = np.maximum(np.maximum(frame, bridge), arm)
    _paint(_w(img, win), np.asarray(idn.glasses_rgb, dtype=F32) * F32(f.flat_shade * 1.1), frame * face[win])


def render_face(identity: IdentityParams, scene: SceneParams, size: int = 64) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one face; returns the uint8 image (size, size, 3) and its ground-truth record."""
    f = _Face(identity, scene, size)
    img = _background(scene, f.u, f.v).astype(F32)
    _draw_body(f, img)
    _draw_hair_volume(f, img)

    # The face surface, ray-cast only inside the head's bounding window (zero coverage elsewhere).
    q = np.zeros((3, f.big, f.big), dtype=F32)
    face = np.zeros((f.big, f.big), dtype=F32)
    alb = np.broadcast_to(f.skin.reshape(3, 1, 1), q.shape).copy()
    ext = float(f.radii.max()) + 2 * f.px
    hwin = _window(float(f.centre[0]), float(f.centre[1]), ext, ext, f.big)
    if hwin is not None:
        hit, qw = raycast_ellipsoid(f.u[hwin], f.v[hwin], f.centre, f.rot, f.radii)
        xn, yn = qw[0] * (1.0 / f.a), qw[1] * (1.0 / f.b)
        taper = 1.0 - identity.jaw_taper * np.clip(yn - 0.05, 0.0, 1.0) ** 1.4
        jaw_sd = (np.abs(xn) - taper * np.sqrt(np.clip(1.0 - yn * yn, 0.0, 1.0))) * f.a
        face[hwin] = hit * _soft(jaw_sd, f.px)
        _w(q, hwin)[:] = qw
        _draw_face_albedo(f, q, alb, hwin)
        _paint(_w(img, hwin), _w(alb, hwin) * f.shade(qw, f.radii), face[hwin])

    record = _draw_nose(f, img, face)
    record.update(_draw_eyes(f, img, q, face))
    _draw_glasses(f, img, q, face)

    img *= _col(scene.light_rgb) * F32(scene.exposure)
    # Area downsample, then the camera pipeline at output resolution.
    out = img.reshape(3, size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(2, 4)).transpose(1, 2, 0)
    out = _camera(out, scene)

    head = f.project((0.0, 0.0, 0.0))
    mouth = f.project(f.surface_point(0.0, identity.mouth_y * f.b))
    record.update(
        head_pitch=scene.head_pitch,
        head_yaw=scene.head_yaw,
        head_roll=scene.head_roll,
        gaze_pitch=0.5 * (record["gaze_left_pitch"] + record["gaze_right_pitch"]),
        gaze_yaw=0.5 * (record["gaze_left_yaw"] + record["gaze_right_yaw"]),
        face_x=_to_px(head[0], size),
        face_y=_to_px(head[1], size),
        mouth_x=_to_px(mouth[0], size),
        mouth_y=_to_px(mouth[1], size),
    )
    return out, record


def _to_px(coord: float, size: int) -> float:
    """Canvas coordinate in [-1, 1] -> pixel coordinate (pixel centres at integers)."""
    return float((coord + 1.0) * 0.5 * size - 0.5)


def _gaussian_blur(img: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) array over H and W, edge-replicating borders.

    Same kernel, border mode and summation order as ``scipy.ndimage.gaussian_filter(img,
    (sigma, sigma, 0), mode="nearest")``, without importing scipy.ndimage (0.7 s).
    """
    r = int(truncate * float(sigma) + 0.5)
    x = np.arange(-r, r + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    phi = phi / phi.sum()
    out = img
    h, w = img.shape[:2]
    p = np.pad(out, ((r, r), (0, 0), (0, 0)), mode="edge")
    acc = phi[r] * p[r:r + h]
    for j in range(1, r + 1):
        acc = acc + phi[r + j] * (p[r - j:r - j + h] + p[r + j:r + j + h])
    p = np.pad(acc, ((0, 0), (r, r), (0, 0)), mode="edge")
    out = phi[r] * p[:, r:r + w]
    for j in range(1, r + 1):
        out = out + phi[r + j] * (p[:, r - j:r - j + w] + p[:, r + j:r + j + w])
    return out


def _camera(img: np.ndarray, scene: SceneParams) -> np.ndarray:
    """Blur, sensor noise and a JPEG round trip: the pristine images' capture pipeline."""
    img = np.clip(img, 0.0, 1.0) * 255.0
    if scene.blur_sigma > 0.05:
        img = _gaussian_blur(img, scene.blur_sigma)
    noise_rng = np.random.default_rng(scene.bg_seed ^ 0x5EED)
    img = img + noise_rng.normal(0.0, scene.noise_sigma, img.shape)
    arr = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode="RGB").save(buf, format="JPEG", quality=int(scene.jpeg_quality))
    buf.seek(0)
    with Image.open(buf) as jpg:
        return np.asarray(jpg.convert("RGB"), dtype=np.uint8).copy()
