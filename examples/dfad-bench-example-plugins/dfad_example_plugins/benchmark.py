"""Benchmark ``example-folder``: a small generated face-like set, built into the dfad-bench cache
on first use. A real adapter would walk a dataset folder and write the same manifest columns."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from dfad_bench.benchmarks import BenchmarkSpec
from dfad_bench.paths import cache_dir

NAME = "example-folder"


def _root() -> Path:
    return cache_dir("benchmarks") / NAME


def build() -> Path:
    """The manifest path, building the benchmark first when it is missing (atomically: a
    half-written folder is never mistaken for a build)."""
    manifest = _root() / "manifest.parquet"
    if manifest.exists():
        return manifest
    from dfad_bench.testing import toy_manifest, write_toy_images

    staging = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=_root().parent))
    table = toy_manifest(n_identities=16, images_per_identity=2, fakes_per_generator=8)
    write_toy_images(table, staging, size=32)
    table.to_parquet(staging / "manifest.parquet", index=False)
    if _root().exists():
        shutil.rmtree(_root())
    staging.rename(_root())
    return manifest


def describe() -> dict[str, Any]:
    """Columns for ``dfad-bench list benchmarks`` (never builds)."""
    manifest = _root() / "manifest.parquet"
    if not manifest.exists():
        return {"status": "not built (built on first use)", "path": str(manifest)}
    import pandas as pd

    table = pd.read_parquet(manifest)
    return {"status": "built", "path": str(manifest), "samples": len(table),
            "families": sorted(table["family"].unique()), "generators": sorted(table["generator"].unique())}


BENCHMARK = BenchmarkSpec(
    name=NAME,
    description="Example outside benchmark: generated toy faces (real, GAN, diffusion, flow)",
    resolve="dfad_example_plugins.benchmark:build",
    describe="dfad_example_plugins.benchmark:describe",
)
