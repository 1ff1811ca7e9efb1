"""The non-CLIP baselines (cnn, spectrum, gaze-only): features, weight transfer, end-to-end runs.

Every run goes through the real harness on toy images (dfad_bench.testing) for ``unseen-flow``,
so the contract (prediction shapes, seen-only label spaces, hidden test labels) is enforced by
the runner itself. The cnn runs with random init and tiny inputs; gaze-only with a stub encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from dfad_bench.errors import DfadError
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.perception.gaze import GazeOutput
from dfad_bench.perception.gaze import base as gaze_base


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy_bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=40, images_per_identity=2, fakes_per_generator=24, size=24)


def _run(bench: Path, results: Path, model: str, **overrides):
    opts = RunOptions(model=model, protocol="unseen-flow", benchmark=str(bench), results_dir=results, quiet=True,
                      overrides=overrides, n_bootstrap=10)
    return run(opts)


def _preds(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "predictions.parquet")


def _check_val_choices_recorded(record, heads=("detection", "family", "generator"), n_candidates: int | None = None):
    """Every head tried every candidate on val, and the rule names the candidate with the best val score."""
    rows = record.training["history_"]
    for head in heads:
        mine = [r for r in rows if r["head"] == head]
        assert mine and all(r["val_primary"] is not None for r in mine)
        if n_candidates is not None:
            assert len(mine) == n_candidates
        best = max(mine, key=lambda r: (r["val_primary"], -r["val_log_loss"]))
        named = f"{head} {best['candidate']}"
        assert f"{named}," in record.selection_rule or f"{named};" in record.selection_rule


# ----------------------------------------------------------------------------- spectrum features
def test_radial_average_matches_a_hand_computed_one():
    from baselines.spectrum.features import azimuthal_average, fft_radial_features, grayscale

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)  # odd x even: DC at (2, 3)
    gray = grayscale(img[None])[0]
    assert np.allclose(gray, (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]) / 255.0)
    spec = np.log(np.abs(np.fft.fftshift(np.fft.fft2(gray))) + 1e-8)
    sums: dict[int, list[float]] = {}
    for y in range(5):
        for x in range(6):
            r = int(round(float(np.hypot(y - 2, x - 3))))
            sums.setdefault(r, []).append(spec[y, x])
    expected = np.array([np.mean(sums[r]) for r in range(max(sums) + 1)])
    got = fft_radial_features(gray[None], minmax=False)[0]
    assert got.shape == expected.shape == (5,)  # radii 0..4 (corner: hypot(2, 3) = 3.6 -> 4)
    assert np.allclose(got, expected)
    assert np.allclose(azimuthal_average(np.stack([spec, 2 * spec]))[1], 2 * expected)  # batch rows independent
    scaled = fft_radial_features(gray[None], minmax=True)[0]
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    assert np.allclose(scaled, (expected - expected.min()) / (expected.max() - expected.min()))


def test_dct_features_match_an_explicit_dct_matrix():
    from baselines.spectrum.features import block_mean, dct_log_features

    rng = np.random.default_rng(4)
    gray = rng.random((2, 8, 8))
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    c = np.sqrt(2 / 8) * np.cos(np.pi * (2 * n + 1) * k / 16)
    c[0] /= np.sqrt(2)  # orthonormal DCT-II matrix
    expected = np.log(np.abs(c @ gray[1] @ c.T) + 1e-8)
    assert np.allclose(dct_log_features(gray, grid=8)[1], expected.ravel())
    pooled = dct_log_features(gray, grid=4)[1].reshape(4, 4)
    assert np.isclose(pooled[0, 0], expected[:2, :2].mean()) and np.isclose(pooled[3, 1], expected[6:, 2:4].mean())
    assert block_mean(gray, 32).shape == (2, 64)  # grid clamped to the image size


# ----------------------------------------------------------------------------- spectrum end to end
def test_spectrum_runs_unseen_flow_deterministically_and_records_its_val_choices(toy_bench, tmp_path, monkeypatch):
    import baselines.spectrum.model as spectrum_model

    rec, run_dir = _run(toy_bench, tmp_path / "a", "spectrum", C_grid=[0.01, 1.0], dct_grid=8)
    assert rec.metrics["detection_auc_mean_unseen"] is not None
    _check_val_choices_recorded(rec, n_candidates=2)
    preds = _preds(run_dir)
    assert {c for c in preds.columns if c.startswith("prob_family.")} == {"prob_family.real", "prob_family.gan", "prob_family.diffusion"}
    assert np.stack(preds["embedding"]).shape[1] == 18 + 64  # radii 0..17 of a 24 px spectrum (corner: 12*sqrt(2)) + 8x8 DCT cells

    calls = {"n": 0}
    original = spectrum_model.spectral_features

    def counting(*a, **k):
        calls["n"] += 1
        return original(*a, **k)

    monkeypatch.setattr(spectrum_model, "spectral_features", counting)
    rec2, run_dir2 = _run(toy_bench, tmp_path / "b", "spectrum", C_grid=[0.01, 1.0], dct_grid=8)
    assert calls["n"] == 0  # every feature came from the content-hash cache
    assert rec2.metrics == rec.metrics
    pd.testing.assert_frame_equal(_preds(run_dir2), preds)
    _run(toy_bench, tmp_path / "c", "spectrum", C_grid=[0.01, 1.0], dct_grid=4)
    assert calls["n"] > 0  # a different feature config is a different cache key


def test_spectrum_rejects_a_bad_feature_kind(toy_bench, tmp_path):
    with pytest.raises(DfadError, match="features"):
        _run(toy_bench, tmp_path, "spectrum", features="wavelet")


# ----------------------------------------------------------------------------- cnn
def test_positional_transfer_checks_count_shape_and_kind():
    import timm

    from baselines.cnn.pretrained import TIMM_ARCH, load_by_position

    dst = timm.create_model(TIMM_ARCH, num_classes=10)
    # Foreign names, shifted values: a successful load must put each value at its position.
    renamed = {f"_other.{i}.{k.rsplit('.', 1)[-1]}": (v + 1 if v.is_floating_point() else v.clone())
               for i, (k, v) in enumerate(dst.state_dict().items())}
    assert load_by_position(dst, renamed, "test") == 247
    assert all(torch.equal(a, b) for a, b in zip(dst.state_dict().values(), renamed.values(), strict=True))

    with pytest.raises(DfadError, match="tensors in the weights file"):
        load_by_position(dst, dict(list(renamed.items())[:-1]), "test")
    keys = list(renamed)
    swapped = dict(renamed)
    swapped[keys[0]] = renamed[keys[0]][:, :, :2]  # conv stem with a wrong kernel
    with pytest.raises(DfadError, match=r"1 of 247 .*#0"):
        load_by_position(dst, swapped, "test")
    items = list(renamed.items())
    i = next(j for j, k in enumerate(keys) if k.endswith("running_mean"))
    items[i], items[i + 1] = items[i + 1], items[i]  # running_var stored before running_mean: same shape, wrong kind
    with pytest.raises(DfadError, match="shape or kind"):
        load_by_position(dst, dict(items), "test")


def test_cnn_runs_unseen_flow_deterministically_with_val_selected_epoch(toy_bench, tmp_path):
    cfg = {"pretrained": False, "image_size": 24, "epochs": 2, "patience": 2, "batch_size": 48}
    rec, run_dir = _run(toy_bench, tmp_path / "a", "cnn", **cfg)
    hist = rec.training["history_"]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert rec.training["best_epoch_"] == 1 + int(np.argmax([h["val_score"] for h in hist]))
    assert "val" in rec.selection_rule
    assert np.stack(_preds(run_dir)["embedding"]).shape[1] == 1280
    rec2, run_dir2 = _run(toy_bench, tmp_path / "b", "cnn", **cfg)
    assert rec2.metrics == rec.metrics
    pd.testing.assert_frame_equal(_preds(run_dir2), _preds(run_dir))


@pytest.mark.slow
def test_real_lite0_weights_classify_public_domain_photos():
    """The one test that fetches (once, then cached in the user cache): all 247 tensors map and the
    network gives the expected ImageNet top-1 on three public-domain photos shipped with packages."""
    import os

    import matplotlib
    import platformdirs
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from baselines.cnn.pretrained import INPUT_MEAN, INPUT_STD, TIMM_ARCH, fetch_weights, load_by_position

    cache = Path(os.environ.get("DFAD_BENCH_ASSETS_CACHE", platformdirs.user_cache_dir("dfad-bench"))) / "assets"
    try:
        path = fetch_weights(cache)
    except DfadError as exc:  # no network and nothing cached: nothing to check here
        pytest.skip(f"EfficientNet-Lite0 weights unavailable: {exc}")
    import timm

    model = timm.create_model(TIMM_ARCH, num_classes=1000).eval()
    assert load_by_position(model, torch.load(path, map_location="cpu", weights_only=True), "lite0") == 247
    photos = [Image.fromarray(a) for a in load_sample_images().images]  # china.jpg, flower.jpg
    photos.append(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))

    def centre(im: Image.Image) -> np.ndarray:
        w, h = im.size
        s = min(w, h)
        box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
        return np.asarray(im.crop(box).resize((224, 224), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0

    x = torch.from_numpy(np.stack([centre(p) for p in photos])).permute(0, 3, 1, 2)
    x = (x - torch.tensor(INPUT_MEAN).view(1, 3, 1, 1)) / torch.tensor(INPUT_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        top1 = model(x).argmax(1).tolist()
    assert top1 == [698, 985, 652]  # palace, daisy, military uniform


# ----------------------------------------------------------------------------- gaze-only
class StubGaze:
    """A deterministic stand-in gaze encoder: angles from image statistics (so fakes, which the toy
    images draw noisier, look different), and dark images reported as 'no face'."""

    name = "stub-gaze"
    fingerprint = "stub-gaze-v1"
    feature_dim = 3

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def encode(self, images: np.ndarray) -> GazeOutput:
        x = np.asarray(images, dtype=np.float64) / 255.0
        std, mean = x.std(axis=(1, 2)).mean(axis=1), x.mean(axis=(1, 2, 3))
        left = np.column_stack([4 * std - 0.4, mean - 0.5])
        right = np.column_stack([4 * std - 0.4 + 2 * std**2, mean - 0.5])
        feats = np.column_stack([std, mean, x[..., 0].mean(axis=(1, 2))])
        valid = mean > 0.4
        return GazeOutput.build(left, right, feats, valid, ["ok" if v else "no_face" for v in valid])


@pytest.fixture
def stub_gaze(register_temporarily):
    return register_temporarily(gaze_base.GAZE_ENCODERS, "stub-gaze", f"{__name__}:StubGaze")


def test_gaze_table_flags_invalid_rows_and_imputes_train_means_not_zeros():
    from baselines.gaze_only.model import GAZE_COLUMNS, GazeOnlyModel, gaze_table

    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (200, 30, 180, 220)])  # the 2nd is 'no face'
    images[0, :4] = 120
    out = StubGaze().encode(images)
    g = {"pitch": out.pitch, "yaw": out.yaw, "left": out.left, "right": out.right, "vector": out.vector,
         "valid": out.valid, "features": out.features}
    x, names = gaze_table(g, use_features=True)
    assert names[: len(GAZE_COLUMNS)] == list(GAZE_COLUMNS) and x.shape == (4, len(GAZE_COLUMNS) + 3)
    assert np.isnan(x[1, :12]).all() and np.isnan(x[1, len(GAZE_COLUMNS):]).all()
    assert x[1, names.index("gaze_valid")] == 0 and x[0, names.index("gaze_valid")] == 1
    incons = np.degrees(x[:, names.index("eye_inconsistency_rad")])
    assert np.isclose(incons[0], gaze_base.angular_error_deg(out.left[0], out.right[0])) and incons[0] > 0

    model = GazeOnlyModel()
    model.columns_ = names
    model.fit_preprocess(x, ctx=SimpleNamespace(log=lambda _m: None))
    filled = model.preprocess(x)
    assert np.isfinite(filled).all()
    col = names.index("pitch")
    assert np.isclose(filled[1, col], np.mean(x[[0, 2, 3], col])) and filled[1, col] != 0
    assert model.imputation_["train_invalid_gaze"] == 1 and model.imputation_["dropped_never_known"] == []


def test_gaze_only_runs_unseen_flow_with_a_stub_encoder(toy_bench, tmp_path, stub_gaze):
    rec, run_dir = _run(toy_bench, tmp_path / "a", "gaze-only", gaze=stub_gaze, alpha_grid=[1.0, 0.01], max_iter=200)
    _check_val_choices_recorded(rec, n_candidates=2)
    assert "invalid gaze" in rec.selection_rule and "train rows" in rec.selection_rule
    n_invalid = int(rec.selection_rule.split("invalid gaze: ")[1].split("/")[0])
    assert n_invalid > 0  # the stub's dark images reached training as flagged rows
    # The stub's angles carry the toy images' noise level, so unseen flow fakes are detectable.
    assert rec.metrics["detection_auc_mean_unseen"] > 0.8
    rec2, run_dir2 = _run(toy_bench, tmp_path / "b", "gaze-only", gaze=stub_gaze, alpha_grid=[1.0, 0.01], max_iter=200)
    assert rec2.metrics == rec.metrics
    pd.testing.assert_frame_equal(_preds(run_dir2), _preds(run_dir))

    rec3, run_dir3 = _run(toy_bench, tmp_path / "c", "gaze-only", gaze=stub_gaze, head="logistic", use_gaze_features=False,
                          C_grid=[0.1, 1.0])
    _check_val_choices_recorded(rec3, n_candidates=2)
    assert np.stack(_preds(run_dir3)["embedding"]).shape[1] == 14
    data = json.loads((run_dir3 / "record.json").read_text())
    assert data["model_config"]["head"] == "logistic"
