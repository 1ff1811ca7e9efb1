"""DFAD-Mini renderer: shapes, determinism, gaze geometry visible in pixels, captions."""

from __future__ import annotations

import numpy as np
import pytest

from dfad_mini.face_geometry import head_rotation, pitchyaw_to_vector, vector_to_pitchyaw
from dfad_mini.renderer import (
    RenderBatch,
    caption_for,
    render_faces,
    render_training_set,
    sample_identities,
)


@pytest.fixture(scope="module")
def batch() -> RenderBatch:
    return render_faces(sample_identities(6, seed=3), n_per_identity=4, seed=11)


def test_shapes_columns_and_ids(batch: RenderBatch) -> None:
    assert batch.images.shape == (24, 64, 64, 3) and batch.images.dtype == np.uint8
    p = batch.params
    assert len(p) == 24
    for col in ("identity", "head_pitch", "head_yaw", "head_roll", "gaze_pitch", "gaze_yaw", "gaze_left_pitch",
                "gaze_left_yaw", "gaze_right_pitch", "gaze_right_yaw", "caption", "background", "glasses"):
        assert col in p.columns, col
    assert p["identity"].tolist() == [f"mini-id-{i:05d}" for i in range(6) for _ in range(4)]
    assert not p[["gaze_pitch", "gaze_yaw", "head_yaw"]].isna().any().any()
    # Images are not blank and differ from each other.
    assert batch.images.std() > 20
    assert len({img.tobytes() for img in batch.images}) == 24


def test_deterministic_and_seed_dependent(batch: RenderBatch) -> None:
    again = render_faces(sample_identities(6, seed=3), n_per_identity=4, seed=11)
    assert np.array_equal(again.images, batch.images)
    assert again.params.equals(batch.params)
    other = render_faces(sample_identities(6, seed=3), n_per_identity=4, seed=12)
    assert not np.array_equal(other.images, batch.images)
    # An identity's renders do not depend on which other identities are rendered with it.
    alone = render_faces(sample_identities(6, seed=3)[2:3], n_per_identity=4, seed=11)
    assert np.array_equal(alone.images, batch.images[8:12])


def test_identity_pools_are_disjoint() -> None:
    train = sample_identities(20, seed=0, prefix="train-id")
    bench = sample_identities(20, seed=0, prefix="mini-id")
    assert train[0].identity == "train-id-00000" and bench[0].identity == "mini-id-00000"
    assert {t.face_width for t in train}.isdisjoint({b.face_width for b in bench})
    ts = render_training_set(6, seed=1000)
    assert ts.images.shape == (6, 64, 64, 3)
    assert ts.params["identity"].str.startswith("train-id-").all()


def test_gaze_convention_roundtrip() -> None:
    rng = np.random.default_rng(0)
    p, y = rng.uniform(-1, 1, 50), rng.uniform(-1.5, 1.5, 50)
    p2, y2 = vector_to_pitchyaw(pitchyaw_to_vector(p, y))
    assert np.allclose(p, p2) and np.allclose(y, y2)
    assert np.allclose(pitchyaw_to_vector(0.0, 0.0), [0, 0, -1])
    assert pitchyaw_to_vector(0.3, 0.0)[1] < 0  # pitch > 0 looks up (y points down)
    # The head rotation maps the face's forward direction onto the head-pose vector.
    rot = head_rotation(0.2, -0.4, 0.1)
    assert np.allclose(rot @ np.array([0, 0, -1.0]), pitchyaw_to_vector(0.2, -0.4))


def test_both_eyes_fixate_one_target(batch: RenderBatch) -> None:
    p = batch.params
    left = pitchyaw_to_vector(p["gaze_left_pitch"], p["gaze_left_yaw"])
    right = pitchyaw_to_vector(p["gaze_right_pitch"], p["gaze_right_yaw"])
    vergence = np.arccos(np.clip((left * right).sum(axis=1), -1, 1))
    assert (vergence > 0.005).all() and (vergence < 0.15).all()
    # Convergence: the subject's left eye (image right) looks further towards the image's left.
    assert (p["gaze_left_yaw"] > p["gaze_right_yaw"]).all()
    assert np.allclose(p["gaze_yaw"], (p["gaze_left_yaw"] + p["gaze_right_yaw"]) / 2)
    assert np.allclose(p["gaze_pitch"], (p["gaze_left_pitch"] + p["gaze_right_pitch"]) / 2)


def _dark_centroid(images: np.ndarray, params, eye: str) -> np.ndarray:
    """Darkness-weighted centroid (x, y) of a 9x7 window around each eye, measured in pixels."""
    out = []
    for img, (_, row) in zip(images, params.iterrows(), strict=True):
        cx, cy = int(round(row[f"eye_{eye}_x"])), int(round(row[f"eye_{eye}_y"]))
        win = img[cy - 3:cy + 4, cx - 4:cx + 5].astype(np.float64).mean(axis=2)
        w = np.maximum(255.0 - win, 0.0)
        ys, xs = np.mgrid[-3:4, -4:5]
        out.append([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    return np.asarray(out)


def test_iris_moves_with_gaze_in_pixels() -> None:
    ids = sample_identities(6, seed=5)
    frontal = {"head_pitch": 0.0, "head_yaw": 0.0, "head_roll": 0.0}
    renders = {
        key: render_faces(ids, 1, seed=2, scene_overrides={**frontal, "eye_pitch": ep, "eye_yaw": ey})
        for key, (ep, ey) in {"yaw+": (0.0, 0.4), "yaw-": (0.0, -0.4), "up": (0.3, 0.0), "down": (-0.3, 0.0)}.items()
    }
    assert (renders["yaw+"].params["gaze_yaw"] > 0.3).all() and (renders["up"].params["gaze_pitch"] > 0.2).all()
    for eye in ("left", "right"):
        c = {k: _dark_centroid(r.images, r.params, eye) for k, r in renders.items()}
        # yaw > 0 looks towards the image's left: the iris (the dark part of the eye) moves to smaller x.
        assert (c["yaw+"][:, 0] < c["yaw-"][:, 0]).all(), eye
        assert (c["yaw-"][:, 0] - c["yaw+"][:, 0]).mean() > 0.5
        # pitch > 0 looks up: the iris moves to smaller y.
        assert (c["up"][:, 1] < c["down"][:, 1]).mean() >= 5 / 6, eye
    # The ground-truth iris landmark moves the same way.
    assert (renders["yaw+"].params["iris_left_x"] < renders["yaw-"].params["iris_left_x"]).all()


def test_caption_from_ground_truth(batch: RenderBatch) -> None:
    row = {
        "age_group": "young", "sex": "woman", "skin_tone": "dark", "hair_style": "short", "hair_colour": "black",
        "eye_colour": "brown", "glasses": "round", "beard": "none", "gaze_pitch": 0.3, "gaze_yaw": 0.3,
        "head_pitch": 0.0, "head_yaw": -0.3,
    }
    text = caption_for(row)
    assert text == ("a photo of a young woman with dark skin, short black hair, brown eyes, round glasses, "
                    "looking up and to the left, head turned right")
    row.update(hair_style="bald", glasses="none", gaze_pitch=0.0, gaze_yaw=0.0, head_yaw=0.0, age_group="older")
    assert caption_for(row) == ("a photo of an older woman with dark skin, a bald head, brown eyes, "
                                "looking at the camera, head facing the camera")
    for _, r in batch.params.iterrows():
        assert r["caption"] == caption_for(r)
        assert f"{r['skin_tone']} skin" in r["caption"] and f"{r['eye_colour']} eyes" in r["caption"]
