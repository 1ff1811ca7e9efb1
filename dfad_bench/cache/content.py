"""Content hashes: the sha256 of an image file's bytes, the key of every per-sample cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from dfad_bench.errors import DfadError

_HEX = frozenset("0123456789abcdef")


def content_hash(data: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    """sha256 hex of raw bytes, or of a file's bytes (streamed, so memory stays flat)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return hashlib.sha256(data).hexdigest()
    path = Path(data)
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise DfadError(f"{path}: cannot read file to hash it ({type(exc).__name__}: {exc})") from exc


def _valid_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def content_hashes(manifest: Any, root: str | Path | None = None) -> list[str]:
    """One content hash per manifest row, in row order.

    ``manifest`` is a ``dfad_bench.manifest.Manifest`` or a DataFrame with a ``path`` column (then
    ``root`` is the folder paths are relative to). The ``content_hash`` column is used where it holds
    a sha256 hex; other rows are hashed from their files.
    """
    if isinstance(manifest, pd.DataFrame):
        table, base = manifest, Path(root) if root is not None else Path(".")

        def locate(rel: str) -> Path:
            p = Path(rel)
            return p if p.is_absolute() else base / p
    else:
        table, locate = manifest.table, manifest.image_path
    if "path" not in table.columns:
        raise DfadError("content_hashes: the table has no 'path' column")
    given = table["content_hash"] if "content_hash" in table.columns else pd.Series([None] * len(table))
    out: list[str] = []
    for rel, known in zip(table["path"], given, strict=True):
        if _valid_hash(known):
            out.append(str(known).lower())
        elif isinstance(known, str) and known.strip():
            raise DfadError(f"manifest column 'content_hash' for {rel!r} is {known!r}; expected 64 lowercase hex digits (sha256)")
        else:
            out.append(content_hash(locate(str(rel))))
    return out
