"""``dfad-bench robustness``: fit once, then score the same fitted model on perturbed test sets.

The run's phases are ``run``'s (dfad_bench/harness/runner.py): plan, claim the run folder, execute
the model — here with the sweep's perturbations, so after the clean test set the same fitted model
predicts each perturbed copy of it — then score and write. Each perturbed test set is scored by
the same code as the clean one (``score_labelled``), with the threshold calibrated on the *clean*
val split (val is never perturbed). The run folder gets, besides ``run``'s files:

- ``robustness-predictions.parquet``: (perturbation, sample_id, fake_score), for rescoring;
- ``robustness.csv`` / ``robustness.md``: one row per perturbation (and the clean row);
- ``robustness.png``: AUC and ACC@val threshold against severity, one line per perturbation kind;
- ``record.json`` with a ``robustness`` block: the sweep, its hash, every row and ``mean_auc``,
  the mean test AUC over the sweep that the board's "Robustness AUC" column shows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.atomic import atomic_path, write_text_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.harness.runner import (
    RunOptions,
    RunPlan,
    build_record,
    claim_run_dir,
    execute_model,
    export_run_model,
    label_predictions,
    plan_run,
    run_model_code,
    write_run,
)
from dfad_bench.perturbations import Sweep, get_sweep, sweep_from_dict
from dfad_bench.records import LABEL_COLUMNS, RunRecord
from dfad_bench.scoring import score_labelled

PREDICTIONS = "robustness-predictions.parquet"
TABLE_CSV, TABLE_MD, PLOT = "robustness.csv", "robustness.md", "robustness.png"


def robustness(opts: RunOptions, sweep: str = "robustness-v1") -> tuple[RunRecord, Path]:
    """Fit ``opts.model`` once, predict the clean and every perturbed test set, write the run
    folder (record last). The sweep name is checked before anything else."""
    spec = get_sweep(sweep)
    if opts.test_benchmark:
        raise DfadError("robustness: cross-dataset runs (--test-benchmark) are not supported")
    plan = plan_run(opts)
    with claim_run_dir(plan) as run_dir:
        outcome = run_model_code(opts.model, run_dir, lambda: execute_model(plan, perturbations=spec.perturbations))
        labelled = label_predictions(plan, outcome)
        record = build_record(plan, outcome, labelled)
        rows = score_sweep(plan, labelled, outcome.perturbed, spec)
        rows = [clean_row(record.metrics["detection"]), *rows]
        kept = pd.concat([f.assign(perturbation=name) for name, f in outcome.perturbed.items()], ignore_index=True)
        kept = kept[["perturbation", "sample_id", "fake_score"]]
        write_with_atomic(run_dir / PREDICTIONS, lambda p: kept.to_parquet(p, index=False, compression="zstd"))
        table = robustness_table(rows)
        write_with_atomic(run_dir / TABLE_CSV, lambda p: table.to_csv(p, index=False))
        write_text_atomic(run_dir / TABLE_MD, render_markdown(table, record, spec))
        render_plot(rows, run_dir / PLOT, f"{opts.model} on {plan.protocol.ref} (seed {opts.seed}), {spec.name}")
        record = dataclasses.replace(record, robustness=robustness_block(rows, spec, len(kept)))
        write_run(run_dir, record, labelled)
        export_run_model(plan, outcome, record, run_dir)
        return record, run_dir


def score_sweep(plan: RunPlan, labelled: pd.DataFrame, perturbed: dict[str, pd.DataFrame], spec: Sweep) -> list[dict[str, Any]]:
    """Detection scores of each perturbed test set of a run (see :func:`sweep_rows`)."""
    return sweep_rows(labelled, perturbed, spec, plan.split.label_spaces, plan.split.seed, plan.opts.model)


def sweep_rows(labelled: pd.DataFrame, perturbed: dict[str, pd.DataFrame], spec: Sweep, label_spaces: dict[str, Any],
               seed: int, model: str) -> list[dict[str, Any]]:
    """Detection scores of each perturbed test set: the clean val rows (threshold) + the perturbed
    test predictions with the clean test rows' labels, through ``score_labelled`` (``rescore``
    calls this on the stored predictions)."""
    cols = ["sample_id", *LABEL_COLUMNS]
    val = labelled.loc[labelled["role"] == "val", [*cols, "fake_score"]]
    test = labelled.loc[labelled["role"] == "test", cols]
    rows: list[dict[str, Any]] = []
    level: dict[str, int] = {}
    for p in spec.perturbations:
        if p.name not in perturbed:
            raise DfadError(f"robustness: no predictions of {model} under {p.name}")
        scored = test.merge(perturbed[p.name][["sample_id", "fake_score"]], on="sample_id", how="left", validate="one_to_one")
        if scored["fake_score"].isna().any():
            raise DfadError(f"robustness: {model} left test samples without a score under {p.name}")
        frame = pd.concat([val, scored], ignore_index=True)
        det = score_labelled(frame, label_spaces, groups=("detection",), n_bootstrap=0, seed=seed,
                             fixed_threshold=0.5, where=f"{model} predictions under {p.name}")["detection"]
        level[p.kind] = level.get(p.kind, 0) + 1  # the sweep lists each kind from mild to severe
        rows.append({"perturbation": p.name, "kind": p.kind, "strength": p.strength, "level": level[p.kind],
                     "auc": det.get("auc"), "acc_val_threshold": det.get("acc_val_threshold"), "ap": det.get("ap")})
    return rows


def clean_row(detection: dict[str, Any]) -> dict[str, Any]:
    return {"perturbation": "clean", "kind": "clean", "strength": None, "level": 0, "auc": detection.get("auc"),
            "acc_val_threshold": detection.get("acc_val_threshold"), "ap": detection.get("ap")}


def rescore_block(record: RunRecord, labelled: pd.DataFrame, label_spaces: dict[str, Any], seed: int,
                  clean_detection: dict[str, Any]) -> dict[str, Any]:
    """The record's robustness block recomputed from ``robustness-predictions.parquet`` and the
    record's own sweep spec (so a record rescored after the sweep registry changed still checks)."""
    block = dict(record.robustness or {})
    where = record.path or Path("<record>")
    path = (record.path.parent if record.path else Path(".")) / str((block.get("predictions") or {}).get("file", PREDICTIONS))
    if not path.is_file():
        raise DfadError(f"{where}: robustness predictions {path.name} are missing; cannot rescore the sweep")
    try:
        kept = pd.read_parquet(path)
        spec = sweep_from_dict(block["spec"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DfadError(f"{path}: cannot rescore the robustness sweep ({exc})") from None
    perturbed = {str(name): g for name, g in kept.groupby("perturbation", sort=False)}
    rows = [clean_row(clean_detection), *sweep_rows(labelled, perturbed, spec, label_spaces, seed, record.model)]
    return {**block, "results": rows, "mean_auc": mean_auc(rows), "sweep_hash": spec.hash}


def mean_auc(rows: list[dict[str, Any]]) -> float | None:
    """Mean test AUC over the sweep's perturbations (clean excluded); None if any is undefined."""
    aucs = [r["auc"] for r in rows if r["kind"] != "clean"]
    return None if not aucs or any(a is None for a in aucs) else float(np.mean(aucs))


def robustness_block(rows: list[dict[str, Any]], spec: Sweep, n_predictions: int) -> dict[str, Any]:
    return {"sweep": spec.name, "sweep_version": spec.version, "sweep_hash": spec.hash, "spec": spec.to_dict(),
            "mean_auc": mean_auc(rows), "results": rows,
            "predictions": {"file": PREDICTIONS, "rows": n_predictions},
            "files": [TABLE_CSV, TABLE_MD, PLOT]}


def robustness_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["perturbation", "kind", "strength", "level", "auc", "acc_val_threshold", "ap"])
    clean_auc = rows[0]["auc"]
    table["delta_auc"] = [None if a is None or clean_auc is None else a - clean_auc for a in table["auc"]]
    return table


def render_markdown(table: pd.DataFrame, record: RunRecord, spec: Sweep) -> str:
    def pct(v: Any) -> str:
        return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.1f}"

    mean = mean_auc(table.to_dict("records"))
    lines = [
        f"# Robustness: {record.model} on {record.protocol_ref}, seed {record.seed}",
        "",
        f"Sweep `{spec.name}` (version {spec.version}, hash `{spec.hash[:12]}`); run `{record.run_id}`. "
        f"Mean AUC over the sweep: **{pct(mean)}**. ACC at the threshold calibrated on the clean val split.",
        "",
        "| perturbation | kind | strength | AUC | ΔAUC | ACC@val thr. | AP |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.to_dict("records"):
        strength = "" if r["strength"] is None or pd.isna(r["strength"]) else f"{r['strength']:g}"
        lines.append(f"| {r['perturbation']} | {r['kind']} | {strength} | {pct(r['auc'])} | {pct(r['delta_auc'])} | "
                     f"{pct(r['acc_val_threshold'])} | {pct(r['ap'])} |")
    return "\n".join(lines) + "\n"


def render_plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """AUC and ACC@val threshold against severity level (0 = clean), one line per kind, each
    point labelled with its strength (kinds have different units, so the x axis is the level)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    clean = rows[0]
    kinds = list(dict.fromkeys(r["kind"] for r in rows[1:]))
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, label in ((axes[0], "auc", "test AUC"), (axes[1], "acc_val_threshold", "test ACC @ val threshold")):
        for kind in kinds:
            pts = [clean] + [r for r in rows[1:] if r["kind"] == kind]
            x = [r["level"] for r in pts]
            y = [np.nan if r[key] is None else r[key] for r in pts]
            (line,) = ax.plot(x, y, marker="o", label=kind)
            for r, xi, yi in zip(pts[1:], x[1:], y[1:], strict=True):
                ax.annotate(f"{r['strength']:g}", (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=7,
                            color=line.get_color())
        ax.axhline(0.5, color="grey", linewidth=0.8)
        ax.set_xticks(range(max(r["level"] for r in rows) + 1))
        ax.set_xlabel("severity level within a kind (0 = clean)")
        ax.set_ylabel(label)
        ax.set_ylim(0.0, 1.02)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
