"""DFAD-Mini as a plug-in of the core: what it registers, through the same entry-point groups an
outside package uses (``pyproject.toml``):

- benchmark ``mini``  (``dfad_bench.benchmarks``  -> :data:`BENCHMARK`),
- backbone ``clip-mini`` (``dfad_bench.backbones`` -> :data:`CLIP_MINI`),
- gaze encoder ``gaze-mini`` (``dfad_bench.gaze_encoders`` -> ``perception.gaze.mini:GazeMiniEncoder``).

Light on purpose (no torch, no rendering): the registries import this module to list names.
:func:`weights_dir` is the one place that says where DFAD-Mini's weights live.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dfad_bench.backbones.spec import CONFIG_DIR, ProjectBackbone
from dfad_bench.benchmarks import BenchmarkSpec

WEIGHTS_ENV = "DFAD_BENCH_MINI_WEIGHTS"


def weights_dir() -> Path:
    """DFAD-Mini's weights folder: ``dfad_bench/mini/weights``, or ``$DFAD_BENCH_MINI_WEIGHTS``."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else Path(__file__).resolve().parent / "weights"


def describe_mini() -> dict[str, Any]:
    """``list benchmarks`` columns: from the built manifest, or the generator zoo's specs when not
    built yet (listing never builds)."""
    from dfad_bench.manifest import load_manifest
    from dfad_bench.mini.build import check_mini_build, mini_root

    root = mini_root()
    manifest = root / "manifest.parquet"
    problem = check_mini_build(root) if manifest.exists() else "not built (dfad-bench mini build)"
    if problem is None:
        table = load_manifest(manifest).table
        return dict(status="built", path=str(manifest), samples=len(table),
                    families=sorted(table["family"].unique()), generators=sorted(table["generator"].unique()))
    from dfad_bench.mini.generators import MINI_GENERATORS

    return dict(status=problem, path=str(manifest), samples=None,
                families=sorted({"real", *(s.family for s in MINI_GENERATORS.values())}),
                generators=sorted({"real", *MINI_GENERATORS}))


BENCHMARK = BenchmarkSpec(
    name="mini",
    description=(
        "DFAD-Mini: embedded offline benchmark (procedural pristine faces; GAN, diffusion and "
        "flow-matching generators trained by project code)"
    ),
    resolve="dfad_bench.mini.build:ensure_mini_built",
    describe="dfad_bench.mini.plugin:describe_mini",
)

CLIP_MINI = ProjectBackbone(
    arch="clip-mini",
    config=CONFIG_DIR / "clip-mini.json",
    weights=weights_dir() / "clip-mini.safetensors",
    pretrain_command=(
        "python -m dfad_bench.backbones.clip_mini_pretrain --device cuda --time-budget-s 190 --batch-size 512 "
        f"--out {weights_dir()}"
    ),
)
