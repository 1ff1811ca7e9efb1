"""End-to-end harness tests on tiny images: run, record, determinism, resume, bad inputs."""

import json
import sys

import pandas as pd
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.harness.runner import RunOptions, parse_overrides, run
from dfad_bench.registry import MODELS

REQUIRED_RECORD_KEYS = {
    "run_id", "model", "model_config", "protocol", "protocol_version", "protocol_hash", "benchmark", "manifest_hash",
    "seed", "selection_rule", "git", "versions", "hardware", "timings", "metrics", "bad_inputs",
}


@pytest.fixture(scope="module")
def toy_bench(make_toy_bench):
    return make_toy_bench(n_identities=40, images_per_identity=2, fakes_per_generator=24, size=24)


def test_ref_stats_run_writes_a_complete_record_and_is_deterministic(toy_bench, tmp_path):
    opts = RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(toy_bench), results_dir=tmp_path, quiet=True, n_bootstrap=20)
    rec, run_dir = run(opts)
    data = json.loads((run_dir / "record.json").read_text())
    assert REQUIRED_RECORD_KEYS <= set(data)
    assert {"detection_auc_mean_unseen", "attribution_acc_family", "per_generator", "per_family"} <= set(data["metrics"])
    assert data["metrics"]["detection_auc_mean_unseen"] is not None
    assert {"fit_seconds", "predict_seconds", "predict_images_per_second"} <= set(data["timings"])
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert set(preds["role"]) == {"val", "test"}
    rec2, _ = run(opts)
    assert rec2.metrics == rec.metrics


def test_ref_cnn_resumes_after_interruption(toy_bench, tmp_path, interrupted_after_checkpoint):
    opts = RunOptions(model="ref-cnn", protocol="unseen-gan", benchmark=str(toy_bench), results_dir=tmp_path, quiet=True,
                      overrides={"epochs": 3, "patience": 5, "batch_size": 32}, n_bootstrap=10)
    full, _ = run(RunOptions(**{**opts.__dict__, "results_dir": tmp_path / "uninterrupted"}))

    with interrupted_after_checkpoint():
        run(opts)
    assert not list(tmp_path.glob("unseen-gan/**/record.json"))
    resumed, run_dir = run(opts)
    assert (run_dir / "record.json").exists()
    assert len(resumed.training["history_"]) == 3
    assert resumed.metrics == full.metrics


def test_bad_image_is_reported_not_replaced(toy_bench, tmp_path):
    import shutil

    root = tmp_path / "bench"
    shutil.copytree(toy_bench.parent, root)
    table = pd.read_parquet(root / "manifest.parquet")
    victim = table[table.generator == "toy-gan-a"].iloc[0]
    (root / victim.path).write_bytes(b"not an image")
    rec, _ = run(RunOptions(model="ref-stats", protocol="closed", benchmark=str(root / "manifest.parquet"), results_dir=tmp_path / "r", quiet=True, n_bootstrap=10))
    assert [b["sample_id"] for b in rec.bad_inputs] == [victim.sample_id]
    assert "not a decodable image" in rec.bad_inputs[0]["reason"]


def test_duplicate_bytes_across_train_and_test_refuse_to_run(toy_bench, tmp_path):
    import shutil

    from dfad_bench.errors import LeakageError

    root = tmp_path / "bench"
    shutil.copytree(toy_bench.parent, root)
    table = pd.read_parquet(root / "manifest.parquet")
    reals = table[table.generator == "real"]
    # copy every real image's bytes onto the next identity's image: some pair will straddle train/test
    for a, b in zip(reals.path.iloc[::2], reals.path.iloc[1::2].iloc[::-1], strict=False):
        (root / b).write_bytes((root / a).read_bytes())
    with pytest.raises(LeakageError, match="identical image bytes"):
        run(RunOptions(model="ref-stats", protocol="closed", benchmark=str(root / "manifest.parquet"), results_dir=tmp_path / "r", quiet=True))


def test_overrides_and_registry_errors():
    assert parse_overrides(["gazeclip.gaze=false", "lr=1e-3", "name=abc"], "gazeclip") == {"gaze": False, "lr": 1e-3, "name": "abc"}
    with pytest.raises(DfadError, match="did you mean ref-cnn"):
        MODELS.card("ref-cn")
    with pytest.raises(DfadError, match="no such option"):
        run(RunOptions(model="ref-stats", protocol="closed", benchmark="x.csv", overrides={"nope": 1}))


def test_listing_models_imports_no_torch():
    import subprocess

    code = "import sys; from dfad_bench.registry import list_models; list_models(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_preflight_fails_fast_on_unavailable_backbone(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from dfad_bench.harness.preflight import preflight

    card = MODELS.card("gazeclip")  # declares encoders backbone (backbone) and gaze (gaze)

    # Warm-up: module imports (torch, open_clip) are not what is measured, the hub failure is.
    with pytest.raises(DfadError):
        preflight(card, {"backbone": "ViT-B-16:openai"})
    t0 = time.perf_counter()
    with pytest.raises(DfadError, match="ViT-B-16:openai"):
        preflight(card, {"backbone": "ViT-B-16:openai"})
    assert time.perf_counter() - t0 < 2.0
    with pytest.raises(DfadError, match="did you mean gaze-mini"):
        preflight(card, {"gaze": "gaze-mnii"})
    with pytest.raises(DfadError, match="weights file not found"):
        preflight(card, {"backbone": f"clip-mini:{tmp_path / 'missing.safetensors'}"})


def test_predictions_from_attribution_scores_fakes_as_one_minus_p_real() -> None:
    import numpy as np

    from dfad_bench.contract import Predictions

    fam = np.array([[0.9, 0.1], [0.2, 0.8], [1.0 + 1e-9, 0.0]])
    gen = np.array([[1.0], [1.0], [1.0]])
    p = Predictions.from_attribution(["a", "b", "c"], (("real", "gan"), fam), (("g1",), gen))
    np.testing.assert_allclose(p.fake_score, [0.1, 0.8, 0.0])  # clipped to [0, 1]
    assert p.family_classes == ("real", "gan") and p.generator_probs is gen
    with pytest.raises(DfadError, match="no 'real' class"):
        Predictions.from_attribution(["a"], (("gan", "diffusion"), fam[:1]), (("g1",), gen[:1]))


def test_run_summary_shows_attribution_on_unseen_classes() -> None:
    from types import SimpleNamespace

    from dfad_bench.harness.runner import summarize

    metrics = {
        "detection_auc_mean_unseen": 0.9, "detection_auc_mean": 0.95, "attribution_acc_family": 0.6,
        "attribution_acc_generator": 0.5, "detection": {"acc_val_threshold": 0.8},
        "attribution": {"family": {"n_unseen": 10, "acc_seen": 0.8, "acc_unseen": 0.1},
                        "generator": {"n_unseen": 0, "acc_seen": 0.5, "acc_unseen": None}},
        "per_generator": {"g1": {"seen": False, "auc": 0.9}},
    }
    timings = {"fit_seconds": 1.0, "predict_seconds": 2.0, "predict_images_per_second": 10.0}
    rows = dict(summarize(SimpleNamespace(metrics=metrics, timings=timings)))
    assert rows["attribution ACC (family)"] == "0.6000"
    assert rows["  seen / unseen classes"] == "0.8000 / 0.1000"  # family only: no unseen generator class
    assert rows["  AUC g1 (unseen)"] == "0.9000"
