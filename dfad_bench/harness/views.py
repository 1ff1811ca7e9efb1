"""Opaque per-run ids and the data views the harness hands a model (model contract v2).

A model never learns which manifest sample it is looking at: each sample gets an id that is an
HMAC-SHA-256 of its sample id under a per-run salt, and every view is ordered by those ids, which
makes its row order a per-run shuffle. A sealed run (``submit``) draws the salt from :mod:`secrets`
and keeps it in the run's work folder, so a resumed run sees the same ids in the same order (its
checkpoints stay valid) and a fresh run gets a fresh salt; a trusted run (``run``) derives it from
the run id (see :func:`run_salt`). The harness keeps the id map and translates predictions back to manifest
sample ids before scoring.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dfad_bench.atomic import write_text_atomic
from dfad_bench.contract import LABEL_COLUMNS, DataView, RunContext
from dfad_bench.errors import DfadError

SALT_FILE = "opaque-id-salt"
#: Hex characters of an opaque id (64 bits: no collision in any realistic benchmark; checked anyway).
ID_CHARS = 16


def run_salt(work_dir: Path, secret: bool = True, run_id: str = "") -> bytes:
    """The run's salt.

    ``secret`` (sealed runs, ``submit``): drawn from :mod:`secrets` and saved in the work folder
    (read back by a resumed run), never shown to the model: even a plug-in that ships a copy of a
    public manifest cannot tell which id is which sample. Otherwise (``run``, trusted code that
    could read the manifest anyway) derived from the run id, so that rerunning a run on any
    machine hands the model the same order and reproduces its numbers.
    """
    if not secret:
        return hashlib.sha256(f"dfad-bench trusted-run ids|{run_id}".encode()).digest()
    path = Path(work_dir) / SALT_FILE
    if path.is_file():
        text = path.read_text(encoding="ascii").strip()
        try:
            salt = bytes.fromhex(text)
        except ValueError:
            salt = b""
        if len(salt) != 32:
            raise DfadError(f"{path}: not a 64-hex-digit salt; delete it (or rerun with --fresh) to draw a new one")
        return salt
    salt = secrets.token_bytes(32)
    write_text_atomic(path, salt.hex() + "\n")
    return salt


def opaque_ids(sample_ids: list[str], salt: bytes) -> list[str]:
    out = [hmac.new(salt, str(s).encode("utf-8"), hashlib.sha256).hexdigest()[:ID_CHARS] for s in sample_ids]
    if len(set(out)) != len(out):  # pragma: no cover - 2**-64 per pair
        raise DfadError("opaque id collision; rerun with --fresh to draw a new salt")
    return out


@dataclass(frozen=True)
class ViewSet:
    """The three views of a run and the harness-private map back to manifest sample ids."""

    views: dict[str, DataView]
    to_sample_id: dict[str, str]  # opaque id -> manifest sample id

    def translate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions keyed by opaque ids -> keyed by manifest sample ids, rows in sample-id order
        (so the written predictions do not depend on the salt)."""
        out = frame.copy()
        out["sample_id"] = out["sample_id"].map(self.to_sample_id)
        if out["sample_id"].isna().any():
            raise DfadError("predictions hold an id that is not an id of this run's views")
        return out.sort_values("sample_id", kind="stable").reset_index(drop=True)


def build_views(
    table: pd.DataFrame,
    roles: pd.DataFrame,
    source_of: Callable[[pd.Series], list[str]],
    loader_factory: Callable,
    salt: bytes,
    input_size: int | None = None,
) -> ViewSet:
    """Train/val/test views of the split's samples.

    ``table`` holds the manifest rows (sample_id, content_hash, labels); ``roles`` the split
    (sample_id, role, is_fake, ...); ``source_of`` maps a frame of rows to their image sources.
    Train and val keep :data:`LABEL_COLUMNS`; test keeps none.
    """
    keep = [c for c in ("sample_id", "role", "is_fake") if c in roles.columns]
    merged = table.drop(columns=[c for c in ("role", "is_fake") if c in table.columns]).merge(roles[keep], on="sample_id")
    merged = merged.assign(_opaque=opaque_ids(merged["sample_id"].tolist(), salt))
    views: dict[str, DataView] = {}
    for role in ("train", "val", "test"):
        part = merged[merged["role"] == role].sort_values("_opaque").reset_index(drop=True)  # the per-run shuffle
        labels = part[list(LABEL_COLUMNS)].reset_index(drop=True) if role != "test" else None
        keys = part["content_hash"].astype(str).tolist() if "content_hash" in part.columns else part["_opaque"].tolist()
        views[role] = DataView(
            part["_opaque"].tolist(), role, labels, loader_factory,
            sources=source_of(part), cache_keys=keys, input_size=input_size,
        )
    return ViewSet(views, dict(zip(merged["_opaque"], merged["sample_id"], strict=True)))


def manifest_sources(root: Path) -> Callable[[pd.DataFrame], list[str]]:
    """Image files of manifest rows (``path`` relative to the benchmark root, or absolute)."""

    def sources(part: pd.DataFrame) -> list[str]:
        return [p if Path(p).is_absolute() else str(Path(root) / p) for p in part["path"].astype(str)]

    return sources


def analysis_view(table: pd.DataFrame, root: Path, loader_factory: Callable, role: str = "analysis") -> DataView:
    """An unlabelled view over manifest rows for the harness's own analyses (fidelity, benchmarks
    scripts): ids are the manifest's sample ids, since no model is handed this view."""
    return DataView(
        table["sample_id"].astype(str).tolist(), role, None, loader_factory,
        sources=manifest_sources(root)(table), cache_keys=table["content_hash"].astype(str).tolist(),
    )


def perturbed_view(view: DataView, loader_factory: Callable, key: str) -> DataView:
    """The same samples (same opaque ids, order and sources) loaded through ``loader_factory``
    (one that perturbs the decoded images); its feature-cache keys carry the perturbation's
    ``key``, so a frozen encoder's cache never hands back the clean image's features."""
    return DataView(view.ids, view.role, None, loader_factory, sources=list(view._sources),
                    cache_keys=[f"{k}|{key}" for k in view._cache_keys], input_size=view.input_size)


def fit_then_predict(model: Any, views: dict[str, DataView], full: RunContext) -> tuple[dict[str, Any], float, float]:
    """The one order of contract calls, in-process (``run``) and in the sealed child (``submit``):
    ``fit(train, val)`` and ``predict(val)`` with the seen classes only, so nothing unseen, not even
    a class name, reaches model selection or the val threshold; ``predict(test)`` with the full
    label space. Returns (predictions by role, fit seconds, predict seconds)."""
    import time

    known = full.seen_only()
    t0 = time.perf_counter()
    model.fit(views["train"], views["val"], known)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = {"val": model.predict(views["val"], known), "test": model.predict(views["test"], full)}
    return preds, fit_s, time.perf_counter() - t0
