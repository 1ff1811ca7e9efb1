import numpy as np

from dfad_bench.perception.gaze.base import GazeOutput
from dfad_bench.perception.gaze.cached import CachedGazeEncoder, encode_images, pixel_key


class Counting:
    """Gaze from pixel values; images whose first pixel is 0 have 'no face'."""

    name = "counting"
    feature_dim = 3

    def __init__(self, fingerprint="counting-1"):
        self.fingerprint = fingerprint
        self.seen = 0

    def encode(self, images):
        self.seen += len(images)
        first = images[:, 0, 0].astype(float)
        valid = first[:, 0] > 0
        left = np.stack([first[:, 0] / 255, first[:, 1] / 255], axis=1)
        right = left + 0.01
        reasons = ["ok" if v else "no_face" for v in valid]
        return GazeOutput.build(left, right, first / 255, valid, reasons)


def _images(values):
    return np.stack([np.full((4, 4, 3), v, np.uint8) for v in values])


def test_second_call_is_served_from_disk(tmp_path):
    inner = Counting()
    enc = CachedGazeEncoder(inner, root=tmp_path)
    imgs = _images([[10, 20, 30], [0, 5, 5], [40, 50, 60]])
    first = enc.encode(imgs)
    assert inner.seen == 3
    again = CachedGazeEncoder(Counting(), root=tmp_path)  # a new process would see the same files
    second = again.encode(imgs)
    assert again.inner.seen == 0
    np.testing.assert_array_equal(second.valid, [True, False, True])
    assert second.reason[1] == "no_face" and np.isnan(second.pitch[1])  # "no face" is cached as such
    np.testing.assert_allclose(second.pitch[[0, 2]], first.pitch[[0, 2]])
    np.testing.assert_allclose(second.left[[0, 2]], first.left[[0, 2]])
    np.testing.assert_allclose(second.features[[0, 2]], first.features[[0, 2]])
    np.testing.assert_allclose(second.vector[[0, 2]], first.vector[[0, 2]])
    # a new fingerprint (other weights) never reads the old entries
    other = CachedGazeEncoder(Counting("counting-2"), root=tmp_path)
    other.encode(imgs)
    assert other.inner.seen == 3


def test_encode_keys_loads_only_missing_images(tmp_path):
    enc = CachedGazeEncoder(Counting(), root=tmp_path)
    imgs = _images([[10, 20, 30], [40, 50, 60], [70, 80, 90]])
    asked = []

    def load(pos):
        asked.extend(pos)
        return [imgs[p] for p in pos]

    enc.encode_keys(["a", "b"], load)
    asked.clear()
    out = enc.encode_keys(["a", "b", "c", "a"], load)
    assert asked == [2]  # only "c" was decoded
    np.testing.assert_allclose(out.pitch[0], out.pitch[3])


def test_pixel_key_and_mixed_sizes():
    a = np.zeros((4, 4, 3), np.uint8)
    assert pixel_key(a) != pixel_key(np.zeros((2, 8, 3), np.uint8))  # same bytes, other shape
    enc = Counting()
    out = encode_images(enc, [np.full((4, 4, 3), 10, np.uint8), np.full((6, 6, 3), 20, np.uint8), np.full((4, 4, 3), 30, np.uint8)])
    np.testing.assert_allclose(out.features[:, 0] * 255, [10, 20, 30])
