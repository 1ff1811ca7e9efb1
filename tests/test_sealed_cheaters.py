"""Cheating plug-ins under ``submit``'s sealed path (docs/ARCHITECTURE.md, trust model).

The toy benchmark's sample ids and file names spell the generator (``stylegan2-0003``,
``images/stylegan2-0003.png``), its manifest lies beside the images, and a copy sits in the
dfad-bench cache, so every cheat works in a trusted in-process ``run`` (checked: mean unseen AUC
~1.0). Sealed, each must score exactly at chance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.harness.sealed import SEALED, bwrap_problem
from dfad_bench.harness.submit import run_sealed
from dfad_bench.registry import MODELS
from dfad_bench.testing import toy_manifest, write_toy_images

FIXTURES = Path(__file__).parent / "fixtures"
CHEATS = ("ManifestBeside", "ParseNames", "WalkParents", "CacheAndResults", "EnvironmentVariables", "FileSizes")

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"sandbox unavailable: {bwrap_problem()}")


@pytest.fixture(scope="module")
def toy_bench(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cheatbench")
    table = toy_manifest(n_identities=16, images_per_identity=2, fakes_per_generator=8, seed=2)
    write_toy_images(table, root, size=16)
    table.to_parquet(root / "manifest.parquet", index=False)
    return root / "manifest.parquet"


@pytest.fixture
def plugin(monkeypatch):
    """Registers a cheat class of tests/fixtures/sealed_cheaters for one test."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    import importlib

    module = importlib.import_module("sealed_cheaters.cheaters")
    added: list[str] = []

    def register(cls_name: str) -> str:
        card = getattr(module, cls_name).card
        MODELS.register(card, source="test")
        added.append(card.name)
        return card.name

    yield register
    for name in added:
        MODELS.unregister(name)


def _opts(model: str, bench: Path, results: Path) -> RunOptions:
    return RunOptions(model=model, protocol="unseen-flow", benchmark=str(bench), results_dir=results, quiet=True, n_bootstrap=0,
                      device="cpu")


@pytest.mark.parametrize("cheat", CHEATS)
def test_cheat_works_trusted_and_scores_at_chance_sealed(cheat: str, toy_bench: Path, tmp_path: Path, plugin, monkeypatch) -> None:
    import os

    model = plugin(cheat)
    monkeypatch.setenv("TOY_BENCH_DIR", str(toy_bench.parent))  # for the environment cheat
    cached = Path(os.environ["DFAD_BENCH_CACHE"]) / "benchmarks" / "toy"  # a benchmark copy in the cache
    shutil.copytree(toy_bench.parent, cached, dirs_exist_ok=True)

    trusted, _ = run(_opts(model, toy_bench, tmp_path / "trusted"))
    assert trusted.metrics["detection_auc_mean_unseen"] >= 0.95, f"{cheat}: the cheat must work unsealed to prove anything"

    sealed, run_dir = run_sealed(_opts(model, toy_bench, tmp_path / "sealed"))
    assert abs(sealed.metrics["detection_auc_mean_unseen"] - 0.5) < 1e-9, f"{cheat} beat the seal"
    assert sealed.isolation == SEALED and sealed.sealed_or_trusted  # no "(unsealed)" marker on the board
    assert trusted.sealed_or_trusted


def test_sealed_child_sees_only_the_stage(toy_bench: Path, tmp_path: Path, plugin, monkeypatch) -> None:
    """The sandbox's view of the file system: no benchmark, no cache, an empty /tmp but the stage,
    a scrubbed environment, no network."""
    import subprocess

    from dfad_bench.harness import sealed as sealed_mod

    seen: dict[str, object] = {}
    original = subprocess.run

    def spy(cmd, **kw):
        if "dfad_bench.harness.sealed_child" in cmd and cmd[0].endswith("bwrap"):
            python = cmd.index("-m") - 1
            script = ("import os, sys, socket; print(sorted(os.listdir('/tmp'))); print(os.path.exists(sys.argv[1])); "
                      "print(sorted(os.environ)); s = socket.socket(); s.settimeout(2)\n"
                      "try:\n s.connect(('1.1.1.1', 53)); print('net')\nexcept OSError: print('no-net')")
            out = original([*cmd[: python + 1], "-c", script, str(toy_bench)], capture_output=True, text=True)
            seen["out"] = out.stdout.splitlines()
        return original(cmd, **kw)

    monkeypatch.setattr(sealed_mod.subprocess, "run", spy)
    model = plugin("ParseNames")
    run_sealed(_opts(model, toy_bench, tmp_path / "r"))
    listing, bench_visible, env_keys, net = seen["out"]
    # /tmp holds the stage, the plug-in and, when the environment itself lives under /tmp (a CI
    # clone), the read-only code it runs from: nothing else, not even the names of hidden folders.
    code = [p.relative_to("/tmp").parts[0] for p in sealed_mod.code_paths_under_tmp()]
    assert listing == str(sorted({"dfad-plugins", "dfad-stage", *code}))
    assert bench_visible == "False"
    assert "TOY_BENCH_DIR" not in env_keys and "DFAD_BENCH_RESULTS" not in env_keys
    assert net == "no-net"


def test_hidden_paths_cover_cache_results_benchmark_and_mini_generators(toy_bench: Path, tmp_path: Path) -> None:
    import platformdirs

    from dfad_bench.harness.runner import plan_run
    from dfad_bench.harness.sealed import hidden_paths
    from dfad_bench.paths import cache_root

    plan = plan_run(_opts("ref-stats", toy_bench, tmp_path / "res"))
    folders, files = hidden_paths(plan)
    assert cache_root().resolve() in folders
    assert Path(platformdirs.user_cache_dir("dfad-bench")).resolve() in folders or not Path(platformdirs.user_cache_dir("dfad-bench")).exists()
    assert toy_bench.parent.resolve() in folders
    names = {f.name for f in files}
    assert "renderer.py" in names and "build.py" in names
    assert any(n.startswith("mini-") and n.endswith(".safetensors") for n in names)
    assert not any(n.startswith(("clip-mini", "gaze-mini")) for n in names)  # models need these


def test_isolation_says_unsealed_without_a_sandbox(toy_bench: Path, tmp_path: Path, monkeypatch) -> None:
    import json

    monkeypatch.setenv("DFAD_BENCH_FORCE_UNSEALED", "1")
    rec, run_dir = run_sealed(_opts("ref-stats", toy_bench, tmp_path / "r"))
    assert rec.metrics["detection_auc_mean_unseen"] is not None
    from dfad_bench.harness.runner import execute_model, plan_run

    plan = plan_run(_opts("ref-stats", toy_bench, tmp_path / "r2"))
    plan.work_dir.mkdir(parents=True)
    outcome = execute_model(plan, sealed=True)
    assert outcome.isolation.startswith("unsealed (") and "FORCE_UNSEALED" in outcome.isolation
    record = json.loads((run_dir / "record.json").read_text())
    assert record["isolation"].startswith("unsealed") and not rec.sealed_or_trusted
