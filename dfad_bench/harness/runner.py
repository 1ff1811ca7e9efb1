"""``dfad-bench run``: model x protocol x benchmark x seed -> run record + predictions.

``run`` is four phases, each a function with one job (docs/ARCHITECTURE.md):

1. :func:`plan_run` — validate every option, normalise the model config, resolve benchmark and
   protocol, pre-scan images and split; no run folder exists yet, so a user mistake leaves
   nothing behind.
2. :func:`claim_run_dir` — the run folder, its lock and the work folder (checkpoints).
3. :func:`execute_model` — hand the model its views (fit on train/val, predict val and test)
   and return the predictions keyed by the manifest's sample ids.
4. :func:`build_record` + :func:`write_run` — score, record, write atomically.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock, Timeout

from dfad_bench.atomic import sweep_stale_tmp, write_json_atomic, write_with_atomic
from dfad_bench.benchmarks import resolve_benchmark
from dfad_bench.contract import DataView, ModelCard, RunContext, training_summary
from dfad_bench.errors import DfadError, check_seed
from dfad_bench.faults import fault_point
from dfad_bench.harness.images import BadInput, make_loader_factory, prescan_images
from dfad_bench.harness.preflight import preflight
from dfad_bench.harness.record import git_state, hardware_info, package_versions, plugin_distribution
from dfad_bench.manifest import Manifest
from dfad_bench.paths import default_results_dir
from dfad_bench.perturbations import Perturbation
from dfad_bench.protocol import Protocol, get_protocol
from dfad_bench.records import (
    LABEL_COLUMNS,
    PREDICTIONS_FILE,
    RECORD_FILE,
    TRUSTED_ISOLATION,
    RunRecord,
    RunSpec,
    labels_hash,
)
from dfad_bench.registry import MODELS
from dfad_bench.scoring import join_labels, score_labelled
from dfad_bench.splits import SplitResult, split_manifest


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
    board: bool = False  # a run meant for the committed board: refuses a dirty git tree
    allow_dirty: bool = False  # with board: accept a dirty tree anyway (recorded)
    test_benchmark: str | None = None  # cross-dataset: test on all of this benchmark (dfad_bench/cross.py)


@dataclass
class RunPlan:
    """Everything decided before any run folder exists (phase 1)."""

    opts: RunOptions
    card: ModelCard
    config: dict[str, Any]  # the normalised model config: what runs, what the record stores
    protocol: Protocol
    bench_name: str
    manifest: Manifest  # as loaded (its hash is the record's manifest hash)
    clean: Manifest  # minus bad images, with content hashes filled
    bad: list[BadInput]
    split: SplitResult
    run_id: str
    run_dir: Path
    work_dir: Path
    device: str
    prescan_seconds: float
    log: Callable[[str], None]
    t_start: float
    git: dict[str, Any] = field(default_factory=dict)  # git state checked before the run (commit, dirty)
    cross: dict[str, Any] | None = None  # cross-dataset runs: record fields (benchmark, samples_hash, test_benchmark)


@dataclass
class ModelOutcome:
    """What phase 3 returns: predictions of val and test (manifest sample ids) and timings."""

    frame: pd.DataFrame  # Predictions.to_frame() rows of val then test, plus a "role" column
    fit_seconds: float
    predict_seconds: float
    training: dict[str, Any]
    selection_rule: str
    isolation: str = "in-process (trusted run)"  # how the plug-in ran: trusted, sealed (bubblewrap) or unsealed (why)
    model: Any = None  # the fitted model object (trusted runs only), for export_run_model
    # robustness sweeps: perturbation name -> test predictions (sample_id, fake_score) of the
    # perturbed test set, by the same fitted model; empty for a plain run
    perturbed: dict[str, pd.DataFrame] = field(default_factory=dict)


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
    """``RunContext.progress``: rich bars with rate and ETA on stderr; None (no bars) with
    ``--quiet`` or when stderr is not a terminal (dfad_bench.progress)."""
    from dfad_bench.progress import progress_group

    with progress_group(quiet) as start:
        yield start


# -- phase 1: plan ----------------------------------------------------------------------------
def normalise_config(card: ModelCard, overrides: dict[str, Any]) -> dict[str, Any]:
    """The model config that runs: defaults + overrides, unknown keys refused, every value checked
    against the card's typed schema and coerced to its type (``epochs=30.0`` runs, is hashed into
    the run id and is recorded as ``30``; ``batch_size=1.5`` or ``radial_minmax=maybe`` are refused)."""
    from dfad_bench.config import validate_config

    return validate_config(card, overrides)


def plan_run(opts: RunOptions) -> RunPlan:
    """Validate and resolve everything a run needs; create no file."""
    t_start = time.perf_counter()
    log: Callable[[str], None] = (lambda _m: None) if opts.quiet else (lambda m: print(m, file=sys.stderr))
    check_seed(opts.seed, "--seed")
    git = check_board_tree(opts)  # a --board run on a dirty tree stops before any work
    # Options, device and output folder are checked before anything is read or trained.
    from dfad_bench.validate import check_device, check_n_bootstrap, check_num_workers, check_output_dir

    check_num_workers(opts.num_workers)
    check_n_bootstrap(opts.n_bootstrap)
    check_output_dir(opts.results_dir or default_results_dir(), "--results")
    device = check_device(opts.device)
    protocol = get_protocol(opts.protocol)
    card = MODELS.card(opts.model)
    config = normalise_config(card, opts.overrides)
    preflight(card, config)
    bench_name, manifest = resolve_benchmark(opts.benchmark)

    t0 = time.perf_counter()
    clean, bad = prescanned(manifest, log)
    cross = None
    if opts.test_benchmark:
        from dfad_bench.cross import cross_record_fields, split_cross

        test_name, test_manifest = resolve_benchmark(opts.test_benchmark)
        test_clean, test_bad = prescanned(test_manifest, log)
        bad = bad + test_bad
        cross = cross_record_fields(bench_name, manifest, test_name, test_manifest)
        clean, split = split_cross(clean, test_clean, protocol, opts.seed)  # leakage guard across both, bytes included
    else:
        split = split_manifest(clean, protocol, opts.seed)  # also runs the leakage guard, bytes included
    prescan_s = time.perf_counter() - t0

    results = Path(opts.results_dir or default_results_dir())
    # The run id hashes the normalised, typed config the record stores, so two spellings of one
    # option value are one run.
    spec_bench, spec_hash = (cross["benchmark"], cross["samples_hash"]) if cross else (bench_name, manifest.hash)
    run_id = RunSpec.create(opts.model, config, protocol.name, protocol.hash, spec_bench, spec_hash, opts.seed).run_id
    dir_bench = f"{_bench_stem(bench_name)}-to-{_bench_stem(opts.test_benchmark)}" if cross else bench_name
    return RunPlan(
        opts=opts, card=card, config=config, protocol=protocol, bench_name=bench_name, manifest=manifest, clean=clean,
        bad=bad, split=split, run_id=run_id,
        run_dir=run_dir_for(results, opts.model, protocol.name, dir_bench, opts.seed, run_id),
        work_dir=results / ".work" / run_id, device=device, prescan_seconds=prescan_s,
        log=log, t_start=t_start, git=git, cross=cross,
    )


def _bench_stem(benchmark: str) -> str:
    return Path(benchmark).stem if ("/" in benchmark or "." in benchmark) else benchmark


def prescanned(manifest: Manifest, log: Callable[[str], None]) -> tuple[Manifest, list[BadInput]]:
    """The manifest minus bad images (same hash and taxonomy), with content hashes for the
    byte-level guard, and the bad inputs (files an adapter left out first)."""
    table, bad = prescan_images(manifest)
    bad = [BadInput(**e) for e in manifest.excluded] + bad  # files a dataset adapter left out
    if bad:
        if len(table) == 0:
            raise DfadError(f"{manifest.source}: none of its {len(bad)} images can be used, e.g. {bad[0].path}: {bad[0].reason}")
        log(f"{manifest.source}: {len(bad)} bad image(s) left out, e.g. {bad[0].path}: {bad[0].reason}")
    return Manifest(table=table, source=manifest.source, root=manifest.root, hash=manifest.hash, taxonomy=manifest.taxonomy), bad


def check_board_tree(opts: RunOptions) -> dict[str, Any]:
    """The git state of the code that runs; a ``--board`` run refuses a dirty tree unless
    ``--allow-dirty``, since a board number must name the exact code that made it."""
    git = git_state()
    if opts.board and git["dirty"] and not opts.allow_dirty:
        raise DfadError(
            f"--board: the git tree at commit {str(git['commit'])[:12]} has uncommitted changes; commit them "
            "(a board record names the exact code) or pass --allow-dirty (recorded)"
        )
    if opts.board and git["commit"] is None and not opts.allow_dirty:
        raise DfadError("--board: no git commit found for the running code; run from a git checkout or pass --allow-dirty")
    return git


# -- phase 2: claim the run folder --------------------------------------------------------------
def _lock_run_dir(plan: RunPlan) -> FileLock:
    """Take the run folder's lock without waiting; "in progress" if another process holds it.

    A successful run deletes its lock file (below) while holding it. A process that opened the old
    file just before then holds a lock on a file no longer at the path, which locks nothing out:
    so after acquiring, the locked file must still be the one at the path, else retry.
    """
    path = plan.run_dir / ".lock"
    for _ in range(5):
        fds: list[int] = []
        lock = FileLock(str(path), on_acquired=fds.append)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise DfadError(
                f"run {plan.run_id} ({plan.opts.model} on {plan.protocol.ref}, seed {plan.opts.seed}) is already in progress in another process ({plan.run_dir})"
            ) from None
        try:
            same = not fds or os.fstat(fds[-1]).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return lock
        lock.release()
    raise DfadError(f"{path}: could not take the run lock (its file keeps being replaced by other processes)")


@contextmanager
def claim_run_dir(plan: RunPlan) -> Iterator[Path]:
    """Create and lock the run folder; the work folder holds checkpoints a rerun resumes from.

    Under the lock, temporary files that killed atomic writes left in the run and work folders are
    swept. After a successful run the work folder and the lock file are removed; after a failed or
    killed run the work folder stays, so the rerun resumes from its checkpoint.
    """
    import shutil

    run_dir, work_dir = plan.run_dir, plan.work_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_run_dir(plan)
    try:
        if plan.opts.fresh and work_dir.exists():
            shutil.rmtree(work_dir)
        swept = sweep_stale_tmp(run_dir, recursive=True) + sweep_stale_tmp(work_dir, recursive=True)
        if swept:
            plan.log(f"removed {len(swept)} temporary file(s) left by an interrupted run, e.g. {swept[0]}")
        work_dir.mkdir(parents=True, exist_ok=True)
        yield run_dir
        fault_point("run:written")  # record written, folders not yet tidied: the rerun redoes the run
        shutil.rmtree(work_dir, ignore_errors=True)
        with suppress(OSError):  # only if no other run's work folder is left
            work_dir.parent.rmdir()
    finally:
        (run_dir / ".lock").unlink(missing_ok=True)  # while still holding it: see _lock_run_dir
        lock.release()
        with suppress(OSError):  # a run that failed before writing anything leaves no empty folder
            run_dir.rmdir()


# -- phase 3: execute the model -----------------------------------------------------------------
TRUSTED = "in-process (trusted run)"


def _views(table: pd.DataFrame, roles: pd.DataFrame, root: Path, loader_factory, salt: bytes | None = None,
           input_size: int | None = None) -> dict[str, DataView]:
    """Train/val/test views with opaque ids (model contract v2); ``salt`` None draws a fresh one."""
    import secrets

    from dfad_bench.harness.views import build_views, manifest_sources

    return build_views(table, roles, manifest_sources(root), loader_factory, salt or secrets.token_bytes(32), input_size).views


def val_frame_over_test_columns(val: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Val and test prediction rows in one table, plus a "role" column. Val was predicted over the
    seen classes only: an unseen class it was never offered has probability 0 there."""
    frame = pd.concat([val.assign(role="val"), test.assign(role="test")], ignore_index=True)
    order = [*test.columns, *[c for c in val.columns if c not in test.columns], "role"]  # test's class order
    frame = frame[order]
    probs = [c for c in frame.columns if c.startswith("prob_")]
    is_val = frame["role"] == "val"
    frame.loc[is_val, probs] = frame.loc[is_val, probs].fillna(0.0)
    return frame


