"""Benchmarks: a registered name (``mini``) or a manifest path, resolved to a validated Manifest.

Benchmarks are plug-ins: a :class:`BenchmarkSpec` registered in :data:`BENCHMARKS` through the
``dfad_bench.benchmarks`` entry-point group (DFAD-Mini registers ``mini`` there, as an outside
package would) or with :func:`register_benchmark`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError
from dfad_bench.manifest import Manifest, check_manifest_files, load_manifest
from dfad_bench.registry import BENCHMARK_ENTRY_POINT_GROUP, Registry, _import_ref, instance_check, is_target

DEFAULT_BENCHMARK = "mini"


@dataclass(frozen=True)
class BenchmarkSpec:
    """A named benchmark.

    ``resolve``: a ``"module:function"`` target (imported only when used) or a callable returning
    the manifest path, building the benchmark first if it needs to. ``describe`` (optional):
    the same, returning extra columns for ``dfad-bench list benchmarks`` (status, path, samples,
    families, generators); it must not build anything. ``private_paths`` (optional): the same,
    returning the files and folders a sealed run must hide from the model (e.g. the code and
    weights that generate the benchmark); a folder is covered with an empty one, a file with an
    empty file.
    """

    name: str
    description: str
    resolve: str | Callable[[], str | Path]
    describe: str | Callable[[], dict[str, Any]] | None = None
    private_paths: str | Callable[[], Iterable[str | Path]] | None = None

    def __post_init__(self) -> None:
        for field in ("resolve", "describe", "private_paths"):
            value = getattr(self, field)
            if value is None and field != "resolve":
                continue
            if not (callable(value) or is_target(value)):
                raise ValueError(f"benchmark {self.name!r}: {field} must be a callable or 'package.module:function', got {value!r}")

    def _call(self, field: str) -> Any:
        value = getattr(self, field)
        try:
            fn = _import_ref(value) if isinstance(value, str) else value
        except (ImportError, AttributeError) as exc:
            raise DfadError(f"benchmark {self.name!r}: cannot import its {field} {value!r} ({type(exc).__name__}: {exc})") from exc
        return fn()

    def manifest_path(self) -> Path:
        """The manifest's path (building the benchmark when needed)."""
        return Path(self._call("resolve"))

    def describe_row(self) -> dict[str, Any]:
        return dict(self._call("describe")) if self.describe is not None else {}

    def hidden_paths(self) -> list[Path]:
        """The paths a sealed run hides (``private_paths``), or none."""
        return [Path(p) for p in self._call("private_paths")] if self.private_paths is not None else []


BENCHMARKS: Registry[BenchmarkSpec] = Registry("benchmark", BENCHMARK_ENTRY_POINT_GROUP, check=instance_check(BenchmarkSpec))


def register_benchmark(spec: BenchmarkSpec, source: str = "register_benchmark()") -> None:
    BENCHMARKS.register(spec.name, spec, source=source)


def is_manifest_path(ref: str) -> bool:
    return ref.endswith((".parquet", ".pq", ".csv", ".tsv")) or "/" in ref or Path(ref).exists()


def resolve_benchmark(ref: str | None, check_files: bool = False) -> tuple[str, Manifest]:
    """Return (benchmark name, manifest). A path-like ref is never mistaken for a name."""
    ref = ref or DEFAULT_BENCHMARK
    from dfad_bench.datasets import resolve_adapted

    # ADAPTER:PATH, else a name declared with `benchmarks add` (never shadowing a registered name or a path)
    adapted = resolve_adapted(ref, registered=ref in BENCHMARKS or is_manifest_path(ref))
    if adapted is not None:
        if check_files:
            check_manifest_files(adapted[1])
        return adapted
    if is_manifest_path(ref):
        path = Path(ref)
        if path.is_dir():
            candidates = [path / "manifest.parquet", path / "manifest.csv"]
            found = [c for c in candidates if c.exists()]
            if not found:
                raise DfadError(f"{path}: folder has no manifest.parquet or manifest.csv")
            path = found[0]
        return str(path), load_manifest(path, check_files=check_files)
    if ref not in BENCHMARKS:
        raise DfadError(f"{BENCHMARKS.unknown(ref)}; pass a registered name, a name declared with `benchmarks add`, "
                        "ADAPTER:PATH (`list adapters`) or a manifest path (.parquet/.csv)")
    spec = BENCHMARKS.get(ref)
    return spec.name, load_manifest(spec.manifest_path(), check_files=check_files)


def list_benchmarks() -> list[dict[str, Any]]:
    """Rows for ``list benchmarks``: every registered benchmark with its own columns; a broken
    plug-in (or one whose describe fails) is listed with its error, others unaffected."""

    def row(_name: str, spec: BenchmarkSpec) -> dict[str, Any]:
        out: dict[str, Any] = {"description": spec.description}
        try:
            out.update(spec.describe_row())
        except DfadError as exc:
            out["status"] = f"broken: {exc}"
        return out

    from dfad_bench.datasets.user import load_user_benchmarks, user_benchmarks_file

    rows = BENCHMARKS.describe(row)
    try:  # declared with `benchmarks add`: listed without building anything
        declared = load_user_benchmarks()
    except DfadError as exc:
        return [*rows, {"name": "(declared)", "source": str(user_benchmarks_file()), "status": f"broken: {exc}", "description": ""}]
    return rows + [{"name": b.name, "source": f"declared in {user_benchmarks_file()}", "status": "ok", "description": b.ref}
                   for b in declared.values() if b.name not in BENCHMARKS]
