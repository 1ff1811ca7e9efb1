"""Benchmarks a user declared once by name: ``dfad-bench benchmarks add NAME ADAPTER PATH``.

Kept in ``<config>/benchmarks.yaml`` (``DFAD_BENCH_CONFIG`` or the platformdirs user config
folder)::

    benchmarks:
      my-ffpp: {adapter: ffpp, path: /data/FaceForensics, options: {}}

A declared name is then usable wherever a benchmark name is. It may not shadow a registered
benchmark (the registry's name wins nowhere silently: ``add`` refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dfad_bench.atomic import write_text_atomic
from dfad_bench.errors import DfadError
from dfad_bench.paths import config_root


@dataclass(frozen=True)
class UserBenchmark:
    name: str
    adapter: str
    path: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.adapter}:{self.path}"


def user_benchmarks_file() -> Path:
    return config_root() / "benchmarks.yaml"


def load_user_benchmarks() -> dict[str, UserBenchmark]:
    path = user_benchmarks_file()
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DfadError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    entries = raw.get("benchmarks") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise DfadError(f"{path}: expected a top-level 'benchmarks:' mapping of name -> {{adapter, path, options}}")
    out = {}
    for name, e in entries.items():
        if not isinstance(e, dict) or not {"adapter", "path"} <= set(e) or not isinstance(e.get("options", {}), dict):
            raise DfadError(f"{path}: benchmark {name!r}: expected {{adapter, path, options}}, got {e!r}")
        out[str(name)] = UserBenchmark(str(name), str(e["adapter"]), str(e["path"]), {str(k): str(v) for k, v in e.get("options", {}).items()})
    return out


def _save(entries: dict[str, UserBenchmark]) -> Path:
    path = user_benchmarks_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"benchmarks": {n: {"adapter": b.adapter, "path": b.path, "options": dict(b.options)} for n, b in sorted(entries.items())}}
    write_text_atomic(path, "# written by `dfad-bench benchmarks add`\n" + yaml.safe_dump(data, sort_keys=True))
    return path


def add_user_benchmark(name: str, adapter: str, path: str | Path, options: dict[str, str] | None = None, replace: bool = False) -> UserBenchmark:
    """Declare ``name``: check the adapter and its options and build the manifest once (so a
    wrong path or layout fails now, not at the first run), then save the declaration."""
    from dfad_bench.benchmarks import BENCHMARKS
    from dfad_bench.datasets import DATASET_ADAPTERS

    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise DfadError(f"benchmark name must be letters, digits, '-', '_' or '.', got {name!r}")
    if name in BENCHMARKS:
        raise DfadError(f"benchmark {name!r} is already registered (by {BENCHMARKS.source(name)}); pick another name")
    entries = load_user_benchmarks()
    if name in entries and not replace:
        raise DfadError(f"benchmark {name!r} is already declared in {user_benchmarks_file()} ({entries[name].ref}); pass --replace")
    spec = DATASET_ADAPTERS.get(adapter)
    bench = UserBenchmark(name, adapter, str(Path(path).expanduser().resolve()), dict(options or {}))
    spec.create_manifest(bench.path, bench.options, source=name)
    entries[name] = bench
    _save(entries)
    return bench


def remove_user_benchmark(name: str) -> None:
    entries = load_user_benchmarks()
    if name not in entries:
        from dfad_bench.registry import did_you_mean

        raise DfadError(f"no declared benchmark {name!r} in {user_benchmarks_file()}{did_you_mean(name, entries)}")
    del entries[name]
    _save(entries)