def execute_model(plan: RunPlan, sealed: bool = False, salt: bytes | None = None,
                  perturbations: Sequence[Perturbation] = ()) -> ModelOutcome:
    """Fit on train (+val for selection), predict val and test, validate the predictions.

    The model sees opaque per-run ids in a per-run order (the salt is kept in the work folder,
    so a resumed run sees the same ids); ``fit`` and ``predict(val)`` get a context of the seen
    classes only, ``predict(test)`` the full label space. ``sealed`` runs fit/predict in a
    sandboxed child process over a staged copy (``dfad-bench submit``, :mod:`dfad_bench.harness.sealed`);
    otherwise in this process (``run``: the plug-in is trusted code). ``perturbations``
    (``dfad-bench robustness``, trusted runs only): after the clean test set, the same fitted model
    predicts each perturbed copy of the test set (train and val are never perturbed).
    """
    from dfad_bench.harness.views import build_views, fit_then_predict, manifest_sources, run_salt

    opts, card = plan.opts, plan.card
    salt = salt or run_salt(plan.work_dir, secret=sealed, run_id=plan.run_id)
    loader_factory = make_loader_factory(plan.device, opts.num_workers)
    viewset = build_views(split_table_with_labels(plan.clean.table, plan.split.roles), plan.split.roles,
                          manifest_sources(plan.clean.root), loader_factory, salt, card.input_size)
    views = viewset.views
    plan.log(
        f"{opts.model} on {plan.protocol.ref} / {plan.bench_name} (seed {opts.seed}): "
        + ", ".join(f"{k} {v}" for k, v in plan.split.counts().items())
    )
    full = RunContext(label_spaces=plan.split.label_spaces, taxonomy=plan.clean.taxonomy, seed=opts.seed, device=plan.device,
                      work_dir=plan.work_dir, config=dict(plan.config), num_workers=opts.num_workers, log=plan.log)
    known = full.seen_only()
    fitted: Any = None
    perturbed: dict[str, pd.DataFrame] = {}
    if sealed and perturbations:
        raise DfadError("robustness sweeps run trusted models only (in-process), not sealed submissions")
    if sealed:
        from dfad_bench.harness.sealed import run_sealed

        result = run_sealed(plan, views, full, known)
        preds, fit_s, predict_s = result.predictions, result.fit_seconds, result.predict_seconds
        training, selection_rule, isolation = result.training, result.selection_rule, result.isolation
    else:
        model = MODELS.create(opts.model, plan.config)
        with _progress(opts.quiet) as progress:
            full.config, full.progress = model.get_params(), progress
            known = full.seen_only()
            preds, fit_s, predict_s = fit_then_predict(model, views, full)
            perturbed = _predict_perturbed(plan, model, viewset, full, perturbations)
        training = training_summary(model)
        selection_rule, isolation = model.selection_rule, TRUSTED
        fitted = model
    # Validated in the opaque id space, against the context each call was given.
    preds["val"].validate(views["val"].ids, known, card.open_vocabulary, opts.model)
    preds["test"].validate(views["test"].ids, full, card.open_vocabulary, opts.model)
    frame = val_frame_over_test_columns(preds["val"].to_frame(), preds["test"].to_frame())
    frame = pd.concat([viewset.translate(frame[frame["role"] == r]) for r in ("val", "test")], ignore_index=True)
    return ModelOutcome(
        frame=frame,
        fit_seconds=fit_s,
        predict_seconds=predict_s,
        training=training,
        selection_rule=selection_rule,
        isolation=isolation,
        model=fitted,
        perturbed=perturbed,
    )


