import numpy as np
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.perception.gaze import base
from dfad_bench.perception.gaze.base import (
    GazeOutput,
    angular_error_deg,
    create_gaze_encoder,
    pitchyaw_to_vector,
    register_gaze_encoder,
    vector_to_pitchyaw,
)


def test_convention_matches_eth_xgaze():
    np.testing.assert_allclose(pitchyaw_to_vector(0.0, 0.0), [0.0, 0.0, -1.0], atol=1e-12)
    up = pitchyaw_to_vector(0.3, 0.0)
    assert up[1] < 0  # pitch > 0 looks up: y (down) is negative
    left = pitchyaw_to_vector(0.0, 0.3)
    assert left[0] < 0  # yaw > 0 looks towards the image's left (x right)


def test_roundtrip_and_angles():
    rng = np.random.default_rng(0)
    p, y = rng.uniform(-1.2, 1.2, 100), rng.uniform(-2.5, 2.5, 100)
    v = pitchyaw_to_vector(p, y)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0)
    p2, y2 = vector_to_pitchyaw(3.0 * v)  # length does not matter
    np.testing.assert_allclose(p2, p, atol=1e-9)
    np.testing.assert_allclose(y2, y, atol=1e-9)
    np.testing.assert_allclose(angular_error_deg(v, v), 0.0, atol=1e-5)
    # pure yaw difference at pitch 0 is the angle itself; pairs and vectors agree
    a = np.array([[0.0, 0.0]])
    b = np.array([[0.0, np.radians(25.0)]])
    np.testing.assert_allclose(angular_error_deg(a, b), [25.0])
    np.testing.assert_allclose(angular_error_deg(a, pitchyaw_to_vector(0.0, np.radians(25.0))[None]), [25.0])
    assert np.isnan(angular_error_deg(np.array([np.nan, 0.0]), np.array([0.0, 0.0])))


def test_output_invalid_rows_are_nan_never_numbers():
    out = GazeOutput.build(
        np.zeros((3, 2)), np.ones((3, 2)) * 0.1, np.ones((3, 4)), [True, False, True], ["ok", "no_face", "ok"]
    )
    assert out.valid.tolist() == [True, False, True]
    assert np.isnan(out.pitch[1]) and np.isnan(out.features[1]).all() and np.isnan(out.vector[1]).all()
    np.testing.assert_allclose(out.pitch[[0, 2]], 0.05)  # overall = mean of the eyes
    np.testing.assert_allclose(out.eye_inconsistency_deg[0], angular_error_deg(np.zeros(2), np.full(2, 0.1)))
    both = GazeOutput.concat([out, out.take([2, 1])])
    assert len(both) == 5 and both.reason[-1] == "no_face"
    with pytest.raises(ValueError, match="reason"):
        GazeOutput.build(None, None, np.ones((1, 2)), [False], ["ok"])
    with pytest.raises(ValueError, match="expected one of"):
        GazeOutput.build(None, None, np.ones((1, 2)), [False], ["lost"])


class _Dummy:
    name = "dummy"
    fingerprint = "dummy-1"
    feature_dim = 1

    def __init__(self, device="cpu"):
        self.device = device

    def encode(self, images):
        n = len(images)
        return GazeOutput.build(None, None, np.zeros((n, 1)), np.zeros(n, bool), ["no_face"] * n)


def test_registry(register_temporarily):
    with pytest.raises(DfadError, match="eth-xgaze"):
        create_gaze_encoder("eth-xgase")
    with pytest.raises(DfadError, match="already registered"):
        register_gaze_encoder("landmark", "x.y:z")
    register_temporarily(base.GAZE_ENCODERS, "dummy-test", f"{__name__}:_Dummy")
    enc = create_gaze_encoder("dummy-test", device="cpu")
    assert enc.fingerprint == "dummy-1"
    assert set(base.available_gaze_encoders()) >= {"eth-xgaze", "landmark", "gaze-mini", "dummy-test"}
    assert not enc.encode(np.zeros((2, 4, 4, 3), np.uint8)).valid.any()
