"""The run-record schema: one module for the writer (the runner) and the readers (tables, rescore).

- :class:`RunSpec` is what makes a run: model, normalised config, protocol, benchmark, manifest
  and seed. Its canonical hash is the run id, so two spellings of one config are one run.
- :class:`RunRecord` is everything that can change a number, stored as ``record.json`` beside
  ``predictions.parquet``. ``to_dict``/``from_dict`` round-trip it; ``from_dict`` validates
  (one-line :class:`DfadError` naming the file and key) and migrates older schema versions.
- :func:`load_records` finds the records under a results folder; unfinished runs are skipped
  with a note, broken records are errors.

Schema history (``schema_version``):

1. the first boards (mini-v1, mini-v2). ``git_commit`` was one string with a ``-dirty`` suffix;
   no predictions provenance, no plug-in distribution, no isolation.
2. ``git`` = ``{commit, dirty}``; ``board``/``allow_dirty`` (was the run meant for the committed
   board, was a dirty tree allowed); ``plugin`` = the distribution that owns the model's code;
   ``isolation``; ``scoring`` (metric groups, bootstrap n and seed, fixed threshold: what
   ``rescore`` needs); ``predictions`` (file, ground-truth label columns and their hash).
   A version-1 record migrates with ``dirty`` read off the suffix, ``board`` false, isolation
   trusted, every metric group, and ``predictions`` null (it cannot be rescored).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError

RECORD_FILE = "record.json"
PREDICTIONS_FILE = "predictions.parquet"
SCHEMA_VERSION = 2
COMPLETE = "complete"
#: Isolation of a run whose plug-in ran in the harness process (``run``: trusted code).
TRUSTED_ISOLATION = "in-process (trusted run)"
#: Isolation values that do not get the board's "unsealed" marker.
SEALED_OR_TRUSTED = ("sealed", "sealed (bubblewrap)")  # the second is what submit records (harness/sealed.py: SEALED)
#: Ground-truth columns the harness writes beside the model outputs, so a record rescores alone.
LABEL_COLUMNS: tuple[str, ...] = ("role", "generator", "family", "forgery_type", "is_fake", "generator_seen", "family_seen")
ALL_METRIC_GROUPS: tuple[str, ...] = ("detection", "attribution", "open_set", "clustering", "bootstrap")


def canonical_json(obj: Any) -> str:
    """The one text form that is hashed: sorted keys, no spaces, no NaN, tuples as lists."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain)


def _plain(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, tuple | set | frozenset):
        return sorted(obj) if isinstance(obj, set | frozenset) else list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ----------------------------------------------------------------------------- the run spec


