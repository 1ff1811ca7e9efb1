"""``dfad-bench run``: model x protocol x benchmark x seed -> run record + predictions."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock, Timeout

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.benchmarks import resolve_benchmark
from dfad_bench.contract import DataView, Predictions, RunContext
from dfad_bench.errors import DfadError, check_seed
from dfad_bench.harness.images import make_loader_factory, prescan_images
from dfad_bench.harness.preflight import preflight
from dfad_bench.harness.record import RunRecord, git_commit, hardware_info, make_run_id, package_versions
from dfad_bench.manifest import Manifest
from dfad_bench.paths import default_results_dir
from dfad_bench.protocol import get_protocol
from dfad_bench.registry import MODELS
from dfad_bench.scoring import score_predictions
from dfad_bench.splits import split_manifest

#: Learned-state attributes a model may expose for the record (what val chose, how it trained).
TRAINING_FIELDS = ("history_", "best_epoch_", "chosen_", "pretrained_", "imputation_", "parameter_counts_")


@dataclass
class RunOptions:
    model: str
    protocol: str
    benchmark: str | None = None
    seed: int = 0
    results_dir: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    num_workers: int = 0
    fresh: bool = False
    n_bootstrap: int = 200
    quiet: bool = False


def parse_overrides(items: list[str], model: str) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as YAML scalars; a ``<model>.`` prefix is dropped."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise DfadError(f"--set {item!r}: expected key=value")
        if key.startswith(model + "."):
            key = key[len(model) + 1 :]
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise DfadError(f"--set {item!r}: cannot parse value ({exc})") from exc
        if isinstance(value, str):
            try:  # YAML 1.1 reads "1e-3" as a string; users mean a number
                value = float(value)
            except ValueError:
                pass
        out[key] = value
    return out


def default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def run_dir_for(results: Path, model: str, protocol: str, benchmark: str, seed: int, run_id: str) -> Path:
    bench = Path(benchmark).stem if ("/" in benchmark or "." in benchmark) else benchmark
    return results / f"{protocol}" / f"{model}" / f"{bench}-seed{seed}-{run_id}"


@contextmanager
def _progress(quiet: bool):
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as prog:

        def start(desc: str, total: int) -> Callable[[int], None]:
            task = prog.add_task(desc, total=total)
            return lambda n=1: prog.advance(task, n)

        yield start


def _views(table: pd.DataFrame, roles: pd.DataFrame, root: Path, loader_factory) -> dict[str, DataView]:
    merged = table.merge(roles[["sample_id", "role", "is_fake", "generator_seen", "family_seen"]], on="sample_id")
    views = {}
    for role in ("train", "val", "test"):
        part = merged[merged["role"] == role].sort_values("sample_id").reset_index(drop=True)
        labelled = role != "test"
        if not labelled:
            # Models never see test labels: keep only what identifies and locates the image.
            part = part[["sample_id", "path", "content_hash"]]
        views[role] = DataView(part, root, role, labelled, loader_factory)
    return views


def run(opts: RunOptions) -> tuple[RunRecord, Path]:
    """Train and score one model on one protocol; write record.json + predictions.parquet."""
    t_start = time.perf_counter()
    log: Callable[[str], None] = (lambda _m: None) if opts.quiet else (lambda m: print(m, file=sys.stderr))
    check_seed(opts.seed, "--seed")
    protocol = get_protocol(opts.protocol)
    card = MODELS.card(opts.model)
    config = {**card.default_config, **opts.overrides}
    unknown = set(opts.overrides) - set(card.default_config)
    if unknown:
        raise DfadError(f"--set {sorted(unknown)[0]}: model {opts.model} has no such option; options: {sorted(card.default_config)}")
    preflight(config)
    bench_name, manifest = resolve_benchmark(opts.benchmark)

    t0 = time.perf_counter()
    table, bad = prescan_images(manifest)
    if bad:
        log(f"{len(bad)} bad image(s) left out, e.g. {bad[0].path}: {bad[0].reason}")
    # Same manifest (hash, taxonomy) minus bad images, with content hashes for the byte-level guard.
    clean = Manifest(table=table, source=manifest.source, root=manifest.root, hash=manifest.hash, taxonomy=manifest.taxonomy)
    split = split_manifest(clean, protocol, opts.seed)  # also runs the leakage guard, bytes included
    prescan_s = time.perf_counter() - t0

    results = Path(opts.results_dir or default_results_dir())
    run_id = make_run_id(opts.model, config, protocol.hash, manifest.hash, opts.seed)
    run_dir = run_dir_for(results, opts.model, protocol.name, bench_name, opts.seed, run_id)
    work_dir = results / ".work" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise DfadError(f"run {run_id} ({opts.model} on {protocol.ref}, seed {opts.seed}) is already in progress in another process ({run_dir})") from None
    try:
        if opts.fresh and work_dir.exists():
            import shutil

            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        device = opts.device or default_device()
        loader_factory = make_loader_factory(device, opts.num_workers)
        views = _views(split_table_with_labels(clean.table, split.roles), split.roles, clean.root, loader_factory)
        model = MODELS.create(opts.model, opts.overrides)
        with _progress(opts.quiet) as progress:
            ctx = RunContext(
                label_spaces=split.label_spaces,
                taxonomy=clean.taxonomy,
                seed=opts.seed,
                device=device,
                work_dir=work_dir,
                config=model.get_params(),
                progress=progress,
                num_workers=opts.num_workers,
                log=log,
            )
            log(f"{opts.model} on {protocol.ref} / {bench_name} (seed {opts.seed}): " + ", ".join(f"{k} {v}" for k, v in split.counts().items()))
            t0 = time.perf_counter()
            model.fit(views["train"], views["val"], ctx)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            preds: dict[str, Predictions] = {}
            for role in ("val", "test"):
                p = model.predict(views[role], ctx)
                p.validate(views[role].sample_ids, ctx, card.open_vocabulary, opts.model)
                preds[role] = p
            predict_s = time.perf_counter() - t0
        frame = pd.concat([preds["val"].to_frame().assign(role="val"), preds["test"].to_frame().assign(role="test")], ignore_index=True)
        metrics = score_predictions(frame.drop(columns=["role"]), split, where=f"{opts.model} predictions", n_bootstrap=opts.n_bootstrap)
        n_pred = len(frame)
        record = RunRecord(
            run_id=run_id,
            model=opts.model,
            model_config=model.get_params(),
            model_card=card.to_dict(),
            protocol=protocol.name,
            protocol_version=protocol.version,
            protocol_hash=protocol.hash,
            benchmark=bench_name,
            manifest_hash=manifest.hash,
            samples_hash=manifest.samples_hash,
            seed=opts.seed,
            selection_rule=model.selection_rule,
            threshold={"fixed": 0.5, "val": metrics["detection"].get("val_threshold"), "chosen_on": "val"},
            git_commit=git_commit(),
            versions=package_versions(),
            hardware=hardware_info(device),
            timings={
                "prescan_seconds": prescan_s,
                "fit_seconds": fit_s,
                "predict_seconds": predict_s,
                "fit_images_per_second": len(views["train"]) / fit_s if fit_s > 0 else None,
                "predict_images_per_second": n_pred / predict_s if predict_s > 0 else None,
                "total_seconds": time.perf_counter() - t_start,
            },
            metrics=metrics,
            bad_inputs=[b.to_dict() for b in bad],
            split_counts=split.counts(),
            label_spaces={k: v.to_dict() for k, v in split.label_spaces.items()},
            command=" ".join(shlex.quote(a) for a in ["dfad-bench", *sys.argv[1:]]) if sys.argv else "",
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            training={k: getattr(model, k) for k in TRAINING_FIELDS if hasattr(model, k)},
        )
        # Predictions first, record last: a record.json always has its predictions beside it.
        write_with_atomic(run_dir / "predictions.parquet", lambda p: frame.to_parquet(p, index=False))
        write_json_atomic(run_dir / "record.json", record.to_dict())
        return record, run_dir
    finally:
        lock.release()


def split_table_with_labels(table: pd.DataFrame, roles: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows of train/val/test samples (excluded ones dropped)."""
    keep = roles.loc[roles["role"] != "excluded", "sample_id"]
    return table[table["sample_id"].isin(keep)]


