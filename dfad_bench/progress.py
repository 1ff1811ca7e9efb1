"""Progress bars a person can read, and numbers rounded for reading.

Long work (mini build, encoding, training epochs, prediction, sweeps, prepare) shows a rich
progress bar on stderr with the count, the rate and the time left. Bars are off with ``--quiet``
(``dfad-bench --quiet ...``, a command's own ``--quiet``, or DFAD_BENCH_QUIET=1) and whenever
stderr is not a terminal, so logs and CI output hold no control characters.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_quiet = False
_active: Any = None  # the live rich Progress, shared by nested bars


def set_quiet(quiet: bool) -> None:
    """Process-wide switch set by the CLI's global ``--quiet``."""
    global _quiet
    _quiet = bool(quiet)


def bars_enabled(quiet: bool = False) -> bool:
    """True when a progress bar may be drawn: not quiet (flag, global or env) and stderr a TTY."""
    if quiet or _quiet or os.environ.get("DFAD_BENCH_QUIET", "") not in ("", "0"):
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def _columns() -> tuple[Any, ...]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second (or seconds per item when slower than one a second)."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if not speed:
                return Text("- it/s", style="progress.data.speed")
            text = f"{speed:.3g} it/s" if speed >= 1 else f"{1 / speed:.3g} s/it"
            return Text(text, style="progress.data.speed")

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


@contextmanager
def progress_group(quiet: bool = False) -> Iterator[Callable[[str, int], Callable[..., None]] | None]:
    """Yield ``start(description, total) -> advance(n=1)`` drawing bars on stderr, or None when
    bars are off (the shape of :attr:`dfad_bench.contract.RunContext.progress`)."""
    global _active
    if not bars_enabled(quiet):
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    if _active is not None:  # nested (encoding inside a run): rich allows one live display, so share it
        yield _starter(_active)
        return
    with Progress(*_columns(), console=Console(stderr=True), transient=True) as prog:
        _active = prog
        try:
            yield _starter(prog)
        finally:
            _active = None


def _starter(prog: Any) -> Callable[[str, int], Callable[..., None]]:
    def start(description: str, total: int) -> Callable[..., None]:
        task = prog.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            prog.advance(task, n)
            if prog.tasks[[t.id for t in prog.tasks].index(task)].finished:
                prog.remove_task(task)  # finished bars leave the display (epochs would pile up)

        return advance

    return start


@contextmanager
def progress_bar(description: str, total: int | None, quiet: bool = False) -> Iterator[Callable[..., None]]:
    """One bar; yields ``advance(n=1)`` (a no-op when bars are off)."""
    with progress_group(quiet) as start:
        if start is None or total == 0:
            yield lambda n=1: None
        else:
            yield start(description, total or 0)


def track(items: Iterable[T], description: str, total: int | None = None, quiet: bool = False) -> Iterator[T]:
    """Iterate ``items`` with a bar (``total`` defaults to ``len(items)``)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with progress_bar(description, total, quiet) as advance:
        for item in items:
            yield item
            advance()


def sig(value: Any, digits: int = 4) -> str:
    """A number for a log line: ``digits`` significant digits (0.9686391989864808 -> 0.9686);
    ints, None, NaN and non-numbers are shown as they are."""
    if value is None or isinstance(value, bool):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return str(int(value))
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def sig_dict(values: dict[str, Any], digits: int = 4) -> str:
    """``key value, key value`` with numbers rounded by :func:`sig`."""
    return ", ".join(f"{k} {sig(v, digits)}" for k, v in values.items())
