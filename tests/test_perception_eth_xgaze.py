import os
from pathlib import Path

import cv2
import numpy as np
import platformdirs
import pytest
from PIL import Image

from dfad_bench.perception.gaze.base import GazeEncoder, pitchyaw_to_vector, vector_to_pitchyaw
from dfad_bench.perception.gaze.normalization import (
    FACE_CENTRE_MODEL,
    FACE_MODEL_5,
    NORM_SIZE,
    camera_matrix,
    denormalize_gaze,
    estimate_head_pose,
    normalize_face,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _rot(pitch_deg, yaw_deg, roll_deg):
    rx, _ = cv2.Rodrigues(np.array([np.radians(pitch_deg), 0.0, 0.0]))
    ry, _ = cv2.Rodrigues(np.array([0.0, np.radians(yaw_deg), 0.0]))
    rz, _ = cv2.Rodrigues(np.array([0.0, 0.0, np.radians(roll_deg)]))
    return rz @ ry @ rx


def _synthetic_face(rot, t, h=480, w=640):
    cam = camera_matrix(h, w)
    pts, _ = cv2.projectPoints(FACE_MODEL_5, cv2.Rodrigues(rot)[0], t.reshape(3, 1), cam, None)
    return cam, pts.reshape(5, 2)


def test_head_pose_recovers_a_known_pose():
    rot, t = _rot(10, 20, 5), np.array([30.0, -20.0, 700.0])
    cam, pts = _synthetic_face(rot, t)
    got_rot, got_t = estimate_head_pose(pts, cam)
    np.testing.assert_allclose(got_rot, rot, atol=1e-4)
    np.testing.assert_allclose(got_t, t, atol=0.5)
    assert estimate_head_pose(np.full((5, 2), np.nan), cam) is None


def test_normalisation_geometry():
    rot, t = _rot(-5, 25, 10), np.array([-60.0, 40.0, 800.0])
    cam, pts = _synthetic_face(rot, t)
    norm = normalize_face(np.zeros((480, 640, 3), np.uint8), pts)
    assert norm is not None and norm.image.shape == (NORM_SIZE, NORM_SIZE, 3)
    centre = rot @ FACE_CENTRE_MODEL + t
    np.testing.assert_allclose(norm.face_centre_mm, centre, atol=0.5)
    R = norm.rotation
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(R @ (centre / np.linalg.norm(centre)), [0, 0, 1], atol=1e-6)  # looks at the face
    assert abs((R @ rot[:, 0])[1]) < 1e-6  # the head's x-axis is horizontal in the normalised camera
    uv = cam @ centre
    mapped = norm.warp @ (uv / uv[2])
    np.testing.assert_allclose(mapped[:2] / mapped[2], [NORM_SIZE / 2, NORM_SIZE / 2], atol=1e-6)
    # a gaze straight into the normalised camera is a gaze from the face into the real camera
    back = denormalize_gaze(pitchyaw_to_vector(0.0, 0.0), R)
    np.testing.assert_allclose(back, -centre / np.linalg.norm(centre), atol=1e-6)
    # The face is left of the optical axis (x = -60 mm), so that gaze points towards +x (the image's
    # right), which is a negative yaw in the ETH-XGaze convention.
    assert vector_to_pitchyaw(back)[1] < 0


def asset_folder() -> str:
    return os.environ.get("DFAD_BENCH_TEST_ASSETS") or str(Path(platformdirs.user_cache_dir("dfad-bench")) / "test-assets")


@pytest.fixture(scope="module")
def encoder():
    from dfad_bench.perception.assets import prefetch_assets
    from dfad_bench.perception.gaze.base import create_gaze_encoder

    folder = str(prefetch_assets(asset_folder()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DFAD_BENCH_ASSETS", folder)
        yield create_gaze_encoder("eth-xgaze")


def photo(name):
    return np.asarray(Image.open(FIXTURES / name).convert("RGB"))


@pytest.mark.assets
@pytest.mark.parametrize("name", ["astronaut.jpg", "grace_hopper.jpg"])
def test_real_photo_flip_mirrors_the_gaze(encoder, name):
    """On a real photo the face is found and the gaze is mirror-consistent.

    The photo sits on the left half of a black canvas twice as wide, so the face is off the optical
    axis and its gaze in camera coordinates has a clear yaw (both people look roughly at the lens);
    a horizontal flip must flip the yaw's sign and keep the pitch. (Centred, both yaws are within a
    few degrees of zero and the network's own left/right bias of ~2 deg would dominate.)
    """
    assert isinstance(encoder, GazeEncoder)
    img = photo(name)
    h, w = img.shape[:2]
    canvas = np.zeros((h, 2 * w, 3), np.uint8)
    canvas[:, :w] = img
    out = encoder.encode(np.stack([canvas, np.ascontiguousarray(canvas[:, ::-1])]))
    assert out.valid.all() and out.reason == ("ok", "ok")
    assert out.features.shape == (2, 512) and np.isfinite(out.features).all()
    np.testing.assert_allclose(np.linalg.norm(out.vector, axis=1), 1.0)
    assert np.isnan(out.left).all()  # ETH-XGaze has no per-eye estimate
    yaw, pitch = np.degrees(out.yaw), np.degrees(out.pitch)
    assert yaw[0] < -5 and yaw[1] > 5
    assert abs(yaw[0] + yaw[1]) < 4
    assert abs(pitch[0] - pitch[1]) < 4


@pytest.mark.assets
def test_no_face_is_reported(encoder):
    out = encoder.encode(np.stack([np.full((200, 200, 3), 90, np.uint8), photo("astronaut.jpg")[:200, :200]]))
    assert out.reason[0] == "no_face" and not out.valid[0]
    assert np.isnan(out.pitch[0]) and np.isnan(out.features[0]).all()
