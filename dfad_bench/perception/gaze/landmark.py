"""``landmark``: geometric gaze from the mediapipe face mesh (iris centre vs eye corners).

Per eye, in the image: ``u`` = unit vector from the eye's image-left corner to its image-right
corner, ``W`` = the corner distance, ``n`` = ``u`` turned 90 degrees to point down the image,
``c`` = the corners' midpoint. The iris centre's offsets ``h = (iris - c).u / W`` and
``v = (iris - c).n / W`` give eye-in-head angles by the eyeball model::

    yaw_eye   = arcsin(-K * h)      (iris towards the image's left  -> looking to the image's left, yaw > 0)
    pitch_eye = arcsin(-K * v)      (iris up                        -> looking up, pitch > 0)

with ``K = EYE_WIDTH_MM / EYEBALL_RADIUS_MM = 30 / 12 = 2.5`` (adult palpebral fissure ~30 mm,
eyeball radius ~12 mm): a shift of the iris by d mm on the eyeball's front is a rotation
``arcsin(d / 12 mm)``. These constants are anatomical averages, not fitted to any benchmark.
The head rotation comes from the mesh's 3D points (x: outer eye corner 33 -> 263; y: forehead 10
-> chin 152, orthogonalised; z = x cross y), and the gaze in camera coordinates is
``R_head @ v(pitch_eye, yaw_eye)`` (weak perspective: the face's offset from the optical axis is
ignored). Yaw is usable; pitch is poor, since the upper lid follows the eye and the corners'
midpoint is only a rough vertical reference.

Features (16-d): per eye (right, left) h, v, eye openness (lid distance / W), eye-in-head pitch
and yaw (10), then the first two columns of the head rotation (6).
"""

from __future__ import annotations

import numpy as np

from dfad_bench.perception.gaze.base import GazeOutput, check_images, pitchyaw_to_vector, vector_to_pitchyaw

EYE_WIDTH_MM = 30.0
EYEBALL_RADIUS_MM = 12.0
GAIN = EYE_WIDTH_MM / EYEBALL_RADIUS_MM
CODE_VERSION = "landmark-v1"

# mediapipe mesh indices: (image-left corner, image-right corner, upper lid, lower lid, iris centre)
RIGHT_EYE = (33, 133, 159, 145, 468)  # the subject's right eye, on the image's left
LEFT_EYE = (362, 263, 386, 374, 473)  # the subject's left eye, on the image's right
HEAD_X = (33, 263)
HEAD_Y = (10, 152)
MIN_EYE_WIDTH_PX = 2.0


def eye_in_head(mesh: np.ndarray, eye: tuple[int, int, int, int, int]) -> tuple[float, float, np.ndarray] | None:
    """(pitch, yaw) of one eye relative to the head, and its 5 features; None if the eye is degenerate."""
    a, b, up, low, iris = (mesh[i, :2] for i in eye)
    width = float(np.linalg.norm(b - a))
    if width < MIN_EYE_WIDTH_PX:
        return None
    u = (b - a) / width
    n = np.array([-u[1], u[0]])
    c = 0.5 * (a + b)
    h = float((iris - c) @ u) / width
    v = float((iris - c) @ n) / width
    openness = float(np.linalg.norm(low - up)) / width
    yaw = float(np.arcsin(np.clip(-GAIN * h, -1.0, 1.0)))
    pitch = float(np.arcsin(np.clip(-GAIN * v, -1.0, 1.0)))
    return pitch, yaw, np.array([h, v, openness, pitch, yaw])


def head_rotation(mesh: np.ndarray) -> np.ndarray | None:
    """Columns = the head's x (subject's right -> left), y (down) and z (backwards) axes in camera coordinates."""
    x = mesh[HEAD_X[1]] - mesh[HEAD_X[0]]
    y = mesh[HEAD_Y[1]] - mesh[HEAD_Y[0]]
    nx = np.linalg.norm(x)
    if nx < 1e-6:
        return None
    x = x / nx
    y = y - (y @ x) * x
    ny = np.linalg.norm(y)
    if ny < 1e-6:
        return None
    y = y / ny
    return np.stack([x, y, np.cross(x, y)], axis=1)


class LandmarkGazeEncoder:
    name = "landmark"
    feature_dim = 16

    def __init__(self, device: str = "cpu", min_detection_confidence: float = 0.3) -> None:
        from dfad_bench.perception.mesh import FaceMesh

        del device  # mediapipe runs on the CPU
        self.mesh = FaceMesh(min_detection_confidence)
        self.fingerprint = f"{CODE_VERSION}:{self.mesh.fingerprint}:K{GAIN:g}"

    def encode(self, images: np.ndarray) -> GazeOutput:
        images = check_images(images, self.name)
        n = len(images)
        left = np.full((n, 2), np.nan)
        right = np.full((n, 2), np.nan)
        feats = np.full((n, self.feature_dim), np.nan)
        valid = np.zeros(n, dtype=bool)
        reasons = ["no_face"] * n
        for i, mesh in enumerate(self.mesh(images)):
            if mesh is None:
                continue
            rot = head_rotation(mesh)
            eyes = [eye_in_head(mesh, RIGHT_EYE), eye_in_head(mesh, LEFT_EYE)]
            if rot is None:
                reasons[i] = "pose_failed"
                continue
            if eyes[0] is None or eyes[1] is None:
                reasons[i] = "eyes_not_found"
                continue
            for eye, dest in zip(eyes, (right, left), strict=True):
                g = rot @ pitchyaw_to_vector(eye[0], eye[1])
                dest[i] = vector_to_pitchyaw(g)
            feats[i] = np.concatenate([eyes[0][2], eyes[1][2], rot[:, :2].T.reshape(-1)])
            valid[i] = True
            reasons[i] = "ok"
        overall = np.full((n, 2), np.nan)
        if valid.any():
            vec = pitchyaw_to_vector(left[valid, 0], left[valid, 1]) + pitchyaw_to_vector(right[valid, 0], right[valid, 1])
            overall[valid] = np.stack(vector_to_pitchyaw(vec), axis=1)
        return GazeOutput.build(left, right, feats, valid, reasons, overall=overall)
