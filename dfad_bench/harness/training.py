"""The training engine: every model trained by epochs runs through :func:`train_val_selected`.

A model supplies a :class:`TrainTask`: the module whose weights are trained, its optimizer (and
scheduler), a step that trains one epoch and a val score. The engine owns everything else, so
every model gets the same guarantees:

- **Selection on val only** (the protocols' ``selection: val-only``): after each epoch the task's
  val score is computed (the engine never sees test data); the weights of the best epoch are kept
  and restored at the end. Ties keep the earlier epoch.
- **Early stopping** after ``patience`` epochs without improvement, at most ``epochs`` epochs.
- **Checkpoint/resume**: after each epoch one file, ``<work_dir>/checkpoint.safetensors``, is
  written atomically (temporary file, then one rename). It holds the current and best weights,
  the optimizer, scheduler and RNG states (a ``torch.save`` blob stored as a uint8 tensor, read
  back with ``weights_only=True``) and, in its metadata, the loop state and a code fingerprint.
  One file means one rename: a kill at any moment leaves either the previous epoch's checkpoint
  or the new one, never a mix. A rerun resumes from it and ends with the same weights as an
  uninterrupted run (tests/test_kill_resume.py).
- **Code fingerprint**: a checkpoint written by other code (a different :func:`code_fingerprint`)
  is not resumed; the run starts fresh and says so in one log line.
- **Devices and AMP**: :func:`amp_enabled` / :func:`autocast`: bf16 autocast on CUDA devices that
  support bf16, off on CPU unless a model's config asks (``amp: true``).
- **Progress** through ``ctx.progress`` (one bar per epoch) and one log line per epoch.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import pickle
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfad_bench.atomic import write_with_atomic
from dfad_bench.contract import RunContext
from dfad_bench.errors import DfadError
from dfad_bench.faults import fault_point

CHECKPOINT_NAME = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "dfad-bench-checkpoint/1"


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def amp_enabled(device: Any, amp: bool | None = None) -> bool:
    """bf16 autocast: ``amp`` when given, else on for CUDA devices that support bf16, off elsewhere."""
    import torch

    device = torch.device(device)
    if amp is not None:
        return bool(amp)
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def autocast(device: Any, enabled: bool | None = None) -> AbstractContextManager[Any]:
    """``torch.autocast`` to bf16 on ``device`` (``enabled=None``: :func:`amp_enabled`'s default)."""
    import torch

    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp_enabled(device, enabled))


# -- the val score and its wording ---------------------------------------------------------------
def val_scores(is_fake: Any, fake_score: Any, **levels: tuple[Any, Any]) -> dict[str, Any]:
    """The val score engine-trained models select on: the mean of val detection AUC and the val
    attribution ACC of each given level (``family=(true labels, predicted labels)``, in the order
    given). Undefined parts (None: e.g. a val split of one class) are left out; None if none is defined.
    Returns the parts for the history too: ``val_auc``, ``val_<level>_acc``, ``val_score``."""
    from dfad_bench.metrics import accuracy, auc

    out: dict[str, Any] = {"val_auc": auc(np.asarray(is_fake).astype(int), fake_score)}
    for level, (true, predicted) in levels.items():
        out[f"val_{level}_acc"] = accuracy(true, predicted)
    parts = [v for v in out.values() if v is not None]
    out["val_score"] = float(np.mean(parts)) if parts else None
    return out


def best_epoch_rule(what: str, best_epoch: int | None) -> str:
    """The selection clause of a ``selection_rule`` for models scored by :func:`val_scores` over all
    three parts (e.g. ``what="head"``); names the chosen epoch once it is known."""
    chosen = f" (epoch {best_epoch})" if best_epoch else ""
    return f"{what} of the best epoch by val score = mean(val detection AUC, val family ACC, val generator ACC){chosen}"


def stopping_rule(patience: int, epochs: int) -> str:
    """The early-stopping clause of a model's ``selection_rule`` (what the engine does)."""
    return f"early stopping after {patience} epochs without val improvement (max {epochs})"


# -- code fingerprint ----------------------------------------------------------------------------
def _source_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


