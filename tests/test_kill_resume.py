"""Crash safety: SIGKILL ``dfad-bench run`` at 11 points; every rerun ends with the uninterrupted metrics.

The kills go through ``dfad_bench.faults.fault_point`` (env ``DFAD_BENCH_KILL_AT=name[:count]``):
the process SIGKILLs itself, so nothing is cleaned up, exactly as after a power cut. The runs form
one chain in one results folder: each run is killed at the next point and the following run starts
from whatever the previous kill left (stale temporary files, a checkpoint of some epoch, a written
record without tidying). After the last kill a plain rerun must give exactly the metrics of an
uninterrupted run in another folder, and leave no lock, work folder or temporary file behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

DFAD = str(Path(sys.executable).with_name("dfad-bench"))
ARGS = ["run", "--model", "ref-cnn", "--protocol", "unseen-gan", "--n-bootstrap", "0", "--device", "cpu",
        "--set", "epochs=3", "--set", "patience=3", "--set", "batch_size=8", "--set", "width=4"]

#: Kill points in chain order (each run resumes from what the previous kill left). About 5 s of
#: CPU per run, nearly all of it imports.
CHAIN = [
    "prescan",  # pre-scan decodes images: no run folder exists yet
    "decode:5",  # inside the data loader, first epoch
    "train:batch:2",  # mid-epoch 1, after two optimizer steps
    "checkpoint:write",  # epoch 1 finished, its checkpoint not yet written
    "checkpoint:written",  # epoch-1 checkpoint in place
    "train:val",  # epoch 2 trained (resumed from epoch 1), val not yet scored
    "atomic:checkpoint.safetensors",  # epoch-2 checkpoint rename window: temp complete, epoch 1 still in place
    "predict:2",  # resumed from epoch 1 (the temp file swept), trained on, predicting test
    "atomic:predictions.parquet",  # record write: predictions rename window
    "atomic:record.json",  # record write: record rename window (predictions already in place)
    "run:written",  # record written, lock and work folder not yet removed
]


def _run(bench: Path, results: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("DFAD_BENCH_KILL_AT", None)
    if kill_at:
        env["DFAD_BENCH_KILL_AT"] = kill_at
    return subprocess.run([DFAD, *ARGS, "--benchmark", str(bench), "--results", str(results)], env=env, capture_output=True,
                          text=True, timeout=300)


def _record(results: Path) -> dict:
    (path,) = results.glob("unseen-gan/ref-cnn/*/record.json")
    return json.loads(path.read_text())


def _leftovers(results: Path) -> list[str]:
    return sorted(str(p.relative_to(results)) for p in results.rglob("*")
                  if p.name == ".lock" or p.name.endswith(".tmp") or (p.parent.name == ".work"))


def _checkpoint_epoch(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["state"])["epoch"]


@pytest.fixture(scope="module")
def bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=12, fakes_per_generator=6, size=16)


@pytest.mark.slow
def test_sigkill_at_every_point_then_rerun_gives_the_uninterrupted_metrics(bench: Path, tmp_path: Path) -> None:
    clean = _run(bench, tmp_path / "uninterrupted", None)
    assert clean.returncode == 0, clean.stderr
    expected = _record(tmp_path / "uninterrupted")
    assert _leftovers(tmp_path / "uninterrupted") == []  # a successful run leaves no lock or work folder

    results = tmp_path / "chain"
    for point in CHAIN:
        proc = _run(bench, results, point)
        assert proc.returncode == -signal.SIGKILL, f"{point}: not killed (rc {proc.returncode}): {proc.stderr[-2000:]}"
        work = list(results.glob(".work/*"))
        temps = [p for p in work[0].iterdir() if p.suffix == ".tmp"] if work else []
        if point == "atomic:checkpoint.safetensors":
            # Killed inside the rename window: the new checkpoint is a complete temp file, the
            # previous epoch's checkpoint is untouched.
            assert temps, "expected the stale temp file of the epoch-2 checkpoint"
            assert _checkpoint_epoch(work[0] / "checkpoint.safetensors") == 1
        if point in ("train:val", "predict:2"):
            assert "resuming from checkpoint after epoch 1" in proc.stderr
        if point == "predict:2":
            assert not temps, "the stale temp file was not swept"
        if point == "atomic:record.json":
            assert not list(results.glob("unseen-gan/ref-cnn/*/record.json"))
            assert list(results.glob("unseen-gan/ref-cnn/*/predictions.parquet"))
        if point == "run:written":
            assert _record(results)["metrics"] == expected["metrics"]
            assert work, "the work folder is removed only after the run is tidied"

    final = _run(bench, results, None)
    assert final.returncode == 0, final.stderr
    got = _record(results)
    assert got["metrics"] == expected["metrics"]
    assert got["metrics"]["detection_auc_mean_unseen"] is not None
    assert _leftovers(results) == []
