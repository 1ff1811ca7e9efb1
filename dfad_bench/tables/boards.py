"""build_board / build_boards: leaderboards as a pure function of run records (no I/O).

One board per (protocol@version, benchmark, manifest hash): numbers from different manifests
are not comparable, so they never share a table. Rows are models (one row per distinct model
configuration), aggregated over seeds. Every column's display name, direction and number
format live in :data:`COLUMN_SPECS`; nothing else in the package hard-codes them.

The missing-cell rule: an aggregate exists only when every input it needs exists. A run whose
per-generator AUC is missing for one of the board's generators gets no mean AUC (not the mean
of the generators it has), and a row whose seeds do not all define a cell gets no value for it
(not the mean of the seeds that do).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.metrics.table import RUN_GROUP, MetricSpec, metric_specs
from dfad_bench.records import RunRecord

#: Stored mean AUC vs the mean of the stored per-generator AUCs: both come from the same run.
MEAN_TOLERANCE = 1e-6


#: A board column is a metric spec (dfad_bench.metrics.table): display name, direction and format
#: live there and nowhere else.
ColumnSpec = MetricSpec

#: The seed-count column (not a metric: never ranked).
N_SEEDS = MetricSpec("n_seeds", (), "Seeds", None, RUN_GROUP, scale=1.0, decimals=0, summary=False,
                     help="number of seeds (runs) in the row; best marks compare only rows with the board's full count")

#: Template for the one-column-per-generator AUC block.
GENERATOR_COLUMN = MetricSpec(
    "auc:{generator}", ("metrics", "per_generator", "{generator}", "auc"), "AUC {generator}", True, "detection",
    summary=False, help="metrics.per_generator[generator].auc",
)

#: Metric ids that are the board's headline mean (one of them per board, by whether it has unseen generators).
_MEAN_IDS = ("auc_mean_unseen", "auc_mean")
#: Groups whose columns every board of a protocol computing them shows, even when all cells are missing.
_CORE_GROUPS = ("detection", "attribution", RUN_GROUP)


def board_columns() -> dict[str, MetricSpec]:
    """Every board column of the metric table (in display order) plus the seed count."""
    return {**{s.id: s for s in metric_specs() if s.board}, N_SEEDS.id: N_SEEDS}


class _ColumnSpecs(Mapping[str, MetricSpec]):
    """Live view of :func:`board_columns`: a metric registered later is a column too."""

    def __getitem__(self, key: str) -> MetricSpec:
        return board_columns()[key]

    def __iter__(self):
        return iter(board_columns())

    def __len__(self) -> int:
        return len(board_columns())


COLUMN_SPECS: Mapping[str, MetricSpec] = _ColumnSpecs()


def generator_column(generator: str) -> MetricSpec:
    return replace(
        GENERATOR_COLUMN,
        id=GENERATOR_COLUMN.id.format(generator=generator),
        path=("metrics", "per_generator", generator, "auc"),
        name=GENERATOR_COLUMN.name.format(generator=generator),
    )


@dataclass(frozen=True)
class Cell:
    """One aggregated cell: mean and sample std (ddof=1) over ``n`` seeds; None when missing."""

    mean: float | None
    std: float | None
    n: int
    best: bool = False


@dataclass(frozen=True)
class Row:
    label: str
    model: str
    config_id: str
    seeds: tuple[int, ...]
    cells: Mapping[str, Cell]
    run_ids: tuple[str, ...]
    isolation: tuple[str, ...] = ()  # isolation of the row's runs that were neither sealed nor trusted

    @property
    def unsealed(self) -> bool:
        return bool(self.isolation)


@dataclass(frozen=True)
class Board:
    """One leaderboard: a protocol@version on one benchmark's samples (``samples_hash``).

    Runs on copies of the benchmark whose image bytes differ (``manifest_hashes`` has several
    entries, e.g. DFAD-Mini built on two CPU types) share the board; the renderers say so.
    """

    protocol: str
    protocol_version: int
    protocol_hash: str
    benchmark: str
    samples_hash: str
    manifest_hashes: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    rows: tuple[Row, ...]
    generators: tuple[str, ...]  # the per-generator AUC columns, sorted
    has_unseen: bool
    full_seeds: int = 0  # the most seeds any row has: only rows with this many compete for "best"

    @property
    def protocol_ref(self) -> str:
        return f"{self.protocol}@{self.protocol_version}"

    @property
    def sort_key(self) -> str:
        """The column rows are sorted by (descending)."""
        return _sort_key(self.has_unseen)

    @property
    def n_runs(self) -> int:
        return sum(len(r.seeds) for r in self.rows)

    @property
    def title(self) -> str:
        return f"{self.protocol_ref} · benchmark {self.benchmark} · samples {self.samples_hash[:12]}"

    def to_frame(self) -> pd.DataFrame:
        """Numbers in native units (fractions, not percent): ``<key>_mean``/``<key>_std`` per column."""
        data: dict[str, list[Any]] = {
            "model": [r.label for r in self.rows],
            "n_seeds": [len(r.seeds) for r in self.rows],
            "seeds": [" ".join(map(str, r.seeds)) for r in self.rows],
            "best": [";".join(c.key for c in self.columns if r.cells[c.key].best) for r in self.rows],
        }
        for col in self.columns:
            if col.key != "n_seeds":
                data[f"{col.key}_mean"] = [r.cells[col.key].mean for r in self.rows]
                data[f"{col.key}_std"] = [r.cells[col.key].std for r in self.rows]
        return pd.DataFrame(data)


# ----------------------------------------------------------------------------- record values


def _get(record: RunRecord, spec: MetricSpec) -> float | None:
    return spec.lookup(record.raw)[1]  # presence of core metrics is validated by load_records


def _mean_auc(record: RunRecord, generators: Sequence[str], stored_key: str) -> float | None:
    """The record's stored mean AUC, or None if any of the board's generators lacks an AUC in it."""
    per_generator = record.metrics["per_generator"]
    aucs = [per_generator.get(g, {}).get("auc") for g in generators]
    if not aucs or any(a is None for a in aucs):
        return None
    stored = record.metrics[stored_key]
    recomputed = float(np.mean(aucs))
    if stored is None or abs(float(stored) - recomputed) > MEAN_TOLERANCE:
        raise DfadError(
            f"{record.path}: metrics.{stored_key} is {stored!r} but the per_generator AUCs of {list(generators)} "
            f"average to {recomputed:.6g}; the record is inconsistent"
        )
    return float(stored)


def _record_values(
    record: RunRecord, board_generators: Sequence[str], has_unseen: bool, specs: Sequence[MetricSpec]
) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    per_generator = record.metrics["per_generator"]
    shown = board_generators if has_unseen else ()
    for g in shown:
        auc = per_generator.get(g, {}).get("auc")
        values[generator_column(g).key] = None if auc is None else float(auc)
    mean_key, stored = ("auc_mean_unseen", "detection_auc_mean_unseen") if has_unseen else ("auc_mean", "detection_auc_mean")
    values[mean_key] = _mean_auc(record, board_generators, stored)
    for spec in specs:
        if spec.id not in _MEAN_IDS:
            values[spec.id] = _get(record, spec)
    return values


# ----------------------------------------------------------------------------- grouping


def config_id(model_config: Mapping[str, Any]) -> str:
    """Short hash of a model configuration, ignoring its seed (seeds are what a row averages over)."""
    clean = {k: v for k, v in model_config.items() if k != "seed"}
    return hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).replace('"', "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def config_labels(model: str, configs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Row label per config id: ``model`` for the configuration made of each option's most common
    value on the board, ``model (key=value, ...)`` for the options where another one differs
    (e.g. ``gazeclip (gaze=false)`` beside ``gazeclip`` in an ablation); ``[config id]`` is
    appended only if two labels would still coincide."""
    if len(configs) == 1:
        return {cid: model for cid in configs}
    canon = {cid: {k: json.dumps(v, sort_keys=True, default=str) for k, v in cfg.items() if k != "seed"} for cid, cfg in configs.items()}
    keys = sorted({k for c in canon.values() for k in c})
    mode: dict[str, str | None] = {}
    for k in keys:
        counts: dict[str | None, int] = defaultdict(int)
        for c in canon.values():
            counts[c.get(k)] += 1
        # most common value; ties go to the smallest canonical text, so labels are deterministic
        mode[k] = min(counts, key=lambda v: (-counts[v], "" if v is None else v))
    labels = {}
    for cid, c in canon.items():
        diffs = [f"{k}={_short(configs[cid].get(k))}" for k in keys if c.get(k) != mode[k]]
        labels[cid] = f"{model} ({', '.join(diffs)})" if diffs else model
    uses = Counter(labels.values())
    return {cid: f"{lbl} [{cid}]" if uses[lbl] > 1 else lbl for cid, lbl in labels.items()}


