"""Dataset adapters: a dataset in its own layout, used as a benchmark without writing a manifest.

``--benchmark ADAPTER:PATH`` (e.g. ``folder:/data/faces``, ``ffpp:/data/FaceForensics``) builds
the manifest from the layout on the fly; ``dfad-bench benchmarks add NAME ADAPTER PATH`` declares
it once under a name (:mod:`dfad_bench.datasets.user`). Adapters are a strict registry like every
other plug-in kind: built-ins below, outside ones through the ``dfad_bench.dataset_adapters``
entry-point group (an entry point names a :class:`DatasetAdapter`). Layouts: docs/DATASETS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError
from dfad_bench.manifest import Manifest
from dfad_bench.registry import Registry, _import_ref, instance_check, is_target

DATASET_ADAPTER_ENTRY_POINT_GROUP = "dfad_bench.dataset_adapters"

#: ``build(root, options, source) -> Manifest``
BuildFn = Callable[[Path, Mapping[str, str], str], Manifest]


@dataclass(frozen=True)
class DatasetAdapter:
    """A layout reader. ``build`` is a callable or a lazy ``"module:function"``; ``options`` names
    the options it accepts (``benchmarks add ... --option key=value``) with their meaning."""

    name: str
    description: str
    build: str | BuildFn
    options: Mapping[str, str] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not (callable(self.build) or is_target(self.build)):
            raise ValueError(f"dataset adapter {self.name!r}: build must be a callable or 'package.module:function'")
        if self.options is None:
            object.__setattr__(self, "options", {})

    def create_manifest(self, root: str | Path, options: Mapping[str, str] | None = None, source: str | None = None) -> Manifest:
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise DfadError(f"dataset adapter {self.name!r}: unknown option {unknown[0]!r}; allowed: {allowed}")
        fn = _import_ref(self.build) if isinstance(self.build, str) else self.build
        return fn(Path(root).expanduser(), options, source or f"{self.name}:{root}")


_BUILTINS: dict[str, str] = {
    name: f"dfad_bench.datasets.{module}:ADAPTER"
    for name, module in {
        "folder": "folder", "cnndetection": "cnndetection", "table": "table", "hf": "hf",
        "genface": "genface", "diff": "diff", "df40": "df40", "owdfa": "owdfa", "ffpp": "ffpp",
    }.items()
}

DATASET_ADAPTERS: Registry[DatasetAdapter] = Registry(
    "dataset adapter", DATASET_ADAPTER_ENTRY_POINT_GROUP, check=instance_check(DatasetAdapter), builtins=_BUILTINS
)


def split_adapter_ref(ref: str) -> tuple[str, str] | None:
    """``"folder:/data/x"`` -> ("folder", "/data/x") when the prefix is a registered adapter
    (a one-letter prefix is a Windows drive, never an adapter); else None."""
    name, sep, path = ref.partition(":")
    if not sep or len(name) < 2 or not path or name not in DATASET_ADAPTERS:
        return None
    return name, path


def list_adapters() -> list[dict[str, Any]]:
    return DATASET_ADAPTERS.describe(lambda _n, a: {"description": a.description, "options": ", ".join(sorted(a.options))},
                                     broken={"description": "", "options": ""})


def resolve_adapted(ref: str, registered: bool) -> tuple[str, Manifest] | None:
    """``ADAPTER:PATH``, or a name declared with ``benchmarks add`` (when no registered benchmark
    has it: ``registered``), as (benchmark name, manifest); None when ``ref`` is neither."""
    parts = split_adapter_ref(ref)
    if parts is not None:
        return ref, DATASET_ADAPTERS.get(parts[0]).create_manifest(parts[1], source=ref)
    if registered:
        return None
    from dfad_bench.datasets.user import load_user_benchmarks

    declared = load_user_benchmarks().get(ref)
    if declared is None:
        return None
    return declared.name, DATASET_ADAPTERS.get(declared.adapter).create_manifest(declared.path, declared.options, source=declared.name)


def declared_names() -> list[str]:
    from dfad_bench.datasets.user import load_user_benchmarks

    return sorted(load_user_benchmarks())