@functools.lru_cache(maxsize=8)
def _hash_sources(roots: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for root in roots:
        base = Path(root)
        for path in _source_files(base) if base.is_dir() else [base]:
            h.update(f"{base.name}/{path.relative_to(base) if base.is_dir() else ''}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


#: The parts of dfad_bench whose code decides what training produces (relative to the package):
#: this engine and the torch base class, image decoding, frozen-feature extraction, the metrics
#: behind val scores, backbones and gaze encoders. Run orchestration (runner, records, CLI) is left
#: out: editing it does not change a checkpoint's meaning.
TRAINING_SOURCES = ("harness/training.py", "harness/torch_model.py", "harness/images.py", "harness/frozen.py", "metrics",
                    "backbones", "perception/gaze")


def code_fingerprint(model_type: type) -> str:
    """SHA-256 of the code that decides what a checkpoint holds: every ``.py`` file of the model's
    own package (``gazeclip/``, ``baselines/coop/``) and the modules beside it (``baselines/*.py``),
    and the :data:`TRAINING_SOURCES` of ``dfad_bench``.

    A hash of the sources rather than the git commit: it is the same whether or not the tree is
    clean or installed outside git, and a commit that changes none of these files (docs, records,
    the CLI) keeps checkpoints valid.
    """
    import importlib

    import dfad_bench

    package = Path(dfad_bench.__file__).parent
    roots = {str(package / rel) for rel in TRAINING_SOURCES if (package / rel).exists()}
    module = importlib.import_module(model_type.__module__)
    parts = model_type.__module__.split(".")
    if getattr(module, "__file__", None):
        own = Path(module.__file__).parent  # the model's own package folder (baselines/coop/, gazeclip/)
        roots.add(str(own))
        if len(parts) > 2:  # shared modules beside it (baselines/prompting.py), not its sibling models
            top = own.parent
            roots.update(str(p) for p in top.glob("*.py"))
    return "src-sha256:" + _hash_sources(tuple(sorted(roots)))


# -- the task a model supplies -------------------------------------------------------------------
@dataclass(frozen=True)
class Epoch:
    """What the engine hands a model's step: the epoch (0-based), the engine's shuffling generator
    (seeded with the run seed, checkpointed, so a resumed run draws the same orders) and a progress
    callback to call once per batch."""

    index: int
    rng: Any  # torch.Generator
    advance: Callable[[int], None]


@dataclass
class TrainTask:
    """A model's part of training: its module, optimizer, one-epoch step and val score.

    ``step(epoch)`` trains one epoch and returns train metrics for the history (e.g. ``train_loss``).
    ``val_score()`` scores the current weights on val only and returns a dict with ``val_score``
    (higher is better; None, NaN or an infinite score never counts as an improvement) plus any entries for the history.
    """

    name: str
    module: Any  # torch.nn.Module: its state_dict is what is selected, checkpointed and restored
    optimizer: Any  # torch.optim.Optimizer
    step: Callable[[Epoch], dict[str, Any]]
    val_score: Callable[[], dict[str, Any]]
    epochs: int
    patience: int
    batches_per_epoch: int | None = None  # for the progress bar
    scheduler: Any = None  # stepped by the engine after each epoch's step, before val
    save: bool = True  # False on DDP ranks other than 0


@dataclass(frozen=True)
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int  # 1-based
    best_score: float
    resumed_from: int  # epochs restored from a checkpoint (0: trained from scratch)
    fingerprint: str = field(repr=False, default="")


# -- the loop ------------------------------------------------------------------------------------
def train_val_selected(task: TrainTask, ctx: RunContext, model_type: type) -> TrainResult:
    """Train ``task`` epoch by epoch, select on val, stop early, checkpoint and resume (see module doc).

    On return ``task.module`` holds the best epoch's weights.
    """
    import torch

    fault_point("fit:start")
    if task.epochs < 1 or task.patience < 1:
        raise DfadError(f"{task.name}: epochs and patience must be >= 1, got epochs={task.epochs}, patience={task.patience}")
    rng = torch.Generator().manual_seed(ctx.seed)
    fingerprint = code_fingerprint(model_type)
    path = Path(ctx.work_dir) / CHECKPOINT_NAME
    state: dict[str, Any] = {"epoch": 0, "best_score": None, "best_epoch": -1, "stale": 0, "history": []}
    best: dict[str, Any] | None = None
    _drop_old_format(Path(ctx.work_dir), task.name, ctx)
    if path.exists():
        loaded = load_checkpoint(path, fingerprint)
        if loaded is None:
            ctx.log(f"{task.name}: checkpoint {path} was written by other code (code fingerprint differs); starting fresh")
        else:
            state, best = _restore(loaded, task, rng)
            ctx.log(f"{task.name}: resuming from checkpoint after epoch {state['epoch']}")
    resumed_from = state["epoch"]

    while state["epoch"] < task.epochs and state["stale"] < task.patience:
        epoch = state["epoch"]
        t0 = time.perf_counter()
        bar = ctx.progress(f"{task.name} epoch {epoch + 1}/{task.epochs}", task.batches_per_epoch) if ctx.progress and task.batches_per_epoch else None

        def advance(n: int = 1, bar: Callable[[int], None] | None = bar) -> None:
            fault_point("train:batch")
            if bar is not None:
                bar(n)

        task.module.train()
        train_metrics = task.step(Epoch(epoch, rng, advance))
        if task.scheduler is not None:
            task.scheduler.step()
        fault_point("train:val")
        val = task.val_score()
        score = val.get("val_score")
        improved = score is not None and math.isfinite(score) and (state["best_score"] is None or score > state["best_score"])
        if improved:
            state.update(best_score=float(score), best_epoch=epoch, stale=0)
            best = {k: v.detach().clone() for k, v in task.module.state_dict().items()}
        else:
            state["stale"] += 1
        state["epoch"] = epoch + 1
        row = {"epoch": epoch + 1, **train_metrics, **val, "seconds": time.perf_counter() - t0}
        state["history"].append(row)
        ctx.log(f"{task.name} epoch {epoch + 1}/{task.epochs}: " + ", ".join(
            f"{k} {_short(v)}" for k, v in row.items() if k not in ("epoch", "seconds") and isinstance(v, int | float)
        ) + (" *" if improved else ""))
        if task.save:
            fault_point("checkpoint:write")
            save_checkpoint(path, task, state, best, rng, fingerprint)
            fault_point("checkpoint:written")
    if best is None:
        raise DfadError(f"{task.name}: training produced no weights: no epoch had a val score (val empty or scores NaN?)")
    task.module.load_state_dict(best)
    return TrainResult(state["history"], state["best_epoch"] + 1, state["best_score"], resumed_from, fingerprint)


def _short(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _drop_old_format(work_dir: Path, name: str, ctx: RunContext) -> None:
    """Checkpoints of the three-file format (``checkpoint/``) carry no fingerprint and may be torn
    (weights and state from different epochs): never resumed."""
    old = work_dir / "checkpoint"
    if (old / "state.json").exists() or (old / "weights.safetensors").exists():
        ctx.log(f"{name}: ignoring an old-format checkpoint in {old} (no code fingerprint); starting fresh")
        shutil.rmtree(old)


# -- checkpoint file -----------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    raise TypeError(f"not JSON serialisable in a checkpoint's state: {type(obj).__name__}")


def save_checkpoint(path: Path, task: TrainTask, state: dict[str, Any], best: dict[str, Any] | None, rng: Any, fingerprint: str) -> None:
    """Write the whole checkpoint as one safetensors file, atomically (one rename)."""
    import torch
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in task.module.state_dict().items()}
    if best is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous().clone() for k, v in best.items()})
    extra = {
        "optimizer": task.optimizer.state_dict(),
        "scheduler": task.scheduler.state_dict() if task.scheduler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "shuffle_rng": rng.get_state(),
    }
    buf = io.BytesIO()
    torch.save(extra, buf)
    tensors["train_state"] = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    metadata = {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "state": json.dumps(state, default=_json_default)}
    write_with_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