def _board_key(record: RunRecord) -> tuple[str, int, str, str]:
    return (record.protocol, record.protocol_version, record.benchmark, record.samples_hash)


def _check_protocol_hashes(records: Sequence[RunRecord]) -> None:
    first: dict[tuple[str, int], RunRecord] = {}
    for r in records:
        other = first.setdefault((r.protocol, r.protocol_version), r)
        if other.protocol_hash != r.protocol_hash:
            raise DfadError(
                f"{r.path}: protocol {r.protocol_ref} has hash {r.protocol_hash[:12]} but {other.path} has "
                f"{other.protocol_hash[:12]}; a released protocol version never changes, so one record is stale or edited"
            )


def _parse_protocol_ref(ref: str) -> tuple[str, int | None]:
    name, sep, version = ref.partition("@")
    if not name or (sep and not version.isdigit()):
        raise DfadError(f"protocol {ref!r}: expected 'name' or 'name@version' (version an integer)")
    return name, int(version) if sep else None


def _matches(record: RunRecord, name: str, version: int | None) -> bool:
    return record.protocol == name and (version is None or record.protocol_version == version)


def _board_generators(records: Sequence[RunRecord]) -> tuple[tuple[str, ...], bool]:
    """Unseen generators of the board (or all generators when none is unseen), sorted."""
    seen_flag: dict[str, tuple[bool, RunRecord]] = {}
    for r in records:
        for g, block in r.metrics["per_generator"].items():
            flag, other = seen_flag.setdefault(g, (block["seen"], r))
            if flag != block["seen"]:
                raise DfadError(
                    f"{r.path}: generator '{g}' is {'seen' if block['seen'] else 'unseen'} here but "
                    f"{'seen' if flag else 'unseen'} in {other.path}; same protocol hash, so the records disagree"
                )
    unseen = sorted(g for g, (flag, _) in seen_flag.items() if not flag)
    if unseen:
        return tuple(unseen), True
    return tuple(sorted(seen_flag)), False


