"""``dfad-bench list`` for every registry kind and ``dfad-bench validate MODEL``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dfad_bench.cli import app
from dfad_bench.harness import submit

runner = CliRunner()


@pytest.mark.parametrize(("what", "name"), [("backbones", "clip-mini"), ("gaze-encoders", "gaze-mini"),
                                            ("benchmarks", "mini"), ("models", "gazeclip")])
def test_list_shows_each_registry_with_source_and_status(what, name):
    out = runner.invoke(app, ["list", what, "--json"])
    assert out.exit_code == 0, out.output
    row = {r["name"]: r for r in json.loads(out.output)}[name]
    assert row["source"].startswith("entry point of dfad-bench") and row["status"] != "" and not row["status"].startswith("broken")


def test_validate_prints_every_check_and_fails_when_one_fails(monkeypatch):
    report = submit.ContractReport("ref-stats")
    report.add("card", True, "fine")
    report.add("deterministic under a seed", False, "two runs differ")
    monkeypatch.setattr(submit, "check_contract", lambda model, overrides, device: report)
    out = runner.invoke(app, ["validate", "ref-stats"])
    assert out.exit_code == 1 and "FAILED" in out.output and "deterministic" in out.output
    out = runner.invoke(app, ["validate", "ref-stats", "--json"])
    assert out.exit_code == 1 and json.loads(out.output)["ok"] is False


def test_validate_an_unknown_model_is_a_one_line_user_error():
    res = subprocess.run([sys.executable, "-m", "dfad_bench.cli", "validate", "ref-stat"], capture_output=True, text=True)
    assert res.returncode == 2 and "did you mean ref-stats" in res.stderr


@pytest.mark.slow
def test_validate_a_real_model_passes():
    res = subprocess.run([sys.executable, "-m", "dfad_bench.cli", "validate", "ref-stats", "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    checks = json.loads(res.stdout)["checks"]
    assert all(c["ok"] for c in checks) and any(c["check"] == "deterministic under a seed" for c in checks)
