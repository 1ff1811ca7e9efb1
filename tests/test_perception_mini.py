import json

import numpy as np
import pytest
from safetensors import safe_open

from dfad_bench.errors import DfadError
from dfad_bench.perception.gaze.base import angular_error_deg, create_gaze_encoder
from dfad_mini import gaze as mini
from dfad_mini import gaze_train

render = pytest.importorskip("dfad_mini.renderer")


def test_network_is_small_and_shaped():
    import torch

    net = mini.GazeMiniNet(**mini.DEFAULT_CONFIG)
    assert mini.count_params(net) <= 500_000
    x = mini.to_input(np.zeros((3, 64, 64, 3), np.uint8))
    assert net(x).shape == (3, 4) and net.forward_features(x).shape == (3, mini.DEFAULT_CONFIG["feature_dim"])
    assert x.dtype == torch.float32


def test_augment_mirrors_labels():
    rng = np.random.default_rng(3)
    labels = np.tile(np.array([[0.1, 0.2, 0.3, 0.4]], np.float32), (64, 1))
    _, out = gaze_train.augment(np.zeros((64, 64, 64, 3), np.uint8), labels, rng)
    flipped = ~np.all(out == labels, axis=1)
    assert 10 < flipped.sum() < 54
    # mirrored: the eyes swap roles and both yaws change sign
    np.testing.assert_allclose(out[flipped], np.tile([0.3, -0.4, 0.1, -0.2], (flipped.sum(), 1)), rtol=1e-6)


def test_pretrain_tiny_resume_and_encode(tmp_path):
    kw = dict(device="cpu", batch_size=8, out_path=tmp_path / "w", n_train=32, n_val=16, ckpt_dir=tmp_path / "ck",
              ckpt_every=1, log=lambda s: None)
    first = gaze_train.pretrain_gaze_mini(steps=2, **kw)
    second = gaze_train.pretrain_gaze_mini(steps=4, **kw)  # resumes from the step-2 checkpoint
    assert (first["steps"], second["steps"]) == (2, 4)
    assert second["loss_curve"][-1][0] == 4
    side = json.loads((tmp_path / "w" / "gaze-mini.json").read_text())
    for key in ("config", "seed", "steps", "device", "command", "loss_curve", "heldout_angular_error_deg", "weights_sha256"):
        assert key in side
    with safe_open(str(tmp_path / "w" / "gaze-mini.safetensors"), framework="pt") as f:
        assert all(str(f.get_tensor(k).dtype) in ("torch.float16", "torch.int64") for k in f.keys())
    enc = mini.GazeMiniEncoder(weights=tmp_path / "w" / "gaze-mini.safetensors")
    imgs = render.render_training_set(2, seed=5).images
    out = enc.encode(np.concatenate([imgs, imgs]))
    assert out.valid.all() and out.features.shape == (4, 128)
    np.testing.assert_allclose(out.pitch, 0.5 * (out.left[:, 0] + out.right[:, 0]))
    big = enc.encode(np.stack([np.repeat(np.repeat(im, 2, 0), 2, 1) for im in imgs]))  # 128 px input is resized
    assert big.features.shape == (2, 128)
    with pytest.raises(DfadError, match="not found"):
        mini.GazeMiniEncoder(weights=tmp_path / "missing.safetensors")


@pytest.mark.skipif(not mini.default_weights_path().is_file(), reason="gaze-mini weights not trained yet")
def test_shipped_weights_generalise_to_fresh_renders():
    """Fresh renders (a seed no training or held-out chunk used): far better than a constant guess."""
    enc = create_gaze_encoder("gaze-mini")
    batch = render.render_training_set(48, seed=987_654_321)
    out = enc.encode(batch.images)
    gt = batch.params
    err_left = angular_error_deg(out.left, gt[["gaze_left_pitch", "gaze_left_yaw"]].to_numpy())
    err = angular_error_deg(np.stack([out.pitch, out.yaw], 1), gt[["gaze_pitch", "gaze_yaw"]].to_numpy())
    mean_dir = gt[["gaze_pitch", "gaze_yaw"]].to_numpy().mean(axis=0, keepdims=True)  # an oracle constant
    constant = angular_error_deg(np.repeat(mean_dir, len(gt), 0), gt[["gaze_pitch", "gaze_yaw"]].to_numpy())
    assert err.mean() < 0.4 * constant.mean()
    assert err_left.mean() < 0.4 * constant.mean()
