"""Benchmarks: a name (``mini``) or a manifest path resolved to a validated Manifest."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dfad_bench.errors import DfadError
from dfad_bench.manifest import Manifest, load_manifest

DEFAULT_BENCHMARK = "mini"


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    description: str
    resolver: str  # "module:function" returning the manifest path; imported lazily


BUILTIN_BENCHMARKS: dict[str, BenchmarkInfo] = {
    "mini": BenchmarkInfo(
        "mini",
        "DFAD-Mini: embedded offline benchmark (procedural pristine faces; GAN, diffusion and flow-matching generators trained by project code)",
        "dfad_bench.mini.build:ensure_mini_built",
    ),
}


def _import(ref: str) -> Callable[[], Path]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def is_manifest_path(ref: str) -> bool:
    return ref.endswith((".parquet", ".pq", ".csv", ".tsv")) or "/" in ref or Path(ref).exists()


def resolve_benchmark(ref: str | None, check_files: bool = False) -> tuple[str, Manifest]:
    """Return (benchmark name, manifest). A path-like ref is never mistaken for a name."""
    ref = ref or DEFAULT_BENCHMARK
    if is_manifest_path(ref):
        path = Path(ref)
        if path.is_dir():
            candidates = [path / "manifest.parquet", path / "manifest.csv"]
            found = [c for c in candidates if c.exists()]
            if not found:
                raise DfadError(f"{path}: folder has no manifest.parquet or manifest.csv")
            path = found[0]
        return str(path), load_manifest(path, check_files=check_files)
    info = BUILTIN_BENCHMARKS.get(ref)
    if info is None:
        close = difflib.get_close_matches(ref, list(BUILTIN_BENCHMARKS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DfadError(f"unknown benchmark {ref!r}{hint}; pass a registered name ({', '.join(BUILTIN_BENCHMARKS)}) or a manifest path (.parquet/.csv)")
    manifest_path = Path(_import(info.resolver)())
    return info.name, load_manifest(manifest_path, check_files=check_files)


def list_benchmarks() -> list[dict]:
    """Registered benchmarks with their families/generators (mini: from its built manifest, or
    from the generator zoo's specs when not built yet)."""
    rows = []
    for info in BUILTIN_BENCHMARKS.values():
        row: dict = {"name": info.name, "description": info.description}
        if info.name == "mini":
            from dfad_bench.mini.build import check_mini_build, mini_root

            root = mini_root()
            problem = check_mini_build(root) if (root / "manifest.parquet").exists() else "not built (dfad-bench mini build)"
            if problem is None:
                table = load_manifest(root / "manifest.parquet").table
                row.update(status="built", path=str(root / "manifest.parquet"), samples=len(table),
                           families=sorted(table["family"].unique()), generators=sorted(table["generator"].unique()))
            else:
                from dfad_bench.mini.generators import MINI_GENERATORS

                row.update(status=problem, path=str(root / "manifest.parquet"), samples=None,
                           families=sorted({"real", *(s.family for s in MINI_GENERATORS.values())}),
                           generators=sorted({"real", *MINI_GENERATORS}))
        rows.append(row)
    return rows
