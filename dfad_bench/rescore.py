"""``dfad-bench rescore RESULTS_DIR``: recompute every record's metrics from its stored predictions.

A record (schema 2) keeps ``predictions.parquet`` with the model outputs and the ground-truth
columns the harness joined (:data:`~dfad_bench.records.LABEL_COLUMNS`), the hash of those label
columns, the label spaces, the protocol's metric groups and the bootstrap n and seed. That is all
scoring needs, so a record rescores on any machine without the benchmark, the model or torch.

Every difference is reported with its key path, the stored and the recomputed value. A record
without predictions (schema 1, or a deleted file) is a problem, not a pass: a number nobody can
recompute is not audited.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError
from dfad_bench.records import RunRecord, labels_hash, load_records

#: Floats agree when within this (absolute or relative): the same code on another CPU may differ
#: in the last bits (BLAS reductions, k-means), which is not a different number.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Difference:
    record: Path
    key: str
    stored: Any
    recomputed: Any

    def __str__(self) -> str:
        return f"{self.record}: {self.key}: stored {self.stored!r}, recomputed {self.recomputed!r}"


@dataclass(frozen=True)
class RescoreReport:
    n_records: int
    differences: tuple[Difference, ...]
    problems: tuple[str, ...]  # records that could not be rescored, and why

    @property
    def ok(self) -> bool:
        return not self.differences and not self.problems

    @property
    def summary(self) -> str:
        return (
            f"rescore: {self.n_records} record(s), {len(self.differences)} difference(s), "
            f"{len(self.problems)} record(s) not rescoreable"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(float(a)) or math.isnan(float(b)):
            return False
        return abs(float(a) - float(b)) <= TOLERANCE * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def compare(stored: Any, recomputed: Any, key: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(key path, stored, recomputed) for every leaf where two JSON values differ."""
    if isinstance(stored, Mapping) and isinstance(recomputed, Mapping):
        for k in sorted(set(stored) | set(recomputed), key=str):
            sub = f"{key}.{k}" if key else str(k)
            if k not in stored:
                yield sub, "<absent>", recomputed[k]
            elif k not in recomputed:
                yield sub, stored[k], "<absent>"
            else:
                yield from compare(stored[k], recomputed[k], sub)
    elif isinstance(stored, list | tuple) and isinstance(recomputed, list | tuple) and len(stored) == len(recomputed):
        for i, (a, b) in enumerate(zip(stored, recomputed, strict=True)):
            yield from compare(a, b, f"{key}[{i}]")
    elif not _same(stored, recomputed):
        yield key, stored, recomputed


def _label_spaces(record: RunRecord) -> dict[str, Any]:
    from dfad_bench.labels import LabelSpace

    try:
        return {
            level: LabelSpace(level, tuple(d["classes"]), tuple(d["seen"]), tuple(d["unseen"]))
            for level, d in record.label_spaces.items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise DfadError(f"{record.path}: label_spaces cannot be read ({exc})") from None


def rescore_record(record: RunRecord) -> list[Difference]:
    """The differences between a record's stored metrics and those recomputed from its predictions.

    Raises DfadError when the record cannot be rescored (no predictions, unreadable file)."""
    import pandas as pd

    from dfad_bench.scoring import score_labelled

    where = record.path or Path("<record>")
    pred_path = record.predictions_path
    if pred_path is None:
        raise DfadError(f"{where}: no predictions in the record (schema 1 or written without them); cannot rescore")
    if not pred_path.is_file():
        raise DfadError(f"{where}: predictions file {pred_path.name} is missing; cannot rescore")
    try:
        frame = pd.read_parquet(pred_path)
    except (OSError, ValueError) as exc:
        raise DfadError(f"{pred_path}: cannot read predictions ({exc})") from None
    assert record.predictions is not None
    out: list[Difference] = []
    stored_hash = record.predictions.get("labels_hash")
    actual = labels_hash(frame)
    if stored_hash != actual:
        out.append(Difference(where, "predictions.labels_hash", stored_hash, actual))
    scoring = record.scoring
    n_bootstrap = scoring.get("n_bootstrap")
    if n_bootstrap is None:
        raise DfadError(f"{where}: scoring.n_bootstrap is not stored; cannot reproduce the bootstrap intervals")
    metrics = score_labelled(
        frame, _label_spaces(record), groups=record.metric_groups, n_bootstrap=int(n_bootstrap),
        seed=int(scoring.get("bootstrap_seed", record.seed)), fixed_threshold=float(scoring.get("fixed_threshold", 0.5)),
        where=str(pred_path),
    )
    out += [Difference(where, f"metrics.{k}", a, b) for k, a, b in compare(record.metrics, metrics)]
    if record.robustness is not None:  # dfad-bench robustness: each perturbed test set, from its kept predictions
        from dfad_bench.robustness import rescore_block

        block = rescore_block(record, frame, _label_spaces(record), int(scoring.get("bootstrap_seed", record.seed)),
                              metrics["detection"])
        out += [Difference(where, f"robustness.{k}", a, b) for k, a, b in compare(record.robustness, block)]
    return out


def rescore(results_dir: str | Path) -> RescoreReport:
    """Rescore every complete record under ``results_dir``."""
    loaded = load_records(results_dir)
    differences: list[Difference] = []
    problems: list[str] = []
    for record in loaded:
        try:
            differences += rescore_record(record)
        except DfadError as exc:
            problems.append(str(exc))
    return RescoreReport(len(loaded), tuple(differences), tuple(problems))
