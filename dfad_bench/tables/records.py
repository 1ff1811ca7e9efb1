"""load_records: find run records under a results folder, validate them, skip unfinished runs.

A run folder holds ``record.json`` (written last, atomically, by the runner) and
``predictions.parquet``. Folders may be nested, so records are found with a recursive glob.
Tables only read the fields they show plus the provenance every record must carry (docs/
LEADERBOARD.md); a record missing one of them, or holding malformed JSON, is an error naming
the file and the key, because a table silently built from part of the results would mislead.
A run that has not finished (predictions without a record, or ``status`` other than
``complete``) is not an error: it is skipped and reported as a note.

No torch, no model code: tables are rebuilt from stored JSON on any machine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError

RECORD_FILE = "record.json"
PREDICTIONS_FILE = "predictions.parquet"
SCHEMA_VERSION = 1
COMPLETE = "complete"

#: Top-level keys every record must carry (identity of the run plus its provenance, DESIGN.md).
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version",
    "run_id",
    "model",
    "model_config",
    "protocol",
    "protocol_version",
    "protocol_hash",
    "benchmark",
    "manifest_hash",
    "seed",
    "selection_rule",
    "threshold",
    "git_commit",
    "versions",
    "hardware",
    "timings",
    "status",
    "metrics",
)

#: Metric keys the tables read; their values may be null (undefined), but the key must exist.
REQUIRED_METRIC_NUMBERS: tuple[str, ...] = (
    "detection_auc_mean_unseen",
    "detection_auc_mean",
    "attribution_acc_family",
    "attribution_macro_f1_family",
    "attribution_acc_generator",
)


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One validated run record; ``raw`` keeps the whole JSON object for anything else."""

    path: Path
    run_id: str
    model: str
    model_config: Mapping[str, Any]
    protocol: str
    protocol_version: int
    protocol_hash: str
    benchmark: str
    manifest_hash: str
    samples_hash: str
    seed: int
    timings: Mapping[str, Any]
    metrics: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def protocol_ref(self) -> str:
        return f"{self.protocol}@{self.protocol_version}"


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


# ----------------------------------------------------------------------------- validation


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


def _number_or_null(value: Any, where: str, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DfadError(f"{path}: '{where}' must be a finite number or null, got {value!r}")
    return float(value)


def _validate_metrics(metrics: Mapping[str, Any], path: Path) -> None:
    for key in REQUIRED_METRIC_NUMBERS:
        _number_or_null(_require(metrics, key, "metrics.", path), f"metrics.{key}", path)
    detection = _mapping(_require(metrics, "detection", "metrics.", path), "metrics.detection", path)
    _number_or_null(
        _require(detection, "acc_val_threshold", "metrics.detection.", path),
        "metrics.detection.acc_val_threshold",
        path,
    )
    per_generator = _mapping(_require(metrics, "per_generator", "metrics.", path), "metrics.per_generator", path)
    for name, block in per_generator.items():
        where = f"metrics.per_generator.{name}"
        block = _mapping(block, where, path)
        seen = _require(block, "seen", f"{where}.", path)
        if not isinstance(seen, bool):
            raise DfadError(f"{path}: '{where}.seen' must be true or false, got {seen!r}")
        _number_or_null(_require(block, "auc", f"{where}.", path), f"{where}.auc", path)


def parse_record(obj: Any, path: Path) -> RunRecord:
    """Validate one decoded record (status already known to be complete) into a RunRecord."""
    obj = _mapping(obj, "<record>", path)
    for key in REQUIRED_KEYS:
        _require(obj, key, "", path)
    version = _integer(obj["schema_version"], "schema_version", path)
    if version != SCHEMA_VERSION:
        raise DfadError(
            f"{path}: unsupported schema_version {version}; this dfad-bench reads schema_version {SCHEMA_VERSION}"
        )
    timings = _mapping(obj["timings"], "timings", path)
    _number_or_null(
        _require(timings, "predict_images_per_second", "timings.", path), "timings.predict_images_per_second", path
    )
    metrics = _mapping(obj["metrics"], "metrics", path)
    _validate_metrics(metrics, path)
    return RunRecord(
        path=path,
        run_id=_text(obj["run_id"], "run_id", path),
        model=_text(obj["model"], "model", path),
        model_config=_mapping(obj["model_config"], "model_config", path),
        protocol=_text(obj["protocol"], "protocol", path),
        protocol_version=_integer(obj["protocol_version"], "protocol_version", path),
        protocol_hash=_text(obj["protocol_hash"], "protocol_hash", path),
        benchmark=_text(obj["benchmark"], "benchmark", path),
        manifest_hash=_text(obj["manifest_hash"], "manifest_hash", path),
        # Optional: records written before it existed identify their samples by manifest_hash.
        samples_hash=_text(obj.get("samples_hash", obj["manifest_hash"]), "samples_hash", path),
        seed=_integer(obj["seed"], "seed", path),
        timings=timings,
        metrics=metrics,
        raw=obj,
    )


def load_record(path: str | Path) -> RunRecord | SkippedRun:
    """Read one ``record.json``: a RunRecord, or a SkippedRun when its status is not complete."""
    path = Path(path)
    obj = _read_json(path)
    obj = _mapping(obj, "<record>", path)
    status = _require(obj, "status", "", path)
    if status != COMPLETE:
        return SkippedRun(path.parent, f"status is {status!r}, not {COMPLETE!r}")
    return parse_record(obj, path)


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
        if not path.is_file():
            continue
        loaded = load_record(path)
        (records if isinstance(loaded, RunRecord) else skipped).append(loaded)
    for pred in sorted(root.rglob(PREDICTIONS_FILE)):
        if not (pred.parent / RECORD_FILE).is_file():
            skipped.append(SkippedRun(pred.parent, f"no {RECORD_FILE} (run unfinished or crashed)"))
    skipped.sort(key=lambda s: str(s.path))
    return LoadedRecords(tuple(records), tuple(skipped))