@dataclass(frozen=True)
class RunSpec:
    """What makes a run one run; ``run_id`` is the hash of its canonical JSON.

    ``config`` is the normalised, typed model config the record stores (``normalise_config``
    output), held as canonical JSON so the spec is hashable and cannot be mutated.
    """

    model: str
    config_json: str
    protocol: str
    protocol_hash: str
    benchmark: str
    manifest_hash: str
    seed: int

    @classmethod
    def create(
        cls, model: str, config: Mapping[str, Any], protocol: str, protocol_hash: str, benchmark: str, manifest_hash: str, seed: int
    ) -> RunSpec:
        try:
            config_json = canonical_json(dict(config))
        except (TypeError, ValueError) as exc:  # NaN, infinity or an object JSON cannot hold
            raise DfadError(f"model {model}: config cannot be recorded ({exc}); expected JSON values (finite numbers, text, lists)") from None
        return cls(model, config_json, protocol, protocol_hash, benchmark, manifest_hash, int(seed))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.config_json)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "config": self.config, "protocol": self.protocol, "protocol_hash": self.protocol_hash,
            "benchmark": self.benchmark, "manifest_hash": self.manifest_hash, "seed": self.seed,
        }

    @property
    def run_id(self) -> str:
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- the record


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One run record (schema version :data:`SCHEMA_VERSION`). ``path`` is where it was read from."""

    run_id: str
    model: str
    model_config: Mapping[str, Any]
    protocol: str
    protocol_version: int
    protocol_hash: str
    benchmark: str
    manifest_hash: str
    samples_hash: str  # manifest_hash without image-byte digests: what boards group by
    seed: int
    selection_rule: str
    threshold: Mapping[str, Any]
    git: Mapping[str, Any]  # {"commit": sha or None, "dirty": bool or None}
    versions: Mapping[str, str]
    hardware: Mapping[str, Any]
    timings: Mapping[str, Any]
    metrics: Mapping[str, Any]
    model_card: Mapping[str, Any] = field(default_factory=dict)
    plugin: Mapping[str, Any] = field(default_factory=dict)  # {"distribution", "version", "module"}
    board: bool = False  # run meant for the committed board (refuses a dirty tree)
    allow_dirty: bool = False
    isolation: str = TRUSTED_ISOLATION
    scoring: Mapping[str, Any] = field(default_factory=dict)  # metric_groups, n_bootstrap, bootstrap_seed, fixed_threshold
    predictions: Mapping[str, Any] | None = None  # file, label_columns, labels_hash, rows
    bad_inputs: tuple[Mapping[str, Any], ...] = ()
    split_counts: Mapping[str, int] = field(default_factory=dict)
    label_spaces: Mapping[str, Any] = field(default_factory=dict)
    command: str = ""
    created_at: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)
    # cross-dataset runs (dfad_bench/cross.py): {name, manifest_hash, samples_hash, train_samples_hash}
    # of the benchmark tested on; absent (None) otherwise, and then not written
    test_benchmark: Mapping[str, Any] | None = None
    # robustness sweeps (dfad-bench robustness, dfad_bench/robustness.py): the sweep, its hash and
    # the per-perturbation scores; absent (None) for a plain run, and then not written
    robustness: Mapping[str, Any] | None = None
    status: str = COMPLETE
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, repr=False)

    @property
    def protocol_ref(self) -> str:
        return f"{self.protocol}@{self.protocol_version}"

    @property
    def git_commit(self) -> str | None:
        """The commit as one string (``<sha>-dirty`` for a dirty tree), as schema 1 wrote it."""
        commit = self.git.get("commit")
        return None if commit is None else commit + ("-dirty" if self.git.get("dirty") else "")

    @property
    def metric_groups(self) -> tuple[str, ...]:
        return tuple(self.scoring.get("metric_groups") or ALL_METRIC_GROUPS)

    @property
    def sealed_or_trusted(self) -> bool:
        return self.isolation == TRUSTED_ISOLATION or self.isolation in SEALED_OR_TRUSTED

    @property
    def predictions_path(self) -> Path | None:
        if self.path is None or not self.predictions:
            return None
        return self.path.parent / str(self.predictions.get("file", PREDICTIONS_FILE))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "path" or (f.name in ("test_benchmark", "robustness") and getattr(self, f.name) is None):
                continue
            out[f.name] = _thaw(getattr(self, f.name))
        return out

    @cached_property
    def raw(self) -> dict[str, Any]:
        """The record as a plain dict (what ``record.json`` holds)."""
        return self.to_dict()

    @classmethod
    def from_dict(cls, obj: Any, path: str | Path | None = None) -> RunRecord:
        """Validate (and migrate, if older) a decoded record; errors name ``path`` and the key."""
        where = Path(path) if path is not None else Path("<record>")
        obj = migrate(_mapping(obj, "<record>", where), where)
        known = {f.name for f in fields(cls)} - {"path"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise DfadError(f"{where}: unknown key '{unknown[0]}' in run record (schema_version {SCHEMA_VERSION})")
        _validate(obj, where)
        kwargs = dict(obj)
        kwargs["bad_inputs"] = tuple(obj.get("bad_inputs") or ())
        return cls(**kwargs, path=Path(path) if path is not None else None)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


# ----------------------------------------------------------------------------- migration


def _migrate_v1(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    commit = out.pop("git_commit", None)
    if isinstance(commit, str) and commit.endswith("-dirty"):
        out["git"] = {"commit": commit[: -len("-dirty")], "dirty": True}
    else:
        out["git"] = {"commit": commit, "dirty": None if commit is None else False}
    out.setdefault("samples_hash", out.get("manifest_hash"))
    out.setdefault("plugin", {"distribution": None, "version": None, "module": None})
    out.setdefault("board", False)
    out.setdefault("allow_dirty", False)
    out.setdefault("isolation", TRUSTED_ISOLATION)
    # Version 1 always computed every group; its bootstrap n was not stored.
    out.setdefault("scoring", {"metric_groups": list(ALL_METRIC_GROUPS), "n_bootstrap": None,
                               "bootstrap_seed": out.get("seed"), "fixed_threshold": 0.5})
    out.setdefault("predictions", None)
    out["schema_version"] = 2
    return out


_MIGRATIONS = {1: _migrate_v1}


def migrate(obj: Mapping[str, Any], where: Path) -> dict[str, Any]:
    """A record dict of any supported schema version, brought to :data:`SCHEMA_VERSION`."""
    out = dict(obj)
    version = _integer(_require(out, "schema_version", "", where), "schema_version", where)
    if version > SCHEMA_VERSION or (version != SCHEMA_VERSION and version not in _MIGRATIONS):
        raise DfadError(
            f"{where}: unsupported schema_version {version}; this dfad-bench reads versions "
            f"{sorted({*_MIGRATIONS, SCHEMA_VERSION})}"
        )
    while version != SCHEMA_VERSION:
        out = _MIGRATIONS[version](out)
        version = out["schema_version"]
    return out


# ----------------------------------------------------------------------------- validation

#: Top-level keys every record must carry (identity of the run plus its provenance, DESIGN.md).
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version", "run_id", "model", "model_config", "protocol", "protocol_version", "protocol_hash", "benchmark",
    "manifest_hash", "samples_hash", "seed", "selection_rule", "threshold", "git", "versions", "hardware", "timings",
    "status", "metrics",
)


def _reject_constant(name: str) -> float:
    # json.loads accepts NaN/Infinity by default; a record is written with allow_nan=False, so one
    # here means the file was not written by dfad-bench (or was edited).
    raise ValueError(f"non-standard JSON constant {name}")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DfadError(f"{path}: cannot read run record ({exc})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise DfadError(f"{path}: malformed JSON in run record ({exc}); expected one JSON object") from None


def _require(obj: Mapping[str, Any], key: str, where: str, path: Path) -> Any:
    if key not in obj:
        raise DfadError(f"{path}: missing required key '{where}{key}' in run record")
    return obj[key]


def _mapping(value: Any, where: str, path: Path) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DfadError(f"{path}: '{where}' must be a JSON object, got {type(value).__name__}")
    return value


def _text(value: Any, where: str, path: Path) -> str:
    if not isinstance(value, str) or not value:
        raise DfadError(f"{path}: '{where}' must be a non-empty string, got {value!r}")
    return value


def _integer(value: Any, where: str, path: Path) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DfadError(f"{path}: '{where}' must be an integer, got {value!r}")
    return value


def _flag(value: Any, where: str, path: Path) -> bool:
    if not isinstance(value, bool):
        raise DfadError(f"{path}: '{where}' must be true or false, got {value!r}")
    return value


def _number_or_null(value: Any, where: str, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DfadError(f"{path}: '{where}' must be a finite number or null, got {value!r}")
    return float(value)


def _validate(obj: Mapping[str, Any], path: Path) -> None:
    from dfad_bench.metrics.table import metric_specs

    for key in REQUIRED_KEYS:
        _require(obj, key, "", path)
    for key in ("run_id", "model", "protocol", "protocol_hash", "benchmark", "manifest_hash", "samples_hash"):
        _text(obj[key], key, path)
    for key in ("protocol_version", "seed"):
        _integer(obj[key], key, path)
    for key in ("model_config", "threshold", "versions", "hardware", "timings", "metrics"):
        _mapping(obj[key], key, path)
    git = _mapping(obj["git"], "git", path)
    if git.get("dirty") is not None:
        _flag(git["dirty"], "git.dirty", path)
    for key in ("board", "allow_dirty"):
        if key in obj:
            _flag(obj[key], key, path)
    if "isolation" in obj:
        _text(obj["isolation"], "isolation", path)
    if obj.get("test_benchmark") is not None:
        test = _mapping(obj["test_benchmark"], "test_benchmark", path)
        for key in ("name", "manifest_hash", "samples_hash"):
            _text(_require(test, key, "test_benchmark.", path), f"test_benchmark.{key}", path)
    if obj.get("robustness") is not None:
        rob = _mapping(obj["robustness"], "robustness", path)
        for key in ("sweep", "sweep_hash"):
            _text(_require(rob, key, "robustness.", path), f"robustness.{key}", path)
        _number_or_null(_require(rob, "mean_auc", "robustness.", path), "robustness.mean_auc", path)
    scoring = _mapping(obj.get("scoring") or {}, "scoring", path)
    groups = scoring.get("metric_groups") or ALL_METRIC_GROUPS
    bad = sorted(set(groups) - set(ALL_METRIC_GROUPS))
    if bad:
        raise DfadError(f"{path}: 'scoring.metric_groups' holds unknown group {bad[0]!r}; expected from {list(ALL_METRIC_GROUPS)}")
    if obj.get("predictions") is not None:
        preds = _mapping(obj["predictions"], "predictions", path)
        for key in ("file", "labels_hash"):
            _text(_require(preds, key, "predictions.", path), f"predictions.{key}", path)
    if obj["status"] != COMPLETE:
        return  # an unfinished run need not have its numbers
    # Every core board metric of the record's groups is present (null = undefined; a null block
    # higher on the path, e.g. clustering of a model without embeddings, counts as present).
    # Plug-in metrics (with their own function) and optional ones (robustness) may be absent.
    for spec in metric_specs(groups):
        if not spec.board or spec.compute is not None or spec.optional:
            continue
        present, _ = spec.lookup(obj)
        if not present:
            raise DfadError(f"{path}: missing required key '{'.'.join(spec.path)}' in run record")
        value: Any = obj
        for key in spec.path:
            value = value.get(key) if isinstance(value, Mapping) else None
        _number_or_null(value, ".".join(spec.path), path)
    metrics = obj["metrics"]
    per_generator = _mapping(_require(metrics, "per_generator", "metrics.", path), "metrics.per_generator", path)
    for name, block in per_generator.items():
        where = f"metrics.per_generator.{name}"
        block = _mapping(block, where, path)
        _flag(_require(block, "seen", f"{where}.", path), f"{where}.seen", path)
        _number_or_null(_require(block, "auc", f"{where}.", path), f"{where}.auc", path)


# ----------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class SkippedRun:
    """A run folder that is not (yet) a finished run, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


