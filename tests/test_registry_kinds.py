"""Each kind on the one Registry: benchmarks, backbones, gaze encoders; cards declare encoders and
preflight checks exactly those; the training summary is the model's to give."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dfad_bench.backbones.spec import BACKBONES, ProjectBackbone
from dfad_bench.benchmarks import BENCHMARKS, BenchmarkSpec, list_benchmarks, resolve_benchmark
from dfad_bench.contract import BaseModel, ModelCard, training_summary
from dfad_bench.errors import DfadError
from dfad_bench.harness.preflight import preflight
from dfad_bench.perception.gaze.base import GAZE_ENCODERS

_TOY_PATH: list[Path] = []


def toy_resolve() -> Path:
    return _TOY_PATH[0]


def toy_describe() -> dict:
    return {"samples": 7, "status": "built"}


def test_dfad_mini_plugs_in_through_the_entry_points_an_outside_package_uses():
    for registry, name in ((BENCHMARKS, "mini"), (BACKBONES, "clip-mini"), (GAZE_ENCODERS, "gaze-mini")):
        assert registry.source(name).startswith("entry point of dfad-bench"), (name, registry.source(name))
    assert BACKBONES.get("clip-mini").weights.name == "clip-mini.safetensors"


def test_a_duplicate_gaze_encoder_entry_point_breaks_only_that_name(monkeypatch):
    # Regression: the old gaze registry raised while reading its entry points, after marking them
    # read: the first lookup failed and every later one silently lacked the remaining encoders.
    from importlib.metadata import EntryPoint

    import dfad_bench.registry as registry

    target = "dfad_mini.gaze:GazeMiniEncoder"
    points = [EntryPoint("gaze-mini", target, GAZE_ENCODERS.group), EntryPoint("gaze-mini", target, GAZE_ENCODERS.group),
              EntryPoint("zz-later", target, GAZE_ENCODERS.group)]
    monkeypatch.setattr(registry, "entry_points", lambda group: [p for p in points if p.group == group])
    monkeypatch.setattr(GAZE_ENCODERS, "_entries", {k: v for k, v in GAZE_ENCODERS._entries.items() if v.source == "built-in"})
    monkeypatch.setattr(GAZE_ENCODERS, "_duplicates", {})
    monkeypatch.setattr(GAZE_ENCODERS, "_entry_points_loaded", False)
    for _ in range(2):
        with pytest.raises(DfadError, match="gaze encoder 'gaze-mini' is registered twice"):
            GAZE_ENCODERS.get("gaze-mini")
        assert {"eth-xgaze", "landmark", "zz-later"} <= set(GAZE_ENCODERS.names())
        assert callable(GAZE_ENCODERS.get("zz-later"))


def test_one_weights_folder_for_all_of_dfad_minis_weights(tmp_path):
    code = (
        "from dfad_bench.backbones import BACKBONES; from dfad_mini.gaze import default_weights_path; "
        "from dfad_mini.generators import weights_path; "
        "print(BACKBONES.get('clip-mini').weights.parent, default_weights_path().parent, weights_path('mini-dcgan').parent)"
    )
    env = {**os.environ, "DFAD_BENCH_MINI_WEIGHTS": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    assert out == [str(tmp_path)] * 3


def test_a_registered_benchmark_resolves_by_name_and_is_listed(toy_csv, register_temporarily):
    _TOY_PATH[:] = [toy_csv]
    spec = BenchmarkSpec("toy-bench", "a toy", resolve=f"{__name__}:toy_resolve", describe=f"{__name__}:toy_describe")
    register_temporarily(BENCHMARKS, "toy-bench", spec)
    name, manifest = resolve_benchmark("toy-bench")
    assert name == "toy-bench" and len(manifest.table) > 0
    row = next(r for r in list_benchmarks() if r["name"] == "toy-bench")
    assert row["status"] == "built" and row["samples"] == 7 and row["description"] == "a toy"
    with pytest.raises(DfadError, match="unknown benchmark 'toy-bnch'; did you mean toy-bench"):
        resolve_benchmark("toy-bnch")


def test_a_broken_benchmark_is_listed_with_its_error_and_the_others_still_list(register_temporarily):
    register_temporarily(BENCHMARKS, "gone-bench", "no_such_pkg_xyz.plugin:BENCHMARK")
    spec = BenchmarkSpec("bad-describe", "x", resolve=f"{__name__}:toy_resolve", describe="no_such_pkg_xyz:describe")
    register_temporarily(BENCHMARKS, "bad-describe", spec)
    rows = {r["name"]: r for r in list_benchmarks()}
    assert rows["gone-bench"]["status"].startswith("broken:") and "no_such_pkg_xyz" in rows["gone-bench"]["status"]
    assert rows["bad-describe"]["status"].startswith("broken:")
    assert "mini" in rows


def test_benchmark_spec_refuses_a_resolver_that_is_neither_callable_nor_a_target():
    with pytest.raises(ValueError, match="resolve must be a callable or 'package.module:function'"):
        BenchmarkSpec("x", "x", resolve="not a target")


def test_a_backbone_whose_config_is_misnamed_is_broken(register_temporarily, tmp_path):
    bad = ProjectBackbone(arch="toy-arch", config=tmp_path / "other.json", weights=tmp_path / "w.safetensors")
    register_temporarily(BACKBONES, "toy-arch", bad)
    with pytest.raises(DfadError, match="config must be a file named toy-arch.json"):
        BACKBONES.get("toy-arch")


def test_card_encoders_are_validated():
    with pytest.raises(ValueError, match="must be one of"):
        ModelCard(name="m", factory="a:B", description="d", default_config={"enc": "x"}, encoders={"enc": "vae"})
    with pytest.raises(ValueError, match="default_config lacks"):
        ModelCard(name="m", factory="a:B", description="d", encoders={"enc": "gaze"})
    with pytest.raises(ValueError, match="test_config names 'epochz'"):
        ModelCard(name="m", factory="a:B", description="d", default_config={"epochs": 3}, test_config={"epochz": 1})


def test_preflight_checks_exactly_what_the_card_declares():
    plain = ModelCard(name="m", factory="a:B", description="d", default_config={"backbone": "x"})
    preflight(plain, {"backbone": "no-such-arch:nope"})  # not declared: not the harness's business
    card = ModelCard(name="m", factory="a:B", description="d", default_config={"eyes": "gaze-mini"}, encoders={"eyes": "gaze"})
    with pytest.raises(DfadError, match="unknown gaze encoder 'gaze-mnii'; did you mean gaze-mini"):
        preflight(card, {"eyes": "gaze-mnii"})
    preflight(card, {"eyes": False})  # switched off
    preflight(card, {"eyes": True})  # the card's default (gaze-mini) is registered
    with pytest.raises(DfadError, match="config 'eyes' must be a gaze name"):
        preflight(card, {"eyes": 3})


class _Fitted(BaseModel):
    card = ModelCard(name="fitted", factory="a:B", description="d")


class _Custom(_Fitted):
    def training_summary(self) -> dict:
        return {"steps": 12}


class _ProtocolOnly:
    best_epoch_ = 4


def test_training_summary_is_the_models_own_method_with_a_default():
    model = _Fitted()
    model.best_epoch_, model.unrelated_ = 3, "x"
    assert training_summary(model) == {"best_epoch_": 3}
    assert training_summary(_Custom()) == {"steps": 12}
    assert training_summary(_ProtocolOnly()) == {"best_epoch_": 4}


def test_the_sealed_sandbox_hides_mini_generator_weights_where_they_load_from(make_toy_bench, tmp_path, monkeypatch):
    from dfad_bench.harness.runner import RunOptions, plan_run
    from dfad_bench.harness.sealed import hidden_paths

    moved = tmp_path / "weights"
    moved.mkdir()
    (moved / "mini-dcgan.safetensors").write_bytes(b"x")
    (moved / "gaze-mini.safetensors").write_bytes(b"x")
    monkeypatch.setenv("DFAD_BENCH_MINI_WEIGHTS", str(moved))
    bench = make_toy_bench(n_identities=16, images_per_identity=2, fakes_per_generator=8, size=16)
    _, files = hidden_paths(plan_run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench),
                                                results_dir=tmp_path / "r", quiet=True)))
    assert (moved / "mini-dcgan.safetensors").resolve() in files
    assert (moved / "gaze-mini.safetensors").resolve() not in files  # models may use gaze-mini