def summarize(record: RunRecord) -> list[tuple[str, str]]:
    m = record.metrics

    def f(v: Any) -> str:
        return "-" if v is None else (f"{v:.4f}" if isinstance(v, float | np.floating) else str(v))

    rows = [
        ("detection AUC, mean unseen", f(m.get("detection_auc_mean_unseen"))),
        ("detection AUC, mean all", f(m.get("detection_auc_mean"))),
    ]
    for level in ("family", "generator"):
        rows.append((f"attribution ACC ({level})", f(m.get(f"attribution_acc_{level}"))))
        block = (m.get("attribution") or {}).get(level) or {}
        if block.get("n_unseen"):  # test samples of classes the model never trained on
            rows.append(("  seen / unseen classes", f"{f(block.get('acc_seen'))} / {f(block.get('acc_unseen'))}"))
    rows.append(("ACC @ val threshold", f(m["detection"].get("acc_val_threshold"))))
    for g, gm in sorted(m.get("per_generator", {}).items()):
        rows.append((f"  AUC {g}{'' if gm.get('seen') else ' (unseen)'}", f(gm.get("auc"))))
    t = record.timings
    rows.append(("fit / predict seconds", f"{t['fit_seconds']:.1f} / {t['predict_seconds']:.1f}"))
    rows.append(("predict images/s", f(t.get("predict_images_per_second"))))
    return rows