def _predict_perturbed(plan: RunPlan, model: Any, viewset: Any, full: RunContext,
                       perturbations: Sequence[Perturbation]) -> dict[str, pd.DataFrame]:
    """Test predictions of each perturbed test set (sample_id, fake_score; no embeddings, so the
    kept files stay small), validated like the clean ones."""
    from dfad_bench.harness.views import perturbed_view
    from dfad_bench.perturbations import BoundPerturbation

    test = viewset.views["test"]
    out: dict[str, pd.DataFrame] = {}
    for p in perturbations:
        bound = BoundPerturbation(p, plan.opts.seed, viewset.to_sample_id)
        view = perturbed_view(test, make_loader_factory(plan.device, plan.opts.num_workers, bound), f"{p.key}-s{plan.opts.seed}")
        plan.log(f"robustness: predicting the test set under {p.name}")
        preds = model.predict(view, full)
        preds.validate(view.ids, full, plan.card.open_vocabulary, plan.opts.model)
        out[p.name] = viewset.translate(preds.to_frame()[["sample_id", "fake_score"]])
    return out


# -- phase 4: score, record, write -------------------------------------------------------------
def label_predictions(plan: RunPlan, outcome: ModelOutcome) -> pd.DataFrame:
    """The model's val and test predictions with the ground-truth columns beside them: what the
    run scores and stores, so the record rescores without the benchmark."""
    labelled = join_labels(outcome.frame, plan.split, where=f"{plan.opts.model} predictions")
    return compact_embeddings(labelled)


