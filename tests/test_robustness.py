"""Robustness sweeps: perturbations (dfad_bench/perturbations.py) and ``dfad-bench robustness``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.perturbations import SWEEPS, Perturbation, get_sweep
from dfad_bench.records import load_record

SWEEP = get_sweep("robustness-v1")


def _image(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    smooth = (127 + 80 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None].repeat(3, axis=2)
    return np.clip(smooth + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)


def _high_freq_energy(img: np.ndarray) -> float:
    g = img.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def test_sweep_is_versioned_and_lists_every_kind():
    names = [p.name for p in SWEEP.perturbations]
    assert SWEEP.version == 1 and len(SWEEP.hash) == 64
    assert names == ["jpeg-95", "jpeg-75", "jpeg-50", "jpeg-30", "blur-1", "blur-2", "blur-4", "resize-0.5",
                     "resize-0.25", "noise-5", "noise-10", "noise-20", "social"]
    assert SWEEP.hash == get_sweep("robustness-v1").hash  # stable
    with pytest.raises(DfadError, match="unknown kind"):
        Perturbation("x", "sepia", 1)


def test_perturbations_are_deterministic_keep_size_and_change_pixels_as_expected():
    img = _image()
    for p in SWEEP.perturbations:
        a, b = p.apply(img, 0, "s1"), p.apply(img, 0, "s1")
        assert a.shape == img.shape and a.dtype == np.uint8, p.name
        assert np.array_equal(a, b), p.name  # deterministic per image
        assert not np.array_equal(a, img), p.name
    by = {p.name: p for p in SWEEP.perturbations}
    assert _diff(by["jpeg-30"].apply(img, 0, "s"), img) > _diff(by["jpeg-95"].apply(img, 0, "s"), img)
    energy = [_high_freq_energy(by[n].apply(img, 0, "s")) for n in ("blur-1", "blur-2", "blur-4")]
    assert _high_freq_energy(img) > energy[0] > energy[1] > energy[2]
    assert _diff(by["resize-0.25"].apply(img, 0, "s"), img) > _diff(by["resize-0.5"].apply(img, 0, "s"), img)
    noise = by["noise-10"]
    # noise is seeded by run seed and sample key: same key same noise, another key or seed other noise
    assert not np.array_equal(noise.apply(img, 0, "s1"), noise.apply(img, 0, "s2"))
    assert not np.array_equal(noise.apply(img, 0, "s1"), noise.apply(img, 1, "s1"))
    assert abs(float((noise.apply(img, 0, "s").astype(float) - img).std()) - 10) < 1.5


def test_unknown_sweep_is_one_line_with_did_you_mean():
    with pytest.raises(DfadError, match=r"did you mean robustness-v1\?") as err:
        get_sweep("robustnes-v1")
    assert "\n" not in str(err.value)
    assert list(SWEEPS) == ["robustness-v1"]


def test_unknown_sweep_on_the_command_line_leaves_nothing(make_toy_bench, tmp_path, capsys):
    from dfad_bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["robustness", "--model", "ref-stats", "--protocol", "closed", "--benchmark", str(make_toy_bench()),
              "--sweep", "robustnes-v1", "--results", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code != 0 and len(err.splitlines()) == 1 and "did you mean robustness-v1?" in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("record.json"))


RECORDER = '''
import hashlib
import numpy as np
from dfad_bench.contract import BaseModel, ModelCard, Predictions

CARD = ModelCard(name="recorder", factory="recorder_model:Recorder", description="records the pixels it is shown",
                 default_config={"batch_size": 16})
SEEN = []


def digest(view):
    return {i: hashlib.sha256(np.ascontiguousarray(b[k].numpy()).tobytes()).hexdigest()
            for ids, b in view.iter_images(16) for k, i in enumerate(ids)}


class Recorder(BaseModel):
    card = CARD

    def fit(self, train, val, ctx):
        SEEN.append(("fit-train", digest(train)))
        SEEN.append(("fit-val", digest(val)))
        return self

    def predict(self, data, ctx):
        d = digest(data)
        SEEN.append(("predict-" + data.role, d))
        return Predictions(list(data.ids), np.array([int(d[i][:8], 16) / 16**8 for i in data.ids]))
'''


@pytest.fixture
def recorder(model_from_source):
    return model_from_source("recorder_model", RECORDER)


def test_train_and_val_are_never_perturbed(recorder, make_toy_bench, tmp_path):
    from dfad_bench.robustness import robustness

    bench = str(make_toy_bench())
    run(RunOptions(model="recorder", protocol="closed", benchmark=bench, results_dir=tmp_path / "plain", quiet=True, n_bootstrap=0))
    plain = list(recorder.SEEN)
    recorder.SEEN.clear()
    robustness(RunOptions(model="recorder", protocol="closed", benchmark=bench, results_dir=tmp_path / "rob", quiet=True, n_bootstrap=0))
    rob = recorder.SEEN
    assert [r for r, _ in plain] == ["fit-train", "fit-val", "predict-val", "predict-test"]
    assert [r for r, _ in rob] == ["fit-train", "fit-val", "predict-val", *["predict-test"] * (1 + len(SWEEP.perturbations))]
    assert rob[:4] == plain  # fit saw the clean train and val, val and test were predicted clean first
    clean_test = plain[3][1]
    for (_, seen), p in zip(rob[4:], SWEEP.perturbations, strict=True):
        assert seen.keys() == clean_test.keys()
        changed = sum(seen[i] != clean_test[i] for i in seen)
        assert changed == len(seen), p.name  # every test image perturbed


def test_robustness_command_end_to_end_and_clean_auc_equals_run(make_toy_bench, tmp_path, capsys):
    from dfad_bench.cli import main
    from dfad_bench.robustness import PLOT, PREDICTIONS, TABLE_CSV, TABLE_MD
    from dfad_bench.tables.boards import build_board

    bench = str(make_toy_bench())
    try:
        main(["robustness", "--model", "ref-stats", "--protocol", "closed", "--benchmark", bench, "--seed", "1",
              "--results", str(tmp_path / "rob"), "--n-bootstrap", "0", "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capsys.readouterr().out
    record_path = next((tmp_path / "rob").rglob("record.json"))
    run_dir = record_path.parent
    assert "record: " in out and "jpeg-30" in out
    for name in (PLOT, PREDICTIONS, TABLE_CSV, TABLE_MD):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raw = json.loads(record_path.read_text())
    block = raw["robustness"]
    assert block["sweep"] == "robustness-v1" and block["sweep_hash"] == SWEEP.hash and block["spec"] == SWEEP.to_dict()
    assert [r["perturbation"] for r in block["results"]] == ["clean", *(p.name for p in SWEEP.perturbations)]
    aucs = [r["auc"] for r in block["results"][1:]]
    assert block["mean_auc"] == pytest.approx(np.mean(aucs))
    table = pd.read_csv(run_dir / TABLE_CSV)
    assert len(table) == 1 + len(SWEEP.perturbations)
    kept = pd.read_parquet(run_dir / PREDICTIONS)
    assert set(kept.columns) == {"perturbation", "sample_id", "fake_score"}
    n_test = raw["split_counts"]["test"]
    assert len(kept) == n_test * len(SWEEP.perturbations)

    # rescore recomputes the sweep from the kept predictions, and sees a changed one
    from dfad_bench.rescore import rescore

    report = rescore(tmp_path / "rob")
    assert report.ok, report.summary()
    flipped = kept.assign(fake_score=np.where(kept["perturbation"] == "jpeg-30", 1 - kept["fake_score"], kept["fake_score"]))
    flipped.to_parquet(run_dir / PREDICTIONS, index=False)
    keys = {d.key for d in rescore(tmp_path / "rob").differences}
    assert "robustness.results[4].auc" in keys and "robustness.mean_auc" in keys
    assert not any(k.startswith("metrics.") for k in keys)
    kept.to_parquet(run_dir / PREDICTIONS, index=False)

    record, plain_dir = run(RunOptions(model="ref-stats", protocol="closed", benchmark=bench, seed=1, results_dir=tmp_path / "plain",
                               quiet=True, n_bootstrap=0))
    assert block["results"][0]["auc"] == record.metrics["detection"]["auc"]
    assert raw["metrics"]["detection"] == record.metrics["detection"]
    assert record.robustness is None and "robustness" not in record.to_dict()
    assert load_record(plain_dir / "record.json").robustness is None  # a record without a sweep still loads

    # The board: a robustness column from the metric table, "—" for a run without a sweep.
    rob_rec = load_record(record_path)
    board = build_board([rob_rec], "closed")
    frame = board.to_frame()
    assert frame["robustness_auc_mean"].iloc[0] == pytest.approx(block["mean_auc"])
    plain_board = build_board([record], "closed").to_frame()
    assert "robustness_auc_mean" not in plain_board.columns  # no run has a sweep: no column


def test_board_shows_dash_for_runs_without_a_sweep(make_toy_bench, tmp_path):
    from dfad_bench.metrics.table import get_metric
    from dfad_bench.tables.boards import build_board
    from dfad_bench.tables.render import MISSING, _display_frame

    bench = str(make_toy_bench())
    rec, _ = run(RunOptions(model="ref-stats", protocol="closed", benchmark=bench, results_dir=tmp_path / "a", quiet=True, n_bootstrap=0))
    other = type(rec).from_dict({**rec.to_dict(), "model_config": {**rec.model_config, "C": 0.5}, "robustness": {
        "sweep": SWEEP.name, "sweep_hash": SWEEP.hash, "mean_auc": 0.75}}, path=rec.path)
    spec = get_metric("robustness_auc")
    assert spec.lookup(other.raw) == (True, 0.75) and spec.lookup(rec.raw) == (False, None)
    shown = _display_frame(build_board([rec, other], "closed"), "md")
    assert sorted(shown[spec.name]) == sorted(["75.0", MISSING]) or sorted(shown[spec.name]) == sorted(["**75.0**", MISSING])


def test_perturbed_view_has_own_cache_keys_and_perturbs_before_resize(tmp_path):
    from PIL import Image

    from dfad_bench.contract import DataView
    from dfad_bench.harness.images import make_loader_factory
    from dfad_bench.harness.views import perturbed_view
    from dfad_bench.perturbations import BoundPerturbation

    img = _image(size=32)
    Image.fromarray(img).save(tmp_path / "a.png")
    clean = DataView(["id1"], "test", None, make_loader_factory("cpu", 0), sources=[str(tmp_path / "a.png")],
                     cache_keys=["hash-a"], input_size=16)
    p = Perturbation("resize-0.5", "resize", 0.5)
    view = perturbed_view(clean, make_loader_factory("cpu", 0, BoundPerturbation(p, 0, {"id1": "s1"})), p.key)
    assert view.ids == clean.ids and view._cache_keys != clean._cache_keys  # a feature cache never mixes them
    got = view.load_all()[0]
    expected = np.asarray(Image.fromarray(p.apply(img, 0, "s1")).resize((16, 16), Image.Resampling.BICUBIC))
    assert got.shape == (16, 16, 3) and np.array_equal(got, expected)  # perturbed at full size, then resized
    assert not np.array_equal(got, clean.load_all()[0])


def test_clip_linear_with_a_warm_feature_cache_scores_perturbed_images_not_clean_ones(make_toy_bench, tmp_path, monkeypatch):
    """A frozen encoder's feature cache, warmed by a plain run, must not hand the sweep clean features."""
    import torch

    from dfad_bench.robustness import PREDICTIONS, robustness
    from dfad_bench.testing import tiny_clip_backbone

    monkeypatch.setenv("DFAD_BENCH_CACHE", str(tmp_path / "cache"))  # shared by both runs below
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
        backbone = tiny_clip_backbone(tmp_path / "clip", name="dfad-test-clip-robustness", config=cfg)
        bench = str(make_toy_bench())

        def opts(results):
            return RunOptions(model="clip-linear", protocol="closed", benchmark=bench, results_dir=tmp_path / results, quiet=True,
                              overrides={"backbone": backbone, "C_grid": [1.0]}, n_bootstrap=0, device="cpu")

        plain, plain_dir = run(opts("plain"))
        record, run_dir = robustness(opts("rob"))
    finally:
        torch.set_num_threads(threads)
    assert record.robustness["results"][0]["auc"] == plain.metrics["detection"]["auc"]
    clean = pd.read_parquet(plain_dir / "predictions.parquet")
    clean = clean.loc[clean["role"] == "test", ["sample_id", "fake_score"]].set_index("sample_id")["fake_score"]
    kept = pd.read_parquet(run_dir / PREDICTIONS)
    for name, group in kept.groupby("perturbation"):
        scores = group.set_index("sample_id")["fake_score"].reindex(clean.index)
        assert not np.allclose(scores.to_numpy(), clean.to_numpy()), name
