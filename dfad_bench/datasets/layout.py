"""What every dataset adapter shares: walking image files, naming generators, building the manifest.

An adapter turns a dataset's own layout into :class:`Sample` rows; :func:`build_adapted_manifest`
resolves each row's generator to a (family, forgery type), validates the table with the same
code a hand-written manifest goes through (:func:`dfad_bench.manifest.build_manifest`) and keeps
the rows it had to leave out (an unknown generator) as ``Manifest.excluded``, reported by path
and reason like a bad image; the rest of the data stays usable.

Generator names come, in this order, from ``generators.yaml`` beside the data (the user's word
wins), the adapter's own table of its dataset's methods, and the built-in catalogue
(``dfad-bench list generators``). ``generators.yaml``::

    generators:
      - {name: my-gan, family: gan, forgery_type: efs, description: "my GAN (optional)"}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from dfad_bench.errors import DfadError
from dfad_bench.manifest import Manifest, build_manifest
from dfad_bench.registry import did_you_mean
from dfad_bench.taxonomy import CATALOGUE, REAL, validate_family, validate_forgery_type

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
GENERATORS_FILE = "generators.yaml"


@dataclass(frozen=True)
class GeneratorDecl:
    """A generator's place in the taxonomy as an adapter or ``generators.yaml`` declares it."""

    family: str
    forgery_type: str
    description: str = ""


@dataclass(frozen=True)
class Sample:
    """One image as an adapter sees it. ``generator`` is the dataset's own name for the method
    (normalised by :func:`canonical_name`); ``identity`` defaults to a per-image id (the right
    choice for entirely synthesised faces and for real photos of unknown people)."""

    path: str  # relative to the dataset root, posix
    generator: str
    identity: str | None = None
    source_id: str | None = None
    split_hint: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def canonical_name(raw: str) -> str:
    """Lower case, spaces and underscores as hyphens: ``StyleGAN_2`` -> ``stylegan-2``."""
    return re.sub(r"[\s_]+", "-", raw.strip().lower())


def iter_images(folder: Path) -> Iterator[Path]:
    """Image files under ``folder`` in sorted order (hidden files and folders skipped)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in path.relative_to(folder).parts):
            yield path


def require_dir(root: Path, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DfadError(f"{root}: {what} root folder not found")
    return root


def load_generators_yaml(root: Path) -> dict[str, GeneratorDecl]:
    """``ROOT/generators.yaml`` (absent: nothing declared); a malformed file is a one-line error."""
    path = root / GENERATORS_FILE
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DfadError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
    entries = raw.get("generators") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise DfadError(f"{path}: expected a top-level 'generators:' list of {{name, family, forgery_type}} entries")
    out: dict[str, GeneratorDecl] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: generators[{i}]"
        if not isinstance(entry, dict) or not {"name", "family", "forgery_type"} <= set(entry):
            raise DfadError(f"{where}: expected keys name, family, forgery_type (description optional), got {entry!r}")
        unknown = set(entry) - {"name", "family", "forgery_type", "description"}
        if unknown:
            raise DfadError(f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: name, family, forgery_type, description")
        name = canonical_name(str(entry["name"]))
        validate_family(str(entry["family"]), where)
        validate_forgery_type(str(entry["forgery_type"]), where)
        if name in out:
            raise DfadError(f"{where}: generator {name!r} is declared twice")
        out[name] = GeneratorDecl(str(entry["family"]), str(entry["forgery_type"]), str(entry.get("description") or ""))
    return out


class GeneratorResolver:
    """Generator name -> declaration, from ``generators.yaml``, the adapter's table, the catalogue."""

    def __init__(self, root: Path, known: Mapping[str, GeneratorDecl] | None = None) -> None:
        self.declared = load_generators_yaml(root)
        self.known = {canonical_name(k): v for k, v in (known or {}).items()}

    def get(self, name: str) -> GeneratorDecl | None:
        if name in self.declared:
            return self.declared[name]
        if name in self.known:
            return self.known[name]
        cat = CATALOGUE.get(name)
        return GeneratorDecl(cat.family, cat.forgery_type) if cat else None

    def unknown_reason(self, name: str, family_hint: str | None = None) -> str:
        names = set(self.declared) | set(self.known) | set(CATALOGUE)
        family = family_hint or "<family>"
        return (f"unknown generator {name!r}{did_you_mean(name, names)} "
                f"(declare it in {GENERATORS_FILE} beside the data: {{name: {name}, family: {family}, forgery_type: efs|fs|am}})")


def build_adapted_manifest(
    samples: Iterable[Sample],
    root: Path,
    source: str,
    known: Mapping[str, GeneratorDecl] | None = None,
    family_hints: Mapping[str, str] | None = None,
) -> Manifest:
    """Resolve generators, validate, and return the manifest (unknown generators left out and
    listed in ``Manifest.excluded``). ``family_hints`` (sample path -> family) come from layouts
    that name the family (the folder tree): a catalogue generator must agree with it."""
    resolver = GeneratorResolver(root, known)
    family_hints = family_hints or {}
    rows: list[dict[str, object]] = []
    excluded: list[dict[str, str]] = []
    for s in samples:
        hint = family_hints.get(s.path)
        decl = GeneratorDecl(REAL, REAL) if s.generator == REAL else resolver.get(s.generator)
        if decl is None:
            excluded.append({"sample_id": s.path, "path": str(root / s.path), "reason": resolver.unknown_reason(s.generator, hint)})
            continue
        if hint is not None and hint != decl.family:
            excluded.append({"sample_id": s.path, "path": str(root / s.path),
                             "reason": f"generator {s.generator!r} is family {decl.family!r}, but its folder says {hint!r}"})
            continue
        row: dict[str, object] = {
            "sample_id": s.path, "path": s.path, "generator": s.generator, "family": decl.family,
            "forgery_type": decl.forgery_type, "identity": s.identity or f"img:{s.path}",
        }
        if s.source_id is not None:
            row["source_id"] = s.source_id
        if s.split_hint is not None:
            row["split_hint"] = s.split_hint
        if decl.description:
            row["generator_description"] = decl.description
        row.update(s.extra)
        rows.append(row)
    if not rows:
        why = f"; e.g. {excluded[0]['path']}: {excluded[0]['reason']}" if excluded else ""
        raise DfadError(f"{source}: no usable images found{why}")
    table = pd.DataFrame(rows)
    if "source_id" in table.columns:
        # A source that is not itself a sample (its pristine frame was not extracted) is unknown:
        # dropped, so the manifest stays valid; the identity still keeps the split disjoint.
        table.loc[~table["source_id"].isin(set(table["sample_id"])), "source_id"] = None
    manifest = build_manifest(table, root, source)
    return Manifest(table=manifest.table, source=manifest.source, root=manifest.root, taxonomy=manifest.taxonomy,
                    excluded=tuple(excluded))
