"""The metric table: a metric is one entry plus its function; protocol groups decide what is
computed and shown; report, board and run summary read the same entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dfad_bench.errors import DfadError
from dfad_bench.harness.runner import RunOptions, run, summarize
from dfad_bench.metrics.table import (
    MetricInputs,
    MetricSpec,
    metric_specs,
    register_metric,
    unregister_metric,
)
from dfad_bench.protocol import get_protocol
from dfad_bench.rescore import rescore
from dfad_bench.tables import build_board, leaderboard, load_records


@pytest.fixture(scope="module")
def bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=30, images_per_identity=2, fakes_per_generator=16, size=24)


def _mean_fake_score(run: MetricInputs) -> float | None:
    return float(run.scores[run.is_fake].mean()) if run.is_fake.any() else None


TOY = MetricSpec("mean_fake_score", ("metrics", "mean_fake_score"), "Mean fake score", None, "detection",
                 long_name="mean fake score", compute=_mean_fake_score)


def test_toy_metric_is_one_entry_plus_its_function(bench: Path, tmp_path: Path) -> None:
    register_metric(TOY)
    try:
        with pytest.raises(DfadError, match="is already registered"):
            register_metric(TOY)
        record, run_dir = run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench),
                                         results_dir=tmp_path, quiet=True, n_bootstrap=10))
        preds = pd.read_parquet(run_dir / "predictions.parquet")
        test = preds[preds["role"] == "test"]
        expected = test.loc[test["is_fake"], "fake_score"].mean()
        assert record.metrics["mean_fake_score"] == pytest.approx(expected)  # computed into the record
        assert dict(summarize(record))["mean fake score"] == f"{expected:.4f}"  # the run summary
        text = leaderboard(tmp_path, None, "md")
        assert "| Mean fake score |" in text and f"{expected * 100:.1f}" in text  # a board column
        assert rescore(tmp_path).ok
    finally:
        unregister_metric(TOY.id)
    assert TOY.id not in {s.id for s in metric_specs()}


def _protocol_without(tmp_path: Path, group: str) -> Path:
    raw = dict(get_protocol("unseen-flow").raw)
    raw["name"] = f"no-{group.replace('_', '-')}"
    raw["metrics"] = [g for g in raw["metrics"] if g != group]
    path = tmp_path / f"{raw['name']}.v1.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_protocol_metric_groups_decide_what_is_computed_and_shown(bench: Path, tmp_path: Path) -> None:
    full, _ = run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench), results_dir=tmp_path / "a",
                             quiet=True, n_bootstrap=10))
    assert full.metrics["clustering"]["generator"] is not None  # ref-stats has embeddings
    assert "Cluster ACC (unseen gen.)" in [c.name for c in build_board(load_records(tmp_path / "a"), "unseen-flow").columns]

    proto = _protocol_without(tmp_path, "clustering")
    rec, _ = run(RunOptions(model="ref-stats", protocol=str(proto), benchmark=str(bench), results_dir=tmp_path / "b",
                            quiet=True, n_bootstrap=10))
    assert "clustering" not in rec.metrics and rec.scoring["metric_groups"] == [
        "detection", "attribution", "open_set", "bootstrap"]
    board = build_board(load_records(tmp_path / "b"), "no-clustering")
    assert not any(c.group == "clustering" for c in board.columns)
    assert "Cluster ACC" not in leaderboard(tmp_path / "b", None, "md")
    assert rescore(tmp_path / "b").ok

    proto = _protocol_without(tmp_path, "bootstrap")
    rec, _ = run(RunOptions(model="ref-stats", protocol=str(proto), benchmark=str(bench), results_dir=tmp_path / "c",
                            quiet=True, n_bootstrap=10))
    assert not any(k.endswith("_ci") for k in rec.metrics) and "clustering" in rec.metrics


def test_every_display_reads_the_table() -> None:
    ids = [s.id for s in metric_specs()]
    assert ids[:2] == ["auc_mean_unseen", "auc_mean"] and "images_per_second" in ids
    ips = next(s for s in metric_specs() if s.id == "images_per_second")
    assert not ips.ranked  # machine-dependent: never ranked
    with pytest.raises(DfadError, match="unknown group"):
        MetricSpec("x", ("metrics", "x"), "X", True, "vibes")
    with pytest.raises(DfadError, match="lives at"):
        MetricSpec("x", ("timings", "x"), "X", True, "detection", compute=lambda run: 0.0)
    assert np.isclose(ips.rounded(12.345), 12.3)
