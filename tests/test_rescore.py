"""``dfad-bench rescore``: a fresh record rescores with 0 differences; edits are reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from dfad_bench.cli import main
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.records import load_records
from dfad_bench.rescore import rescore
from dfad_bench.testing import toy_manifest, write_toy_images

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rescore")
    table = toy_manifest(n_identities=30, images_per_identity=2, fakes_per_generator=16)
    write_toy_images(table, root / "bench", size=24)
    table.to_parquet(root / "bench" / "manifest.parquet", index=False)
    _, run_dir = run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(root / "bench" / "manifest.parquet"),
                                results_dir=root / "results", quiet=True, n_bootstrap=25))
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "results" / run_dir.name
    shutil.copytree(run_dir, dest)
    return dest


def _cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    return int(exc.value.code or 0), capsys.readouterr().out


def test_fresh_run_rescores_with_zero_differences(fresh_run: Path, tmp_path: Path, capsys) -> None:
    preds = pd.read_parquet(fresh_run / "predictions.parquet")
    assert {"role", "generator", "family", "forgery_type", "is_fake", "generator_seen", "family_seen"} <= set(preds.columns)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(fresh_run / "predictions.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    report = rescore(fresh_run.parent)
    assert report.ok and report.n_records == 1, report
    code, out = _cli(["rescore", str(fresh_run.parent)], capsys)
    assert code == 0 and out.strip().splitlines() == ["rescore: 1 record(s), 0 difference(s), 0 record(s) not rescoreable"]


def test_hand_edited_metric_is_reported(fresh_run: Path, tmp_path: Path, capsys) -> None:
    run_dir = _copy(fresh_run, tmp_path)
    path = run_dir / "record.json"
    rec = json.loads(path.read_text())
    stored = rec["metrics"]["detection_auc_mean_unseen"]
    rec["metrics"]["detection_auc_mean_unseen"] = 0.999
    path.write_text(json.dumps(rec))
    report = rescore(tmp_path / "results")
    assert [(d.key, d.stored) for d in report.differences] == [("metrics.detection_auc_mean_unseen", 0.999)]
    assert report.differences[0].recomputed == pytest.approx(stored)
    code, out = _cli(["rescore", str(tmp_path / "results")], capsys)
    assert code == 1 and "metrics.detection_auc_mean_unseen: stored 0.999" in out


def test_edited_label_column_is_reported(fresh_run: Path, tmp_path: Path) -> None:
    run_dir = _copy(fresh_run, tmp_path)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    test_fake = preds.index[(preds["role"] == "test") & preds["is_fake"]][0]
    preds.loc[test_fake, "is_fake"] = False  # a fake relabelled real
    preds.to_parquet(run_dir / "predictions.parquet", index=False)
    keys = [d.key for d in rescore(tmp_path / "results").differences]
    assert keys[0] == "predictions.labels_hash"
    assert any(k.startswith("metrics.") for k in keys)


def test_record_without_predictions_is_not_a_pass(fresh_run: Path, tmp_path: Path, capsys) -> None:
    run_dir = _copy(fresh_run, tmp_path)
    (run_dir / "predictions.parquet").unlink()
    report = rescore(tmp_path / "results")
    assert not report.ok and "predictions file predictions.parquet is missing" in report.problems[0]
    code, _ = _cli(["rescore", str(tmp_path / "results")], capsys)
    assert code == 1


def test_committed_board_rescores() -> None:
    """CI: every committed record with predictions rescores identically."""
    root = REPO / "leaderboards" / "records"
    if not root.is_dir() or not any(r.predictions for r in load_records(root)):
        pytest.skip("leaderboards/records holds no record with predictions yet (the board is re-run with schema 2)")
    report = rescore(root)
    assert report.ok, "\n".join([*report.problems, *map(str, report.differences)][:20])


def test_sealed_submission_record_rescores(tmp_path: Path) -> None:
    """submit's path (plug-in in the sealed child) stores labelled predictions too, and its
    isolation; the board marks it only when it ran unsealed."""
    from dfad_bench.harness.submit import run_sealed

    table = toy_manifest(n_identities=30, images_per_identity=2, fakes_per_generator=16)
    write_toy_images(table, tmp_path / "bench", size=24)
    table.to_parquet(tmp_path / "bench" / "manifest.parquet", index=False)
    rec, _ = run_sealed(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(tmp_path / "bench" / "manifest.parquet"),
                                   results_dir=tmp_path / "results", quiet=True, n_bootstrap=10))
    assert rec.isolation != "in-process (trusted run)"
    assert rescore(tmp_path / "results").ok
    from dfad_bench.tables import build_board, load_records

    (row,) = build_board(load_records(tmp_path / "results"), "unseen-flow").rows
    sealed = rec.isolation.startswith("sealed ")  # bubblewrap present: sealed; else "unsealed (<why>)"
    assert row.label == ("ref-stats" if sealed else "ref-stats (unsealed)")


def test_embeddings_are_stored_and_scored_as_float16() -> None:
    """What a run scores is exactly what it stores: embeddings are cast to float16 before scoring."""
    import numpy as np
    import pandas as pd

    from dfad_bench.harness.runner import compact_embeddings

    frame = pd.DataFrame({"sample_id": ["a", "b"], "fake_score": [0.1, 0.9]})
    frame["embedding"] = [np.array([0.1234567, 1.0], np.float32), np.array([0.5, -2.0], np.float32)]
    out = compact_embeddings(frame)
    assert all(v.dtype == np.float16 for v in out["embedding"])
    assert out["embedding"][0][0] == np.float16(0.1234567) != np.float32(0.1234567)
    assert frame["embedding"][0].dtype == np.float32  # the input is not modified
    assert compact_embeddings(frame.drop(columns=["embedding"])).equals(frame.drop(columns=["embedding"]))
