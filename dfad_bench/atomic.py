"""Atomic file writes: a reader never sees a half-written file, a failed write leaves nothing."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dfad_bench.faults import fault_point

#: Temporary files are ``.<target name>.<random>.tmp`` beside their target (see atomic_path).
TMP_GLOB = ".*.tmp"

@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        fault_point(f"atomic:{target.name}")  # the rename window: temp complete, target not replaced
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n")


def write_with_atomic(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` (e.g. ``df.to_parquet``) and move the result into place atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


def sweep_stale_tmp(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Delete the temporary files that killed atomic writes left in ``folder``; return them.

    Only call this while holding the lock that keeps other writers out of ``folder`` (the run
    lock): a live writer's temporary file looks the same as a dead one's.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in (folder.rglob(TMP_GLOB) if recursive else folder.glob(TMP_GLOB)) if p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
