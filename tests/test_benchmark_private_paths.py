"""``BenchmarkSpec.private_paths``: what a benchmark plug-in keeps from sealed runs (the core
knows no plug-in by name; DFAD-Mini hides its generators and builder this way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfad_bench.benchmarks import BENCHMARKS, BenchmarkSpec

_SECRET: list[Path] = []


def secret_paths() -> list[Path]:
    return list(_SECRET)


def test_a_registered_benchmarks_private_paths_are_hidden(make_toy_bench, tmp_path, register_temporarily) -> None:
    from dfad_bench.harness.runner import RunOptions, plan_run
    from dfad_bench.harness.sealed import hidden_paths

    secret_file = tmp_path / "gen" / "weights.bin"
    secret_dir = tmp_path / "gen" / "code"
    secret_dir.mkdir(parents=True)
    secret_file.write_bytes(b"x")
    _SECRET[:] = [secret_file, secret_dir, tmp_path / "gen" / "absent.bin"]
    spec = BenchmarkSpec(name="zz-secret", description="d", resolve=lambda: "x.csv",
                         private_paths=f"{__name__}:secret_paths")
    register_temporarily(BENCHMARKS, "zz-secret", spec)
    bench = make_toy_bench(n_identities=16, images_per_identity=2, fakes_per_generator=8, size=16)
    folders, files = hidden_paths(plan_run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench),
                                                      results_dir=tmp_path / "r", quiet=True)))
    assert secret_file.resolve() in files and secret_dir.resolve() in folders
    assert (tmp_path / "gen" / "absent.bin").resolve() not in files


def test_dfad_mini_hides_everything_but_what_models_use() -> None:
    import dfad_mini
    from dfad_mini.plugin import private_paths

    pkg = Path(dfad_mini.__file__).resolve().parent
    hidden = {p.relative_to(pkg).as_posix() for p in private_paths() if pkg in p.parents}
    for name in ("build.py", "renderer.py", "train.py", "clip_pretrain.py", "cli.py", "generators/gan.py", "weights/mini-ddpm.safetensors"):
        assert name in hidden, name
    for name in ("plugin.py", "gaze.py", "__init__.py", "weights/gaze-mini.safetensors", "weights/clip-mini.safetensors"):
        assert name not in hidden, name


def test_private_paths_must_be_a_target_or_a_callable() -> None:
    with pytest.raises(ValueError, match="private_paths must be a callable"):
        BenchmarkSpec(name="b", description="d", resolve=lambda: "x.csv", private_paths="not a target")