def _make_board(records: Sequence[RunRecord]) -> Board:
    first = records[0]
    generators, has_unseen = _board_generators(records)
    specs = _board_specs(records, has_unseen)
    metric_columns = [generator_column(g) for g in generators] if has_unseen else []
    metric_columns += specs
    columns = (*metric_columns, N_SEEDS)

    # Row identity: model + configuration. Two configurations of one model get labelled rows.
    configs: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for r in records:
        configs[r.model][config_id(r.model_config)] = r.model_config
    row_labels = {(m, cid): lbl for m, cfgs in configs.items() for cid, lbl in config_labels(m, cfgs).items()}
    by_row: dict[tuple[str, str], dict[int, RunRecord]] = defaultdict(dict)
    for r in records:
        key = (r.model, config_id(r.model_config))
        if r.seed in by_row[key]:
            other = by_row[key][r.seed]
            raise DfadError(
                f"{r.path}: duplicate run of model '{r.model}' seed {r.seed} on {r.protocol_ref}/{r.benchmark} "
                f"(also {other.path}); remove one so each seed counts once"
            )
        by_row[key][r.seed] = r

    labels: list[str] = []
    index: list[tuple[str, int]] = []
    values: list[dict[str, float | None]] = []
    row_meta: dict[str, tuple[str, str, tuple[int, ...], tuple[str, ...]]] = {}
    for (model, cid), runs in by_row.items():
        label = row_labels[(model, cid)]
        labels.append(label)
        seeds = tuple(sorted(runs))
        row_meta[label] = (model, cid, seeds, tuple(runs[s].run_id for s in seeds))
        for s in seeds:
            index.append((label, s))
            values.append(_record_values(runs[s], generators, has_unseen, specs))

    keys = [c.key for c in metric_columns]
    frame = pd.DataFrame(values, index=pd.MultiIndex.from_tuples(index, names=["row", "seed"]), columns=keys)
    frame = frame.astype("float64")
    grouped = frame.groupby(level="row", sort=False)
    size = grouped.size()
    complete = grouped.count().eq(size, axis=0)  # every seed defines the cell
    mean = grouped.mean().where(complete)
    std = grouped.std(ddof=1).where(complete & size.gt(1).to_numpy()[:, None])

    full_seeds = max(len(meta[2]) for meta in row_meta.values())
    contenders = {lbl for lbl, meta in row_meta.items() if len(meta[2]) == full_seeds}
    best = _best_rows(mean.loc[[lbl for lbl in labels if lbl in contenders]], metric_columns)
    order = sorted(
        labels,
        key=lambda lbl: (math.isnan(mean.at[lbl, _sort_key(has_unseen)]), -_nan0(mean.at[lbl, _sort_key(has_unseen)]), lbl),
    )
    rows = []
    for lbl in order:
        model, cid, seeds, run_ids = row_meta[lbl]
        cells = {
            k: Cell(
                mean=_none(mean.at[lbl, k]),
                std=_none(std.at[lbl, k]),
                n=len(seeds) if not math.isnan(mean.at[lbl, k]) else 0,
                best=lbl in best[k],
            )
            for k in keys
        }
        cells["n_seeds"] = Cell(mean=float(len(seeds)), std=None, n=len(seeds))
        isolation = tuple(sorted({r.isolation for r in by_row[(model, cid)].values() if not r.sealed_or_trusted}))
        rows.append(Row(label=f"{lbl} (unsealed)" if isolation else lbl, model=model, config_id=cid, seeds=seeds, cells=cells,
                        run_ids=run_ids, isolation=isolation))
    return Board(
        protocol=first.protocol,
        protocol_version=first.protocol_version,
        protocol_hash=first.protocol_hash,
        benchmark=first.benchmark,
        samples_hash=first.samples_hash,
        manifest_hashes=tuple(sorted({r.manifest_hash for r in records})),
        columns=columns,
        rows=tuple(rows),
        generators=generators,
        has_unseen=has_unseen,
        full_seeds=full_seeds,
    )


