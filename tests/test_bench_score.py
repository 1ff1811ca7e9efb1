"""benchmarks/bench_score.py end to end on a small input: old and new scoring give identical metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_score.py"


def test_bench_score_old_and_new_metrics_are_identical() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--n", "2000"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "metrics identical: True" in done.stdout
    assert "new/old" in done.stdout
