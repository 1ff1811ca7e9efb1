"""Cross-dataset protocol: train/val from a toy benchmark, test on a folder-tree fixture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dfad_bench.errors import DfadError, LeakageError
from dfad_bench.harness.runner import RunOptions, run


def _img(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(1000 + seed).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def folder_bench(tmp_path) -> Path:
    root = tmp_path / "other"
    rels = [f"real/r{i}.png" for i in range(6)] + [f"gan/toy-gan-a/g{i}.png" for i in range(4)] + \
           [f"diffusion/ddpm/d{i}.png" for i in range(4)] + [f"flow/toy-flow-a/f{i}.png" for i in range(3)]
    for i, rel in enumerate(rels):
        _img(root / rel, i)
    (root / "generators.yaml").write_text("generators:\n  - {name: toy-gan-a, family: gan, forgery_type: efs}\n"
                                          "  - {name: toy-flow-a, family: flow, forgery_type: efs}\n")
    return root


def _opts(bench: Path, test: str, results: Path) -> RunOptions:
    return RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench), test_benchmark=test,
                      results_dir=results, quiet=True, n_bootstrap=5)


def test_train_on_toy_test_on_folder_tree(make_toy_bench, folder_bench, tmp_path):
    bench = make_toy_bench()
    (folder_bench / "real" / "zero.png").write_bytes(b"")
    (folder_bench / "real" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 8)
    _img(folder_bench / "gan" / "stylegna2" / "u.png", 99)
    rec, run_dir = run(_opts(bench, f"folder:{folder_bench}", tmp_path / "r"))
    raw = json.loads((run_dir / "record.json").read_text())
    reasons = {Path(b["path"]).name: b["reason"] for b in raw["bad_inputs"]}  # reported; the rest ran
    assert set(reasons) == {"zero.png", "corrupt.png", "u.png"} and "did you mean stylegan2" in reasons["u.png"]
    assert raw["benchmark"] == f"{bench} -> folder:{folder_bench}"
    test = raw["test_benchmark"]
    assert test["name"] == f"folder:{folder_bench}" and len(test["samples_hash"]) == 64
    assert raw["samples_hash"] not in (test["samples_hash"], test["train_samples_hash"])  # boards keep it apart
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    tested = preds[preds["role"] == "test"]
    assert len(tested) == 17 and tested["sample_id"].str.startswith("test::").all()
    assert not preds.loc[preds["role"] == "val", "sample_id"].str.startswith("test::").any()
    spaces = raw["label_spaces"]["generator"]
    assert "ddpm" in spaces["unseen"] and "toy-flow-a" in spaces["unseen"] and "toy-gan-a" in spaces["seen"]
    assert "diffusion" in raw["label_spaces"]["family"]["seen"]  # toy diffusion generators trained
    per = raw["metrics"]["per_generator"]
    assert per["ddpm"]["seen"] is False and per["toy-gan-a"]["seen"] is True
    # the same model on the toy benchmark alone is another run, in another folder
    rec2, run_dir2 = run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench), results_dir=tmp_path / "r",
                                    quiet=True, n_bootstrap=5))
    assert rec2.run_id != rec.run_id and run_dir2 != run_dir and rec2.test_benchmark is None
    assert "test_benchmark" not in json.loads((run_dir2 / "record.json").read_text())


def test_cross_leakage_and_taxonomy_are_checked(make_toy_bench, folder_bench, tmp_path):
    bench = make_toy_bench()
    table = pd.read_parquet(bench)
    # an image of the training benchmark copied into the test benchmark: same bytes
    for sid, rel in table[["sample_id", "path"]].itertuples(index=False):
        shutil.copy(bench.parent / rel, folder_bench / "real" / f"copy-{sid}.png")
    with pytest.raises(LeakageError, match="identical image bytes"):
        run(_opts(bench, f"folder:{folder_bench}", tmp_path / "r"))
    for p in (folder_bench / "real").glob("copy-*"):
        p.unlink()
    (folder_bench / "generators.yaml").write_text("generators:\n  - {name: toy-gan-a, family: gan, forgery_type: am}\n"
                                                  "  - {name: toy-flow-a, family: flow, forgery_type: efs}\n")
    with pytest.raises(DfadError, match="toy-gan-a.*two taxonomies"):
        run(_opts(bench, f"folder:{folder_bench}", tmp_path / "r"))
