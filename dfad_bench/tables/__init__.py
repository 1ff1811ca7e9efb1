"""Leaderboards from stored run records: load (records), build (boards, pure), render (formats).

Tables never need model code, torch or a GPU: they read ``record.json`` files only.
See docs/LEADERBOARD.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dfad_bench.atomic import write_text_atomic
from dfad_bench.errors import DfadError
from dfad_bench.tables.boards import (
    COLUMN_SPECS,
    GENERATOR_COLUMN,
    Board,
    Cell,
    ColumnSpec,
    Row,
    build_board,
    build_boards,
    generator_column,
)
from dfad_bench.tables.records import LoadedRecords, RunRecord, SkippedRun, load_record, load_records
from dfad_bench.tables.render import FORMATS, GENERATED, render_board, render_boards

DEFAULT_RESULTS_DIR = Path("results")

_log = logging.getLogger(__name__)

__all__ = [
    "COLUMN_SPECS",
    "DEFAULT_RESULTS_DIR",
    "FORMATS",
    "GENERATED",
    "GENERATOR_COLUMN",
    "Board",
    "Cell",
    "ColumnSpec",
    "LoadedRecords",
    "Row",
    "RunRecord",
    "SkippedRun",
    "build_board",
    "build_boards",
    "generator_column",
    "leaderboard",
    "load_record",
    "load_records",
    "render_board",
    "render_boards",
]


def leaderboard(
    results_dir: Path | Sequence[Path] = DEFAULT_RESULTS_DIR,
    protocol: str | None = None,
    fmt: str = "md",
    output: Path | None = None,
    on_note: Callable[[str], None] | None = None,
) -> str:
    """Render the boards of every complete run under ``results_dir`` (one folder or several, e.g. a
    fresh results folder and ``leaderboards/records``); write ``output`` atomically if given.

    ``protocol`` (``name`` or ``name@version``) keeps one protocol. Unfinished runs are not
    errors: each is passed to ``on_note`` (default: a logging warning), e.g. for the CLI to print.
    """
    if fmt not in FORMATS:
        raise DfadError(f"format {fmt!r}: expected one of {list(FORMATS)}")
    folders = [Path(results_dir)] if isinstance(results_dir, str | Path) else [Path(p) for p in results_dir]
    records: dict[str, Any] = {}
    n_skipped = 0
    for folder in folders:
        loaded = load_records(folder)
        for note in loaded.notes:
            (on_note or _log.warning)(note)
        n_skipped += len(loaded.skipped)
        for rec in loaded.records:
            # The same run copied into two folders (e.g. a fresh run beside leaderboards/records)
            # counts once; its run id names the spec, seed included.
            records.setdefault(rec.run_id, rec)
    if not records:
        raise DfadError(
            f"{', '.join(map(str, folders))}: no complete run records (record.json with status 'complete'); "
            f"{n_skipped} unfinished run(s) skipped"
        )
    text = render_boards(build_boards(tuple(records.values()), protocol), fmt)
    if output is not None:
        write_text_atomic(output, text)
    return text