def compact_embeddings(labelled: pd.DataFrame) -> pd.DataFrame:
    """Embeddings are stored, and therefore scored, as float16: the clustering metrics are computed
    from exactly what ``predictions.parquet`` holds (``rescore`` reproduces them), and a board of
    144 runs stays small (spectrum's embeddings are its ~1k-d features; float32 made a 3-seed
    unseen-flow board 91 MB)."""
    if "embedding" not in labelled.columns:
        return labelled
    out = labelled.copy()
    out["embedding"] = [np.asarray(v, dtype=np.float16) for v in out["embedding"]]
    return out


def build_record(plan: RunPlan, outcome: ModelOutcome, labelled: pd.DataFrame | None = None) -> RunRecord:
    opts = plan.opts
    labelled = label_predictions(plan, outcome) if labelled is None else labelled
    groups = plan.protocol.metrics
    metrics = score_labelled(
        labelled, plan.split.label_spaces, groups=groups, n_bootstrap=opts.n_bootstrap, seed=plan.split.seed,
        fixed_threshold=0.5, where=f"{opts.model} predictions",
    )
    n_train = int((plan.split.roles["role"] == "train").sum())
    fit_s, predict_s = outcome.fit_seconds, outcome.predict_seconds
    git = plan.git or git_state()
    return RunRecord(
        run_id=plan.run_id,
        model=opts.model,
        model_config=dict(plan.config),
        model_card=plan.card.to_dict(),
        plugin=plugin_distribution(plan.card.factory),
        protocol=plan.protocol.name,
        protocol_version=plan.protocol.version,
        protocol_hash=plan.protocol.hash,
        benchmark=plan.cross["benchmark"] if plan.cross else plan.bench_name,
        manifest_hash=plan.manifest.hash,
        samples_hash=plan.cross["samples_hash"] if plan.cross else plan.manifest.samples_hash,
        test_benchmark=plan.cross["test_benchmark"] if plan.cross else None,
        seed=opts.seed,
        selection_rule=outcome.selection_rule,
        threshold={"fixed": 0.5, "val": metrics["detection"].get("val_threshold"), "chosen_on": "val"},
        git={"commit": git["commit"], "dirty": git["dirty"]},
        board=opts.board,
        allow_dirty=opts.allow_dirty,
        isolation=getattr(outcome, "isolation", None) or TRUSTED_ISOLATION,
        versions=package_versions(),
        hardware=hardware_info(plan.device),
        timings={
            "prescan_seconds": plan.prescan_seconds,
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            "fit_images_per_second": n_train / fit_s if fit_s > 0 else None,
            "predict_images_per_second": len(labelled) / predict_s if predict_s > 0 else None,
            "total_seconds": time.perf_counter() - plan.t_start,
        },
        metrics=metrics,
        scoring={
            "metric_groups": list(groups), "selection": plan.protocol.selection, "n_bootstrap": opts.n_bootstrap,
            "bootstrap_seed": plan.split.seed, "fixed_threshold": 0.5,
            # what the protocol names but this benchmark lacks (only with allow_missing: true)
            **({"missing_from_benchmark": list(plan.split.missing)} if plan.split.missing else {}),
        },
        predictions={
            "file": PREDICTIONS_FILE, "rows": len(labelled), "label_columns": list(LABEL_COLUMNS),
            "labels_hash": labels_hash(labelled),
        },
        bad_inputs=tuple(b.to_dict() for b in plan.bad),
        split_counts=plan.split.counts(),
        label_spaces={k: v.to_dict() for k, v in plan.split.label_spaces.items()},
        command=" ".join(shlex.quote(a) for a in ["dfad-bench", *sys.argv[1:]]) if sys.argv else "",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        training=outcome.training,
    )


