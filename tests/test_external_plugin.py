"""An outside package, installed with pip and exposing only an entry point, is listed and runs."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def installed(install_example):
    return install_example("dfad-bench-example-model")


def cli(args, env):
    return subprocess.run([sys.executable, "-m", "dfad_bench.cli", *args], capture_output=True, text=True, env=env)


def test_outside_model_is_listed_and_runs(installed, tmp_path, make_toy_bench):
    out = cli(["list", "models", "--json"], installed)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["example-colour"]["status"] == "ok"
    assert "dfad-bench-example-model" in rows["example-colour"]["source"]

    bench = str(make_toy_bench(n_identities=30, images_per_identity=2, fakes_per_generator=16, size=24))
    res = cli(["run", "--model", "example-colour", "--protocol", "unseen-flow", "--benchmark", bench,
               "--results", str(tmp_path / "results"), "--quiet", "--n-bootstrap", "10"], installed)
    assert res.returncode == 0, res.stderr
    records = list((tmp_path / "results").rglob("record.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["model"] == "example-colour"
    assert f"record: {records[0]}\n" in res.stdout  # whole path on one line, however long (scripts read it)

    board = cli(["leaderboard", "--results", str(tmp_path / "results"), "--format", "md"], installed)
    assert board.returncode == 0, board.stderr
    assert "example-colour" in board.stdout

    sub = cli(["submit", "example-colour", "--benchmark", bench, "--output", str(tmp_path / "bundle"),
               "--protocol", "unseen-flow", "--protocol", "closed"], installed)
    assert sub.returncode == 0, sub.stderr
    check = json.loads((tmp_path / "bundle" / "contract_check.json").read_text())
    assert check["ok"] and any(c["check"] == "deterministic under a seed" for c in check["checks"])
    assert len(list((tmp_path / "bundle" / "results").rglob("record.json"))) == 2
    assert "example-colour" in (tmp_path / "bundle" / "leaderboard.md").read_text()
