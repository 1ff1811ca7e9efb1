"""Checks of run options and output paths, done before any work so a mistake costs nothing.

Each check raises a one-line :class:`~dfad_bench.errors.DfadError` naming the option and what
was expected, and creates nothing: a writability probe is a temporary file removed at once.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from dfad_bench.errors import DfadError

MAX_WORKERS = 256  # a DataLoader with more worker processes than this is a typo, not a plan
_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


def check_device(device: str | None, option: str = "--device") -> str:
    """``cpu``, ``cuda``, ``cuda:N`` (that GPU must exist) or ``mps`` (Apple); None picks cuda
    when available, else cpu. Returns the device the run will use (the record stores it)."""
    if device is None or device == "":
        from dfad_bench.harness.runner import default_device

        return default_device()
    if not isinstance(device, str):
        raise DfadError(f"{option} {device!r}: expected cpu, cuda or cuda:N")
    d = device.strip().lower()
    if d == "cpu":
        return "cpu"
    m = _CUDA_RE.match(d)
    if m:
        try:
            import torch
        except ImportError:
            raise DfadError(f"{option} {device}: torch is not installed; use --device cpu") from None
        if not torch.cuda.is_available():
            raise DfadError(f"{option} {device}: no CUDA GPU is available on this machine (torch.cuda.is_available() is False); use --device cpu")
        count = torch.cuda.device_count()
        if m.group(1) is not None and int(m.group(1)) >= count:
            raise DfadError(f"{option} {device}: this machine has {count} CUDA device(s), numbered 0..{count - 1}")
        return d
    if d == "mps":
        try:
            import torch

            ok = bool(torch.backends.mps.is_available())
        except (ImportError, AttributeError):
            ok = False
        if not ok:
            raise DfadError(f"{option} mps: Apple MPS is not available on this machine; use --device cpu")
        return "mps"
    raise DfadError(f"{option} {device!r}: unknown device; expected cpu, cuda, cuda:N or mps")


def check_num_workers(n: object, option: str = "--num-workers") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_WORKERS:
        raise DfadError(f"{option} {n!r}: expected an integer from 0 (load in the main process) to {MAX_WORKERS}")
    return n


def check_n_bootstrap(n: object, option: str = "--n-bootstrap") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DfadError(f"{option} {n!r}: expected an integer >= 0 (0: no confidence intervals)")
    return n


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _probe_writable(folder: Path, option: str, what: Path) -> None:
    """Create and remove a temporary file in ``folder`` (os.access lies for root and some mounts)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".dfad-probe-", dir=folder)
    except OSError as exc:
        raise DfadError(f"{option} {what}: cannot write in {folder} ({exc.strerror or type(exc).__name__})") from None
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """A folder the command will create or write into: not a file, and writable (or creatable)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise DfadError(f"{option} {p}: is a file; expected a folder")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise DfadError(f"{option} {p}: {base} is a file, so the folder cannot be created")
    _probe_writable(base, option, p)
    return p


def check_output_file(path: str | os.PathLike, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """A file the command will write atomically: not a folder, with a writable (or creatable)
    parent folder, and one of ``suffixes`` when given."""
    p = Path(path).expanduser()
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise DfadError(f"{option} {p}: is a folder; expected a file path")
    if suffixes and p.suffix.lower() not in suffixes:
        raise DfadError(f"{option} {p}: expected a file ending in {' or '.join(suffixes)}")
    base = _nearest_existing(p.parent)
    if not base.is_dir():
        raise DfadError(f"{option} {p}: {base} is a file, so the folder cannot be created")
    _probe_writable(base, option, p)
    return p