def write_run(run_dir: Path, record: RunRecord, frame: pd.DataFrame) -> None:
    """Predictions (labelled, zstd-compressed) first, record last: a record.json always has its
    predictions beside it."""
    missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
    if missing:  # a caller passed the raw model frame: the record's labels_hash would not match
        raise DfadError(f"write_run: predictions lack ground-truth column {missing[0]!r}; pass label_predictions(plan, outcome)")
    write_with_atomic(run_dir / PREDICTIONS_FILE, lambda p: frame.to_parquet(p, index=False, compression="zstd"))
    write_json_atomic(run_dir / RECORD_FILE, record.to_dict())


def run_model_code(model: str, run_dir: Path, call: Callable[[], Any]) -> Any:
    """``call()`` with model exceptions turned into one line: a DfadError (a contract violation,
    already one line) and KeyboardInterrupt pass through; anything else raised by model code
    becomes :class:`~dfad_bench.errors.ModelFailure` "model M failed in fit: <type>: <message>
    (full traceback in <run folder>/error.log)". ``--debug`` shows the chained traceback."""
    from dfad_bench.errors import model_failure

    try:
        return call()
    except DfadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any model error becomes one line + error.log
        raise model_failure(model, exc, run_dir) from exc


def run(opts: RunOptions) -> tuple[RunRecord, Path]:
    """Train and score one model on one protocol; write record.json + predictions.parquet."""
    plan = plan_run(opts)
    with claim_run_dir(plan) as run_dir:
        outcome = run_model_code(plan.opts.model, run_dir, lambda: execute_model(plan))
        labelled = label_predictions(plan, outcome)
        record = build_record(plan, outcome, labelled)
        write_run(run_dir, record, labelled)
        export_run_model(plan, outcome, record, run_dir)
        return record, run_dir


