"""3D geometry of the DFAD-Mini face renderer: rotations, gaze vectors, ray casts.

Camera coordinates follow the project's gaze convention (ETH-XGaze): x right, y down,
z forward into the scene; the camera looks along +z and the projection is orthographic
(the canvas spans [-1, 1] in x and y). A (pitch, yaw) pair in radians maps to the unit
vector ``(-cos(p) sin(y), -sin(p), -cos(p) cos(y))``: (0, 0) looks straight into the camera,
pitch > 0 looks up, yaw > 0 looks towards the image's left (negative x).

Head-local coordinates are camera coordinates of the unrotated head: x towards the image's
right (the subject's left), y down, z away from the camera, face on the -z side.
"""

from __future__ import annotations

import numpy as np


def pitchyaw_to_vector(pitch: np.ndarray | float, yaw: np.ndarray | float) -> np.ndarray:
    """Unit gaze/orientation vector(s) (..., 3) for angles in radians."""
    pitch = np.asarray(pitch, dtype=np.float64)
    yaw = np.asarray(yaw, dtype=np.float64)
    return np.stack(
        [-np.cos(pitch) * np.sin(yaw), -np.sin(pitch), -np.cos(pitch) * np.cos(yaw)], axis=-1
    )


def vector_to_pitchyaw(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pitchyaw_to_vector` (vectors need not be normalised)."""
    vec = np.asarray(vec, dtype=np.float64)
    vec = vec / np.linalg.norm(vec, axis=-1, keepdims=True)
    pitch = np.arcsin(np.clip(-vec[..., 1], -1.0, 1.0))
    yaw = np.arctan2(-vec[..., 0], -vec[..., 2])
    return pitch, yaw


def _rx(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def head_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Rotation (3, 3) from head-local to camera coordinates.

    Built so that the face's forward direction (0, 0, -1) maps to
    ``pitchyaw_to_vector(pitch, yaw)``; roll turns the head about that forward axis
    (roll > 0 turns the face clockwise in the image, since y points down).
    """
    return _ry(yaw) @ _rx(-pitch) @ _rz(roll)


def raycast_ellipsoid(
    u: np.ndarray, v: np.ndarray, centre: np.ndarray, rot: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Front-surface hit of orthographic rays (u, v, +z) with a rotated ellipsoid.

    Returns ``(hit, q)``: a boolean mask and the head-local hit points, channel-first
    (3, ...) (garbage where ``hit`` is False). Vectorised over pixels, float32.
    """
    rt = rot.T.astype(np.float32)
    du = u - np.float32(centre[0])
    dv = v - np.float32(centre[1])
    inv2 = (1.0 / np.asarray(radii, dtype=np.float32) ** 2).astype(np.float32)
    d = rt[:, 2]  # direction of the ray (0, 0, 1) in head-local coordinates
    q0 = [rt[i, 0] * du + rt[i, 1] * dv - rt[i, 2] * np.float32(centre[2]) for i in range(3)]
    qa = float(np.sum(d * d * inv2))
    qb = 2.0 * (q0[0] * (d[0] * inv2[0]) + q0[1] * (d[1] * inv2[1]) + q0[2] * (d[2] * inv2[2]))
    qc = q0[0] * q0[0] * inv2[0] + q0[1] * q0[1] * inv2[1] + q0[2] * q0[2] * inv2[2] - 1.0
    disc = qb * qb - 4.0 * qa * qc
    hit = disc >= 0.0
    t = (-qb - np.sqrt(np.maximum(disc, 0.0))) * (1.0 / (2.0 * qa))
    q = np.stack([q0[0] + t * d[0], q0[1] + t * d[1], q0[2] + t * d[2]])
    return hit, q


def ellipsoid_normal_camera(q: np.ndarray, rot: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Outward unit normals (camera coordinates, channel-first) at head-local points ``q`` (3, ...)."""
    inv2 = [np.float32(1.0 / float(r) ** 2) for r in radii]
    h = [q[i] * inv2[i] for i in range(3)]
    rr = rot.astype(np.float32)
    n = np.stack([rr[i, 0] * h[0] + rr[i, 1] * h[1] + rr[i, 2] * h[2] for i in range(3)])
    return n * (1.0 / np.maximum(np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]), np.float32(1e-6)))


def dot3(vec: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Per-pixel dot product of a channel-first vector field (3, ...) with a fixed 3-vector."""
    d = [np.float32(x) for x in direction]
    return vec[0] * d[0] + vec[1] * d[1] + vec[2] * d[2]


def surface_z(x: float, y: float, radii: np.ndarray) -> float:
    """Head-local z of the front (camera-facing) ellipsoid surface above (x, y)."""
    a, b, c = radii
    inside = max(1.0 - (x / a) ** 2 - (y / b) ** 2, 0.0)
    return -c * float(np.sqrt(inside))
