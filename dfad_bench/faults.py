"""Fault injection for crash-safety tests: kill this process at a named point.

``fault_point(name)`` does nothing unless the environment variable ``DFAD_BENCH_KILL_AT`` names
that point. ``DFAD_BENCH_KILL_AT=train:batch`` kills at the first call of ``train:batch``;
``DFAD_BENCH_KILL_AT=train:batch:5`` at its fifth. The process gets SIGKILL from itself, so no
``finally`` block, ``atexit`` hook or buffered write runs: exactly what a power cut or the OOM
killer leaves behind. tests/test_kill_resume.py uses it to check that every rerun ends with the
metrics of an uninterrupted run. Cost when unset: one dictionary lookup.

Points (grep ``fault_point(`` for the list): ``prescan``, ``decode``, ``fit:start``,
``train:batch``, ``train:val``, ``checkpoint:write``, ``checkpoint:written``, ``predict``,
``atomic:<file name>`` (the rename window of every atomic write: the temporary file is complete,
the target not yet replaced) and ``run:written`` (record written, run folder not yet tidied).
"""

from __future__ import annotations

import os
import signal

ENV = "DFAD_BENCH_KILL_AT"
_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(ENV)
    if not spec:
        return None
    name, _, count = spec.rpartition(":")
    if name and count.isdigit():
        return name, int(count)
    return spec, 1


def fault_point(name: str) -> None:
    """Kill this process (SIGKILL) if ``DFAD_BENCH_KILL_AT`` names this point and call count."""
    target = _target()
    if target is None or target[0] != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
