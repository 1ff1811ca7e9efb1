"""Content hashes: the sha256 of an image file's bytes, the key of every per-sample cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256

_HEX = frozenset("0123456789abcdef")


def content_hash(data: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    """sha256 hex of raw bytes, or of a file's bytes (:func:`dfad_bench.hashing.sha256`)."""
    return sha256(data)


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
