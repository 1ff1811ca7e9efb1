"""DFAD-Mini as a plug-in of the core: what it registers, through the same entry-point groups an
outside package uses (``pyproject.toml``):

- benchmark ``mini``  (``dfad_bench.benchmarks``  -> :data:`BENCHMARK`),
- backbone ``clip-mini`` (``dfad_bench.backbones`` -> :data:`CLIP_MINI`),
- gaze encoder ``gaze-mini`` (``dfad_bench.gaze_encoders`` -> ``dfad_mini.gaze:GazeMiniEncoder``),
- the ``dfad-bench mini`` command group (``dfad_bench.cli`` -> ``dfad_mini.cli:app``).

Light on purpose (no torch, no rendering): the registries import this module to list names.
:func:`weights_dir` is the one place that says where DFAD-Mini's weights live.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dfad_bench.backbones.spec import ProjectBackbone
from dfad_bench.benchmarks import BenchmarkSpec

WEIGHTS_ENV = "DFAD_BENCH_MINI_WEIGHTS"
PACKAGE_DIR = Path(__file__).resolve().parent
#: The modules a sealed model run may import (the encoders models use); every other module of the
#: package (renderer, builder, generators, trainers) is hidden from it, see :func:`private_paths`.
RUN_TIME_MODULES = frozenset({"__init__.py", "plugin.py", "gaze.py"})


def weights_dir() -> Path:
    """DFAD-Mini's weights folder: ``dfad_mini/weights``, or ``$DFAD_BENCH_MINI_WEIGHTS``."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else PACKAGE_DIR / "weights"


def private_paths() -> list[Path]:
    """What a sealed run hides (``BenchmarkSpec.private_paths``): the generators' weights, where
    they load from and in the package, and the code that renders and builds the benchmark, with
    its compiled copies. clip-mini, gaze-mini and their modules stay: models use them."""
    paths: list[Path] = []
    for folder in sorted({weights_dir().resolve(), (PACKAGE_DIR / "weights").resolve()}):
        paths += sorted(folder.glob("mini-*"))
    paths += sorted(p for p in PACKAGE_DIR.rglob("*.py") if p.relative_to(PACKAGE_DIR).as_posix() not in RUN_TIME_MODULES)
    paths += sorted(PACKAGE_DIR.rglob("__pycache__"))
    return paths


def describe_mini() -> dict[str, Any]:
    """``list benchmarks`` columns: from the built manifest, or the generator zoo's specs when not
    built yet (listing never builds)."""
    from dfad_bench.manifest import load_manifest
    from dfad_mini.build import check_mini_build, mini_root

    root = mini_root()
    manifest = root / "manifest.parquet"
    problem = check_mini_build(root) if manifest.exists() else "not built (dfad-bench mini build)"
    if problem is None:
        table = load_manifest(manifest).table
        return dict(status="built", path=str(manifest), samples=len(table),
                    families=sorted(table["family"].unique()), generators=sorted(table["generator"].unique()))
    from dfad_mini.generators import MINI_GENERATORS

    return dict(status=problem, path=str(manifest), samples=None,
                families=sorted({"real", *(s.family for s in MINI_GENERATORS.values())}),
                generators=sorted({"real", *MINI_GENERATORS}))


BENCHMARK = BenchmarkSpec(
    name="mini",
    description=(
        "DFAD-Mini: embedded offline benchmark (procedural pristine faces; GAN, diffusion and "
        "flow-matching generators trained by project code)"
    ),
    resolve="dfad_mini.build:ensure_mini_built",
    describe="dfad_mini.plugin:describe_mini",
    private_paths="dfad_mini.plugin:private_paths",
)

CLIP_MINI = ProjectBackbone(
    arch="clip-mini",
    config=PACKAGE_DIR / "configs" / "clip-mini.json",
    weights=weights_dir() / "clip-mini.safetensors",
    pretrain_command=(
        "python -m dfad_mini.clip_pretrain --device cuda --time-budget-s 190 --batch-size 512 "
        f"--out {weights_dir()}"
    ),
)