def _board_specs(records: Sequence[RunRecord], has_unseen: bool) -> list[MetricSpec]:
    """The metric columns of a board: the headline mean, then every board metric of the groups the
    board's protocol computes (its ``metrics:`` list, stored in each record). Columns of optional
    groups (clustering) and plug-in metrics appear only when some run on the board has a value."""
    groups = sorted({g for r in records for g in r.metric_groups})
    out: list[MetricSpec] = []
    for spec in metric_specs(groups):
        if not spec.board or (spec.id in _MEAN_IDS and spec.id != _sort_key(has_unseen)):
            continue
        optional = spec.optional or spec.group not in _CORE_GROUPS or spec.compute is not None
        if optional and all(spec.lookup(r.raw)[1] is None for r in records):
            continue
        out.append(spec)
    mean = next(s for s in out if s.id in _MEAN_IDS)
    return [mean, *(s for s in out if s is not mean)]


def _sort_key(has_unseen: bool) -> str:
    return "auc_mean_unseen" if has_unseen else "auc_mean"


def _nan0(x: float) -> float:
    return 0.0 if math.isnan(x) else float(x)


def _none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _best_rows(mean: pd.DataFrame, columns: Sequence[ColumnSpec]) -> dict[str, set[str]]:
    """Rows holding the best displayed value per ranked column.

    Marked only when at least one competing row is not best: a column where every row shows
    the same number (or only one row has a value) has no winner worth bolding.
    """
    best: dict[str, set[str]] = {}
    for col in columns:
        present = mean[col.key].dropna()
        if not col.ranked or len(present) < 2:
            best[col.key] = set()
            continue
        shown = present.map(col.rounded)
        target = shown.max() if col.higher_is_better else shown.min()
        winners = set(shown.index[shown == target])
        best[col.key] = winners if len(winners) < len(shown) else set()
    return best


# ----------------------------------------------------------------------------- public API


def build_board(records: Iterable[RunRecord], protocol: str, benchmark: str | None = None) -> Board:
    """The board of ``protocol`` (``name`` or ``name@version``), optionally on one ``benchmark``.

    Raises DfadError when no record matches, or when the records span several versions,
    benchmarks or manifests (each is its own board: use :func:`build_boards`).
    """
    records = list(records)
    name, version = _parse_protocol_ref(protocol)
    chosen = [r for r in records if _matches(r, name, version) and (benchmark is None or r.benchmark == benchmark)]
    if not chosen:
        present = sorted({f"{r.protocol_ref} on {r.benchmark}" for r in records})
        raise DfadError(f"protocol {protocol!r}: no complete run records match; records hold {present or 'nothing'}")
    _check_protocol_hashes(chosen)
    keys = sorted({_board_key(r) for r in chosen})
    if len(keys) > 1:
        shown = [f"{p}@{v} on {b} (manifest {m[:12]})" for p, v, b, m in keys]
        raise DfadError(
            f"protocol {protocol!r}: records span {len(keys)} boards {shown}; name the version (name@version) "
            "and benchmark, or use build_boards"
        )
    return _make_board(chosen)


def build_boards(records: Iterable[RunRecord], protocol: str | None = None) -> list[Board]:
    """One board per (protocol@version, benchmark, manifest hash) present, sorted by that key.

    ``protocol`` (``name`` or ``name@version``) keeps only matching records; matching nothing is an error.
    """
    records = list(records)
    _check_protocol_hashes(records)
    if protocol is not None:
        name, version = _parse_protocol_ref(protocol)
        kept = [r for r in records if _matches(r, name, version)]
        if not kept:
            present = sorted({r.protocol_ref for r in records})
            raise DfadError(
                f"protocol {protocol!r}: no complete run records match; protocols with records: {present or 'none'}"
            )
        records = kept
    groups: dict[tuple[str, int, str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[_board_key(r)].append(r)
    return [_make_board(groups[k]) for k in sorted(groups)]