@dataclass(frozen=True)
class LoadedCheckpoint:
    state: dict[str, Any]
    model: dict[str, Any]
    best: dict[str, Any] | None
    extra: dict[str, Any]


def load_checkpoint(path: Path, fingerprint: str) -> LoadedCheckpoint | None:
    """Read a checkpoint; None if another code fingerprint wrote it. Tensors only (safetensors), and
    the training-state blob through ``torch.load(weights_only=True)``."""
    import torch
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != CHECKPOINT_FORMAT:
                raise DfadError(f"{path}: not a dfad-bench checkpoint (format {meta.get('format')!r}); rerun with --fresh")
            if meta.get("fingerprint") != fingerprint:
                return None
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
        extra = torch.load(io.BytesIO(tensors.pop("train_state").numpy().tobytes()), weights_only=True)
    except (OSError, SafetensorError, KeyError, EOFError, pickle.UnpicklingError, RuntimeError) as exc:
        raise DfadError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc}); rerun with --fresh") from exc
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")} or None
    return LoadedCheckpoint(json.loads(meta["state"]), model, best, extra)


def _restore(ck: LoadedCheckpoint, task: TrainTask, rng: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    import torch

    try:
        task.module.load_state_dict(ck.model, strict=True)
        task.optimizer.load_state_dict(ck.extra["optimizer"])
        if task.scheduler is not None:
            task.scheduler.load_state_dict(ck.extra["scheduler"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise DfadError(f"{task.name}: the checkpoint does not fit this model ({type(exc).__name__}: {exc}); rerun with --fresh") from exc
    torch.set_rng_state(ck.extra["torch_rng"])
    if ck.extra["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ck.extra["cuda_rng"])
    rng.set_state(ck.extra["shuffle_rng"])
    device = next((v.device for v in task.module.state_dict().values()), None)
    best = {k: v.to(device) for k, v in ck.best.items()} if ck.best is not None and device is not None else ck.best
    return ck.state, best
