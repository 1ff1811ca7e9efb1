"""Versioned protocols: which generators train, which appear only at test, how to split.

A protocol is a YAML file ``<name>.v<version>.yaml`` inside a suite folder of
``dfad_bench/protocols/``. Its hash is the SHA-256 of its canonical JSON form, so old run
records keep matching as long as the file's meaning is unchanged. A released version is never
edited: a fix is a new version (``superseded_by`` marks the old one).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dfad_bench.errors import DfadError
from dfad_bench.registry import did_you_mean
from dfad_bench.taxonomy import REAL, Taxonomy

DEFAULT_SUITE = "dfad-v1"
SELECTOR_KEYS = {
    "all",
    "families",
    "generators",
    "forgery_types",
    "exclude_families",
    "exclude_generators",
    "exclude_forgery_types",
    "one_per_family",
}
TOP_KEYS = {
    "name",
    "version",
    "suite",
    "description",
    "seen",
    "unseen",
    "split",
    "metrics",
    "superseded_by",
    "selection",
    "allow_missing",
}
SPLIT_KEYS = {"fractions", "group_by", "use_split_hint"}
KNOWN_METRICS = {"detection", "attribution", "open_set", "clustering", "bootstrap"}
#: Metric groups in the order the report computes them (a protocol's list is stored in this order).
METRIC_ORDER = ("detection", "attribution", "open_set", "clustering", "bootstrap")
#: Selection rules the harness implements, and what each one means. ``val-only``: checkpoints,
#: early stopping, hyper-parameter choices and the detection threshold are chosen on the val
#: split (seen classes only), never on test; the harness enforces it by handing test labels to
#: nobody and calibrating the threshold on val predictions.
SELECTION_RULES = {
    "val-only": "checkpoints, early stopping and thresholds chosen on val (seen classes only); test selects nothing",
}
_FILE_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*)\.v(?P<version>\d+)\.yaml$")


@dataclass(frozen=True)
class Selector:
    """Chooses generators from a taxonomy (see docs/PROTOCOLS.md)."""

    all: bool = False
    families: tuple[str, ...] = ()
    generators: tuple[str, ...] = ()
    forgery_types: tuple[str, ...] = ()
    exclude_families: tuple[str, ...] = ()
    exclude_generators: tuple[str, ...] = ()
    exclude_forgery_types: tuple[str, ...] = ()
    one_per_family: bool = False

    def select(self, taxonomy: Taxonomy) -> set[str]:
        fakes = {n: g for n, g in taxonomy.generators.items() if g.family != REAL}
        if self.all:
            chosen = set(fakes)
        else:
            chosen = {
                n
                for n, g in fakes.items()
                if n in self.generators or g.family in self.families or g.forgery_type in self.forgery_types
            }
            if not (self.generators or self.families or self.forgery_types) and (
                self.exclude_families or self.exclude_generators or self.exclude_forgery_types
            ):
                chosen = set(fakes)
        chosen = {
            n
            for n in chosen
            if n not in self.exclude_generators
            and fakes[n].family not in self.exclude_families
            and fakes[n].forgery_type not in self.exclude_forgery_types
        }
        if self.one_per_family:
            # Deterministic hold-out: the alphabetically last generator of each family that has
            # at least two candidates, so the family itself stays seen through the others.
            by_family: dict[str, list[str]] = {}
            for n in sorted(chosen):
                by_family.setdefault(fakes[n].family, []).append(n)
            chosen = {names[-1] for names in by_family.values() if len(names) >= 2}
        return chosen


@dataclass(frozen=True)
class SplitSpec:
    fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)
    group_by: tuple[str, ...] = ("identity", "source_id")
    use_split_hint: bool = True


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    suite: str
    description: str
    seen: Selector
    unseen: Selector
    split: SplitSpec
    metrics: tuple[str, ...]
    hash: str
    path: str = ""
    selection: str = "val-only"
    superseded_by: str | None = None
    # true: generators/families/forgery types the protocol names but the benchmark lacks are
    # skipped (the split and the record list them) instead of refused
    allow_missing: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def missing_names(self, taxonomy: Taxonomy) -> list[str]:
        """What the protocol names to train on or hold out that no fake generator of this
        benchmark has, as ``"unseen.families: flow"``; also an unseen selector that selects
        nothing (a closed-set run in disguise). Exclusions of absent names are harmless."""
        fakes = {n: g for n, g in taxonomy.generators.items() if g.family != REAL}
        have = {
            "generators": set(fakes),
            "families": {g.family for g in fakes.values()},
            "forgery_types": {g.forgery_type for g in fakes.values()},
        }
        out: list[str] = []
        for role, sel in (("seen", self.seen), ("unseen", self.unseen)):
            for key, present in have.items():
                out += [f"{role}.{key}: {name}" for name in getattr(sel, key) if name not in present]
        names_any = self.unseen.all or self.unseen.one_per_family or self.unseen.generators or self.unseen.families or self.unseen.forgery_types
        if names_any and not out and not self.unseen.select(taxonomy):
            out.append("unseen: selects no generator of this benchmark")
        return out

    def resolve_generators(self, taxonomy: Taxonomy) -> tuple[set[str], set[str]]:
        """(seen fake generators, unseen fake generators) for a benchmark's taxonomy.

        Names the benchmark lacks are an error (a protocol whose unseen generators are all absent
        would silently run closed-set) unless the protocol says ``allow_missing: true``."""
        missing = self.missing_names(taxonomy)
        if missing and not self.allow_missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DfadError(
                f"protocol {self.ref}: {missing[0]}{more} is absent from this benchmark; "
                "fix the protocol, or add 'allow_missing: true' to it to run without them (the record notes it)"
            )
        unseen = self.unseen.select(taxonomy)
        seen = self.seen.select(taxonomy) - unseen
        if not seen:
            raise DfadError(f"protocol {self.ref}: no seen fake generator in this benchmark; nothing to train on")
        return seen, unseen

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "suite": self.suite,
            "hash": self.hash,
            "description": self.description,
            "superseded_by": self.superseded_by,
        }


def _tuple_of_str(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DfadError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _parse_selector(raw: Any, where: str) -> Selector:
    if raw is None:
        return Selector()
    if not isinstance(raw, dict):
        raise DfadError(f"{where}: expected a mapping with keys from {sorted(SELECTOR_KEYS)}")
    unknown = set(raw) - SELECTOR_KEYS
    if unknown:
        raise DfadError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected keys from {sorted(SELECTOR_KEYS)}")
    for flag in ("all", "one_per_family"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise DfadError(f"{where}.{flag}: expected true or false, got {raw[flag]!r}")
    return Selector(
        all=bool(raw.get("all", False)),
        one_per_family=bool(raw.get("one_per_family", False)),
        **{k: _tuple_of_str(raw.get(k), f"{where}.{k}") for k in SELECTOR_KEYS - {"all", "one_per_family"}},
    )


def _parse_split(raw: Any, where: str) -> SplitSpec:
    if raw is None:
        return SplitSpec()
    if not isinstance(raw, dict):
        raise DfadError(f"{where}: expected a mapping with keys from {sorted(SPLIT_KEYS)}")
    unknown = set(raw) - SPLIT_KEYS
    if unknown:
        raise DfadError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected keys from {sorted(SPLIT_KEYS)}")
    fr = raw.get("fractions", {"train": 0.6, "val": 0.1, "test": 0.3})
    if not isinstance(fr, dict) or set(fr) != {"train", "val", "test"}:
        raise DfadError(f"{where}.fractions: expected a mapping with exactly train, val, test")
    try:
        fractions = (float(fr["train"]), float(fr["val"]), float(fr["test"]))
    except (TypeError, ValueError) as exc:
        raise DfadError(f"{where}.fractions: values must be numbers") from exc
    if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise DfadError(f"{where}.fractions: train/val/test must be positive and sum to 1, got {fractions}")
    group_by = _tuple_of_str(raw.get("group_by", ["identity", "source_id"]), f"{where}.group_by")
    bad = set(group_by) - {"identity", "source_id"}
    if bad:
        raise DfadError(f"{where}.group_by: unknown grouping {sorted(bad)[0]!r}; expected identity and/or source_id")
    hint = raw.get("use_split_hint", True)
    if not isinstance(hint, bool):
        raise DfadError(f"{where}.use_split_hint: expected true or false")
    return SplitSpec(fractions, group_by, hint)


def _parse_metrics(raw: Any, where: str) -> tuple[str, ...]:
    """The metric groups the run computes and the board shows, in report order."""
    groups = _tuple_of_str(raw, where)
    bad = set(groups) - KNOWN_METRICS
    if bad:
        raise DfadError(f"{where}: unknown metric group {sorted(bad)[0]!r}; expected from {list(METRIC_ORDER)}")
    if "detection" not in groups:
        raise DfadError(f"{where}: 'detection' is required (boards rank by detection AUC); got {list(groups)}")
    if "open_set" in groups and "attribution" not in groups:
        raise DfadError(f"{where}: 'open_set' needs 'attribution' (it scores the attribution probabilities)")
    return tuple(g for g in METRIC_ORDER if g in groups)


def _parse_allow_missing(raw: dict[str, Any], where: str) -> bool:
    value = raw.get("allow_missing", False)
    if not isinstance(value, bool):
        raise DfadError(f"{where}.allow_missing: expected true or false, got {value!r}")
    return value


def canonical_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def parse_protocol(raw: Any, where: str) -> Protocol:
    if not isinstance(raw, dict):
        raise DfadError(f"{where}: a protocol file must be a YAML mapping")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise DfadError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected keys from {sorted(TOP_KEYS)}")
    for key in ("name", "version", "seen"):
        if key not in raw:
            raise DfadError(f"{where}: missing required key {key!r}")
    name = raw["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise DfadError(f"{where}: 'name' must be a lower-case slug, got {name!r}")
    version = raw["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DfadError(f"{where}: 'version' must be a positive integer, got {version!r}")
    metrics = _parse_metrics(raw.get("metrics", list(METRIC_ORDER)), f"{where}.metrics")
    selection = raw.get("selection", "val-only")
    if selection not in SELECTION_RULES:
        raise DfadError(
            f"{where}: selection {selection!r} is not a rule the harness implements; expected one of {sorted(SELECTION_RULES)}"
        )
    return Protocol(
        name=name,
        version=version,
        suite=str(raw.get("suite", DEFAULT_SUITE)),
        description=" ".join(str(raw.get("description", "")).split()),
        seen=_parse_selector(raw["seen"], f"{where}.seen"),
        unseen=_parse_selector(raw.get("unseen"), f"{where}.unseen"),
        split=_parse_split(raw.get("split"), f"{where}.split"),
        metrics=metrics,
        hash=canonical_hash(raw),
        path=where,
        selection=selection,
        superseded_by=raw.get("superseded_by"),
        allow_missing=_parse_allow_missing(raw, where),
        raw=raw,
    )


def load_protocol_file(path: str | Path) -> Protocol:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DfadError(f"{path}: cannot read protocol file ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise DfadError(f"{path}: not a text file (binary content); expected a protocol YAML file") from None
    except yaml.YAMLError as exc:
        raise DfadError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from exc
    proto = parse_protocol(raw, str(path))
    m = _FILE_RE.match(path.name)
    if m and (m["name"] != proto.name or int(m["version"]) != proto.version):
        raise DfadError(f"{path}: file name says {m['name']}@{m['version']} but the file says {proto.ref}")
    return proto


def list_protocols(suite: str = DEFAULT_SUITE, include_superseded: bool = True) -> list[Protocol]:
    """Every protocol file of a suite; a malformed or duplicate file is an error, never skipped."""
    folder = resources.files("dfad_bench") / "protocols" / suite
    if not folder.is_dir():
        raise DfadError(f"unknown protocol suite {suite!r}")
    out: dict[str, Protocol] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        if not _FILE_RE.match(entry.name):
            raise DfadError(f"{entry}: protocol files must be named <name>.v<version>.yaml")
        proto = load_protocol_file(Path(str(entry)))
        if proto.ref in out:
            raise DfadError(f"{entry}: duplicate protocol {proto.ref}")
        out[proto.ref] = proto
    protos = sorted(out.values(), key=lambda p: (p.name, p.version))
    return [p for p in protos if include_superseded or p.superseded_by is None]


def get_protocol(ref: str, suite: str = DEFAULT_SUITE) -> Protocol:
    """``name`` (latest version), ``name@version``, or a path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        return load_protocol_file(ref)
    name, _, version = ref.partition("@")
    protos = list_protocols(suite)
    matches = [p for p in protos if p.name == name]
    if not matches:
        known = sorted({p.name for p in protos})
        hint = did_you_mean(name, known) or f"; known: {', '.join(known)}"
        raise DfadError(f"unknown protocol {name!r}{hint}")
    if version:
        if not version.isdigit():
            raise DfadError(f"protocol {ref!r}: version must be an integer")
        for p in matches:
            if p.version == int(version):
                return p
        raise DfadError(f"protocol {name!r} has no version {version}; versions: {[p.version for p in matches]}")
    return max(matches, key=lambda p: p.version)
