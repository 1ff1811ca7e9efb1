"""The one SHA-256 helper: the hex digest of bytes, or of a file's bytes (streamed, so memory
stays flat). Content hashes, weight hashes and asset checks all go through :func:`sha256`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dfad_bench.errors import DfadError


def sha256(data: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    """sha256 hex of raw bytes, or of the file at a path (a str is always a path)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return hashlib.sha256(data).hexdigest()
    path = Path(data)
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise DfadError(f"{path}: cannot read file to hash it ({type(exc).__name__}: {exc})") from exc