@dataclass(frozen=True)
class LoadedRecords:
    """The complete records under a results folder (iterable like a list) and the skipped runs."""

    records: tuple[RunRecord, ...]
    skipped: tuple[SkippedRun, ...] = ()

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> RunRecord:
        return self.records[index]

    @property
    def notes(self) -> list[str]:
        return [str(s) for s in self.skipped]


def parse_record(obj: Any, path: Path) -> RunRecord:
    """Validate one decoded record into a RunRecord (kept for callers of the old reader)."""
    return RunRecord.from_dict(obj, path)


def load_record(path: str | Path) -> RunRecord | SkippedRun:
    """Read one ``record.json``: a RunRecord, or a SkippedRun when its status is not complete."""
    path = Path(path)
    obj = _mapping(_read_json(path), "<record>", path)
    status = _require(obj, "status", "", path)
    if status != COMPLETE:
        return SkippedRun(path.parent, f"status is {status!r}, not {COMPLETE!r}")
    return RunRecord.from_dict(obj, path)


def load_records(results_dir: str | Path) -> LoadedRecords:
    """Every complete run record under ``results_dir`` (recursively), in path order.

    Raises DfadError for a missing folder, malformed JSON or a record missing a required key.
    Folders with ``predictions.parquet`` but no ``record.json`` (a run still going or one that
    crashed) and records whose status is not ``complete`` are returned in ``.skipped``.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise DfadError(f"{root}: results folder does not exist; expected a folder of run folders with {RECORD_FILE}")
    records: list[RunRecord] = []
    skipped: list[SkippedRun] = []
    for path in sorted(root.rglob(RECORD_FILE)):
        if not path.is_file() or ".work" in path.relative_to(root).parts:
            continue
        loaded = load_record(path)
        (records if isinstance(loaded, RunRecord) else skipped).append(loaded)
    for pred in sorted(root.rglob(PREDICTIONS_FILE)):
        if ".work" in pred.relative_to(root).parts:
            continue
        if not (pred.parent / RECORD_FILE).is_file():
            skipped.append(SkippedRun(pred.parent, f"no {RECORD_FILE} (run unfinished or crashed)"))
    skipped.sort(key=lambda s: str(s.path))
    return LoadedRecords(tuple(records), tuple(skipped))


# ----------------------------------------------------------------------------- predictions labels


def labels_hash(frame: Any) -> str:
    """SHA-256 of the ground-truth columns of a predictions table (rows in sample_id order), so an
    edited label in ``predictions.parquet`` is caught by ``rescore``."""
    cols = ["sample_id", *LABEL_COLUMNS]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DfadError(f"predictions: missing ground-truth column {missing[0]!r}; expected {cols}")
    part = frame[cols].sort_values("sample_id", kind="mergesort")
    rows = [[str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), bool(r[5]), bool(r[6]), bool(r[7])]
            for r in part.itertuples(index=False, name=None)]
    return hashlib.sha256(canonical_json(rows).encode()).hexdigest()
