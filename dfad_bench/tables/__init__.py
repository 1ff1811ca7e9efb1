"""Leaderboards from stored run records: load (records), build (boards, pure), render (formats).

Tables never need model code, torch or a GPU: they read ``record.json`` files only.
See docs/LEADERBOARD.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

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
    results_dir: Path = DEFAULT_RESULTS_DIR,
    protocol: str | None = None,
    fmt: str = "md",
    output: Path | None = None,
    on_note: Callable[[str], None] | None = None,
) -> str:
    """Render the boards of every complete run under ``results_dir``; write ``output`` atomically if given.

    ``protocol`` (``name`` or ``name@version``) keeps one protocol. Unfinished runs are not
    errors: each is passed to ``on_note`` (default: a logging warning), e.g. for the CLI to print.
    """
    if fmt not in FORMATS:
        raise DfadError(f"format {fmt!r}: expected one of {list(FORMATS)}")
    loaded = load_records(results_dir)
    for note in loaded.notes:
        (on_note or _log.warning)(note)
    if not loaded.records:
        raise DfadError(
            f"{results_dir}: no complete run records (record.json with status 'complete'); "
            f"{len(loaded.skipped)} unfinished run(s) skipped"
        )
    text = render_boards(build_boards(loaded.records, protocol), fmt)
    if output is not None:
        write_text_atomic(output, text)
    return text