def export_run_model(plan: RunPlan, outcome: ModelOutcome, record: RunRecord, run_dir: Path) -> Path | None:
    """Export the fitted model into ``run_dir/model/`` (dfad_bench/harness/export.py): its
    state, the seen context ``fit`` had, the val threshold and the training image size."""
    if outcome.model is None:
        return None
    from collections import Counter

    from dfad_bench.harness.export import export_model
    from dfad_bench.harness.images import _source_size
    from dfad_bench.harness.views import manifest_sources

    train = split_table_with_labels(plan.clean.table, plan.split.roles[plan.split.roles["role"] == "train"])
    sizes = Counter(_source_size(s) for s in manifest_sources(plan.clean.root)(train.head(256)))
    width, height = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0] if sizes else (None, None)
    ctx = RunContext(label_spaces=plan.split.label_spaces, taxonomy=plan.clean.taxonomy, seed=plan.opts.seed, device=plan.device,
                     work_dir=plan.work_dir, config=dict(plan.config)).seen_only()
    info = {"run_id": record.run_id, "model": record.model, "model_config": dict(plan.config), "open_vocabulary": plan.card.open_vocabulary,
            "threshold": dict(record.threshold), "train_image_size": [width, height], "seed": plan.opts.seed,
            "protocol": f"{record.protocol}@{record.protocol_version}", "benchmark": record.benchmark, "samples_hash": record.samples_hash}
    out = export_model(run_dir, outcome.model, ctx, info)
    plan.log(f"model exported to {out}" if out else f"{record.model} exports no state (export_state): no model/ folder written")
    return out


def split_table_with_labels(table: pd.DataFrame, roles: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows of train/val/test samples (excluded ones dropped)."""
    keep = roles.loc[roles["role"] != "excluded", "sample_id"]
    return table[table["sample_id"].isin(keep)]


def summarize(record: RunRecord) -> list[tuple[str, str]]:
    """The run's numbers for the terminal: every summary metric of the metric table (in its
    order, for the protocol's groups), the seen/unseen split of attribution, per-generator AUCs."""
    from dfad_bench.metrics.table import RUN_GROUP, metric_specs

    m, t = record.metrics, record.timings
    doc = {"metrics": m, "timings": t}

    def f(v: Any) -> str:
        return "-" if v is None else (f"{v:.4f}" if isinstance(v, float | np.floating) else str(v))

    specs = [s for s in metric_specs(getattr(record, "metric_groups", None)) if s.summary]
    rows: list[tuple[str, str]] = []
    for spec in (s for s in specs if s.group != RUN_GROUP):
        present, value = spec.lookup(doc)
        if not present:
            continue
        rows.append((spec.label, f(value)))
        level = {"acc_family": "family", "acc_generator": "generator"}.get(spec.id)
        block = ((m.get("attribution") or {}).get(level) or {}) if level else {}
        if block.get("n_unseen"):  # test samples of classes the model never trained on
            rows.append(("  seen / unseen classes", f"{f(block.get('acc_seen'))} / {f(block.get('acc_unseen'))}"))
    for g, gm in sorted(m.get("per_generator", {}).items()):
        rows.append((f"  AUC {g}{'' if gm.get('seen') else ' (unseen)'}", f(gm.get("auc"))))
    rows.append(("fit / predict seconds", f"{t['fit_seconds']:.1f} / {t['predict_seconds']:.1f}"))
    for spec in (s for s in specs if s.group == RUN_GROUP):
        rows.append((spec.label, f(spec.lookup(doc)[1])))
    return rows
