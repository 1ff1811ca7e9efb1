"""Fréchet distance per generator (dfad_bench.fidelity) and `dfad-bench analyze fidelity`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.fidelity import fidelity_table, frechet_distance
from dfad_bench.testing import tiny_clip_backbone, toy_manifest, write_toy_images


def _reference_fd(a: np.ndarray, b: np.ndarray) -> float:
    """Independent formula: tr sqrt(C_a C_b) = tr sqrt(C_a^1/2 C_b C_a^1/2) via symmetric eigendecompositions."""
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(ca)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(half @ cb @ half)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


def test_frechet_distance_matches_an_independent_formula_and_gaussian_theory() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) * 2.0 + 1.0
    assert frechet_distance(a, b) == pytest.approx(_reference_fd(a, b), rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # N(0, I) vs N(mu, 4 I) in d dims: |mu|^2 + d (1 + 4 - 2 * 2) = |mu|^2 + d
    x, y = rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3)) * 2.0 + np.array([1.0, 0.0, -1.0])
    assert frechet_distance(x, y) == pytest.approx(2.0 + 3.0, rel=0.03)


def test_frechet_distance_refuses_bad_shapes() -> None:
    with pytest.raises(DfadError, match="frechet_distance"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_fidelity_table_ranks_a_shifted_generator_worse_and_reports_the_floor() -> None:
    rng = np.random.default_rng(1)
    table = pd.DataFrame({
        "family": ["real"] * 400 + ["gan"] * 100 + ["diffusion"] * 100,
        "forgery_type": ["real"] * 400 + ["efs"] * 200,
        "generator": ["real"] * 400 + ["close"] * 100 + ["far"] * 100,
    })
    feats = rng.normal(size=(600, 4))
    feats[400:500] += 0.2
    feats[500:] += 2.0
    rows, floor = fidelity_table(table, feats, n=100, seed=0)
    by = {r.generator: r for r in rows}
    assert set(by) == {"close", "far"} and by["far"].fd > by["close"].fd > floor > 0
    assert by["far"].fd_over_floor == pytest.approx(by["far"].fd / floor)
    assert by["close"].family == "gan" and by["far"].n == 100
    with pytest.raises(DfadError, match="need at least 2 x n = 1000 pristine images"):
        fidelity_table(table, feats, n=500)


def test_cli_on_a_toy_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dfad_bench.cli import main

    table = toy_manifest(n_identities=30, images_per_identity=2, fakes_per_generator=8)
    write_toy_images(table, tmp_path / "bench", size=32)
    table.to_parquet(tmp_path / "bench" / "manifest.parquet", index=False)
    backbone = tiny_clip_backbone(tmp_path / "clip")
    out = tmp_path / "fidelity.json"
    main(["analyze", "fidelity", "--benchmark", str(tmp_path / "bench"), "--backbone", backbone, "--n", "8",
          "--output", str(out)])
    report = json.loads(out.read_text())
    fakes = table.loc[table["family"] != "real", "generator"]
    assert {r["generator"] for r in report["rows"]} == set(fakes)
    assert report["floor_fd_real_vs_real"] > 0 and all(r["n"] == 8 and np.isfinite(r["fd"]) for r in report["rows"])
    assert "FD / floor" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "fidelity", "--benchmark", str(tmp_path / "bench"), "--backbone", backbone, "--n", "1000"])
    assert exc.value.code == 2
