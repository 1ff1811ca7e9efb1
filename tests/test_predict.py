"""Export of a fitted model into its run folder, and `predict` with it on new images."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs
import pytest
import torch
from PIL import Image

from dfad_bench.errors import DfadError
from dfad_bench.harness.export import EXPORT_DIR, EXPORT_FILE, WEIGHTS_FILE
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.testing import register_colour_stats_gaze, tiny_clip_backbone

FIXTURES = Path(__file__).parent / "fixtures"
STUB = register_colour_stats_gaze()


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> str:
    cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    return tiny_clip_backbone(tmp_path_factory.mktemp("predict_cfg"), name="predict-test-tiny", config=cfg)


@pytest.fixture(scope="module")
def bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=20, images_per_identity=2, fakes_per_generator=10, size=32)


@pytest.fixture(scope="module")
def runs(bench, backbone, tmp_path_factory) -> dict[str, Path]:
    results = tmp_path_factory.mktemp("predict_results")
    out = {}
    for model, cfg in (("clip-linear", {"backbone": backbone, "C_grid": [1.0]}),
                       ("gazeclip", {"backbone": backbone, "gaze": STUB, "epochs": 1, "batch_size": 32})):
        _, out[model] = run(RunOptions(model=model, protocol="unseen-flow", benchmark=str(bench), results_dir=results,
                                       overrides=cfg, quiet=True, n_bootstrap=5))
    return out


def _bench_images(bench: Path, sample_ids: list[str]) -> list[np.ndarray]:
    table = pd.read_parquet(bench).set_index("sample_id")
    return [np.asarray(Image.open(bench.parent / table.loc[s, "path"]).convert("RGB")) for s in sample_ids]


@pytest.mark.parametrize("model", ["clip-linear", "gazeclip"])
def test_run_exports_and_the_export_reproduces_val_predictions(runs, bench, model) -> None:
    """The exported model, loaded in a fresh object, gives the run's own val scores (val was
    predicted in the seen-only context the export keeps)."""
    import dfad_bench

    run_dir = runs[model]
    info = json.loads((run_dir / EXPORT_DIR / EXPORT_FILE).read_text())
    record = json.loads((run_dir / "record.json").read_text())
    assert info["run_id"] == record["run_id"] and info["threshold"] == record["threshold"]
    assert info["train_image_size"] == [32, 32] and (run_dir / EXPORT_DIR / WEIGHTS_FILE).is_file()
    assert set(info["label_spaces"]["generator"]["unseen"]) == set()  # seen-only context: nothing unseen exported
    stored = pd.read_parquet(run_dir / "predictions.parquet")
    val = stored[stored["role"] == "val"].head(12)
    det = dfad_bench.load_detector(run_dir, faces=False)
    got = det.predict(_bench_images(bench, val["sample_id"].tolist()))
    assert len(got) == len(val)
    np.testing.assert_allclose(got["fake_prob"].to_numpy(), val["fake_score"].to_numpy(), rtol=1e-5, atol=1e-6)
    t = record["threshold"]["val"]
    assert (got["decision"] == np.where(val["fake_score"].to_numpy() >= t, "fake", "real")).all()
    assert got["family_1"].notna().all() and got["generator_1"].notna().all()
    assert ("gaze_pitch" in got.columns) == (model == "gazeclip")


def test_changed_weights_are_refused(runs, tmp_path) -> None:
    import shutil

    from dfad_bench.predict import load_detector

    copy = tmp_path / "run"
    shutil.copytree(runs["clip-linear"], copy)
    with open(copy / EXPORT_DIR / WEIGHTS_FILE, "ab") as f:
        f.write(b"x")
    with pytest.raises(DfadError, match="changed since export"):
        load_detector(copy)
    with pytest.raises(DfadError, match="no exported model"):
        load_detector(tmp_path)


def test_candidates_need_an_open_vocabulary_model(runs) -> None:
    from dfad_bench.predict import load_detector

    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(DfadError, match="closed-set"):
        load_detector(runs["clip-linear"], faces=False).predict([img], candidates="sd3")
    got = load_detector(runs["gazeclip"], faces=False).predict([img], candidates="sd3,my-gen=gan/efs")
    assert {"candidate:sd3", "candidate:my-gen"} <= set(got.columns)
    with pytest.raises(DfadError, match="unknown generator 'sdx'; did you mean"):
        load_detector(runs["gazeclip"], faces=False).predict([img], candidates="sdx")


def _asset_folder() -> str:
    return os.environ.get("DFAD_BENCH_TEST_ASSETS") or str(Path(platformdirs.user_cache_dir("dfad-bench")) / "test-assets")


@pytest.mark.assets
def test_predict_cli_on_mixed_size_photos(runs, tmp_path, monkeypatch) -> None:
    """Real, redistributable photos at several sizes, a flat grey image (no face) and a corrupt
    file: one row each; faces found by MTCNN, the rest centre-cropped or reported."""
    from typer.testing import CliRunner

    from dfad_bench.cli import app
    from dfad_bench.perception.assets import prefetch_assets

    monkeypatch.setenv("DFAD_BENCH_ASSETS", str(prefetch_assets(_asset_folder(), ["mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"])))
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        img = Image.open(FIXTURES / name).convert("RGB")
        for scale in (0.5, 1.0, 1.7):
            img.resize((int(img.width * scale), int(img.height * scale))).save(photos / f"{Path(name).stem}-{scale}.png")
    Image.fromarray(np.full((90, 160, 3), 128, np.uint8)).save(photos / "grey.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "preds.csv"
    result = CliRunner().invoke(app, ["predict", "--run", str(runs["gazeclip"]), str(photos), "--output", str(out),
                                      "--candidates", "sd3"])
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out).set_index("input")
    assert len(got) == 8
    names = {Path(p).name: p for p in got.index}
    faces = got.loc[[names[f"{s}-{k}.png"] for s in ("astronaut", "grace_hopper") for k in (0.5, 1.0, 1.7)], "face"]
    assert (faces == "found").all()
    assert got.loc[names["grey.png"], "face"] == "not found" and got.loc[names["grey.png"], "decision"] in ("fake", "real")
    assert "not a decodable image" in got.loc[names["broken.jpg"], "error"] and pd.isna(got.loc[names["broken.jpg"], "fake_prob"])
    assert got["candidate:sd3"].notna().sum() == 7 and got["gaze_pitch"].notna().sum() == 7
