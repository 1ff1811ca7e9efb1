"""An outside package, installed with pip and exposing only entry points, registers a benchmark,
a backbone and a gaze encoder, and a run uses all three by name."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def env(install_example, tmp_path_factory):
    return {**install_example("dfad-bench-example-plugins"), "DFAD_BENCH_CACHE": str(tmp_path_factory.mktemp("cache")),
            "OMP_NUM_THREADS": "1"}


def cli(args, env):
    return subprocess.run([sys.executable, "-m", "dfad_bench.cli", *args], capture_output=True, text=True, env=env)


def listed(what, env):
    out = cli(["list", what, "--json"], env)
    assert out.returncode == 0, out.stderr
    return {r["name"]: r for r in json.loads(out.stdout)}


@pytest.mark.slow
def test_outside_benchmark_backbone_and_gaze_encoder_are_listed_and_used(env, tmp_path):
    benchmarks = listed("benchmarks", env)
    assert benchmarks["example-folder"]["status"].startswith("not built")
    assert "dfad-bench-example-plugins" in benchmarks["example-folder"]["source"]
    assert "mini" in benchmarks  # the built-in plug-in is still there
    backbones = listed("backbones", env)
    assert backbones["example-clip"]["status"] == "ok" and backbones["example-clip"]["weights"].startswith("missing")
    assert listed("gaze-encoders", env)["example-gaze"]["status"] == "ok"

    run = ["run", "--model", "gazeclip", "--protocol", "unseen-flow", "--benchmark", "example-folder",
           "--set", "backbone=example-clip", "--set", "gaze=example-gaze", "--set", "epochs=1",
           "--results", str(tmp_path / "results"), "--quiet", "--n-bootstrap", "0", "--device", "cpu"]
    missing = cli(run, env)  # the backbone's weights do not exist yet: one line saying how to make them
    assert missing.returncode == 2 and "python -m dfad_example_plugins.backbone" in missing.stderr

    made = subprocess.run([sys.executable, "-m", "dfad_example_plugins.backbone"], capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    res = cli(run, env)
    assert res.returncode == 0, res.stderr
    (record,) = (tmp_path / "results").rglob("record.json")
    rec = json.loads(record.read_text())
    assert rec["benchmark"] == "example-folder"
    assert rec["model_config"]["backbone"] == "example-clip" and rec["model_config"]["gaze"] == "example-gaze"
    assert listed("benchmarks", env)["example-folder"]["status"] == "built"
