"""Result tables inside the docs, generated from run records between markers, never pasted.

A table in a Markdown file sits between two HTML comments::

    <!-- table:results leaderboards/records gazeclip clip-linear -->
    | protocol | model | seeds | ... |
    <!-- /table -->

``update_docs`` (``python scripts/results_table.py --update-docs``) rewrites every such block
from the records the opening marker names; ``tests/test_tables.py`` checks that regenerating
leaves the committed docs unchanged, so a doc table cannot drift from its records. Kinds:

- ``results ROOT MODEL...``: one row per (protocol, model), columns :data:`RESULT_COLUMNS`;
- ``board ROOT PROTOCOL``: the leaderboard table of one protocol (``name`` or ``name@version``);
- ``ablation ROOT... --protocol P --model M``: one row per configuration of one model, labelled by
  how it differs from the registered default configuration.

Paths in markers are relative to the repository root (the folder holding ``pyproject.toml``).
Numbers are mean ± sample std (ddof=1) over seeds; a row with a seed missing a value shows "—".
"""

from __future__ import annotations

import json
import re
import shlex
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfad_bench.atomic import write_text_atomic
from dfad_bench.errors import DfadError
from dfad_bench.metrics.table import MetricSpec, get_metric
from dfad_bench.records import RunRecord, load_records

MARKER_RE = re.compile(r"<!-- table:(?P<kind>[a-z]+) (?P<args>[^\n]*?) -->\n(?P<body>.*?)<!-- /table -->", re.S)
MISSING = "—"
#: Columns of a ``results`` table (metric ids of dfad_bench.metrics.table).
RESULT_COLUMNS = ("auc_mean_unseen", "acc_family", "acc_family_unseen", "acc_generator", "acc_val_threshold")
#: Columns of an ``ablation`` table (fractions with three decimals, as the ablation study reports them).
ABLATION_COLUMNS = (
    "auc_mean_unseen", "auc_mean_seen", "acc_family_seen", "acc_family_unseen", "acc_generator_seen",
    "acc_generator_unseen", "cluster_acc_generator",
)
_HEADERS = {
    "auc_mean_unseen": "mean unseen AUC", "acc_family": "family ACC (all)", "acc_family_unseen": "family ACC unseen",
    "acc_generator": "generator ACC", "acc_val_threshold": "ACC @ val thr.",
}
_ABLATION_HEADERS = {
    "auc_mean_unseen": "det. AUC unseen", "auc_mean_seen": "det. AUC seen", "acc_family_seen": "family ACC seen",
    "acc_family_unseen": "family ACC unseen", "acc_generator_seen": "generator ACC seen",
    "acc_generator_unseen": "generator ACC unseen", "cluster_acc_generator": "cluster ACC, unseen gens",
}


def cell(spec: MetricSpec, records: Sequence[RunRecord], scale: float | None = None, decimals: int | None = None) -> str:
    """Mean ± sample std of one metric over runs; missing when any run lacks it."""
    values = [spec.lookup(r.raw)[1] for r in records]
    if not values or any(v is None for v in values):
        return MISSING
    x = np.asarray(values, dtype=float) * (spec.scale if scale is None else scale)
    d = spec.decimals if decimals is None else decimals
    return f"{x.mean():.{d}f}" if len(x) == 1 else f"{x.mean():.{d}f} ± {x.std(ddof=1):.{d}f}"


def _load(root: Path) -> list[RunRecord]:
    if not root.is_dir():
        raise DfadError(f"{root}: no such records folder")
    return list(load_records(root))


def results_table(root: Path, models: Sequence[str]) -> str:
    """Rows (protocol, model) in protocol order, then in the order ``models`` lists them."""
    rows: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for rec in _load(root):
        if not models or rec.model in models:
            rows[(rec.protocol, rec.model)].append(rec)
    order = list(models)
    specs = [get_metric(k) for k in RESULT_COLUMNS]
    lines = [
        "| protocol | model | seeds | " + " | ".join(_HEADERS[s.id] for s in specs) + " |",
        "|" + "---|" * (3 + len(specs)),
    ]
    for (protocol, model), recs in sorted(rows.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]) if kv[0][1] in order else 0, kv[0][1])):
        lines.append(f"| {protocol} | {model} | {len(recs)} | " + " | ".join(cell(s, recs) for s in specs) + " |")
    return "\n".join(lines) + "\n"


def board_table(root: Path, protocol: str) -> str:
    """One leaderboard in Markdown: its meta line (protocol hash, manifests, runs) and its table."""
    from dfad_bench.tables.boards import build_board
    from dfad_bench.tables.render import render_board

    lines = render_board(build_board(_load(root), protocol), "md").splitlines()
    meta = next(line for line in lines if line.startswith("protocol hash"))
    return "\n".join([meta, "", *(line for line in lines if line.startswith("|"))]) + "\n"


def _config_label(config: dict[str, Any], default: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        return json.dumps(v, separators=(",", ":")).replace('"', "")

    diff = [f"{k}={show(v)}" for k, v in sorted(config.items()) if k != "seed" and default.get(k) != v]
    return ", ".join(f"`{d}`" for d in diff) or "default"


def ablation_table(roots: Sequence[Path], protocol: str, model: str) -> str:
    from dfad_bench.registry import MODELS

    default = dict(MODELS.card(model).default_config)
    groups: dict[str, dict[int, RunRecord]] = defaultdict(dict)
    for root in roots:
        for rec in _load(root):
            if rec.model == model and rec.protocol == protocol:
                groups[_config_label(dict(rec.model_config), default)][rec.seed] = rec
    specs = [get_metric(k) for k in ABLATION_COLUMNS]
    lines = [
        "| configuration | seeds | " + " | ".join(_ABLATION_HEADERS[s.id] for s in specs) + " |",
        "|" + "---|" * (2 + len(specs)),
    ]
    for name in sorted(groups, key=lambda k: (k != "default", k)):
        recs = [groups[name][s] for s in sorted(groups[name])]
        seeds = " ".join(map(str, sorted(groups[name])))
        lines.append(f"| {name} | {seeds} | " + " | ".join(cell(s, recs, scale=1.0, decimals=3) for s in specs) + " |")
    return "\n".join(lines) + "\n"


def _parse_ablation(args: list[str], base: Path) -> str:
    protocol, model, roots = "unseen-flow", "gazeclip", []
    it = iter(args)
    for a in it:
        if a == "--protocol":
            protocol = next(it)
        elif a == "--model":
            model = next(it)
        else:
            roots.append(base / a)
    return ablation_table(roots, protocol, model)


KINDS: dict[str, Callable[[list[str], Path], str]] = {
    "results": lambda a, base: results_table(base / a[0], a[1:]),
    "board": lambda a, base: board_table(base / a[0], a[1]),
    "ablation": _parse_ablation,
}


def render_block(kind: str, args: str, base: Path, where: str = "") -> str:
    if kind not in KINDS:
        raise DfadError(f"{where}: unknown table kind {kind!r}; expected one of {sorted(KINDS)}")
    parts = shlex.split(args)
    if not parts:
        raise DfadError(f"{where}: table:{kind} needs arguments (a records folder first)")
    try:
        return KINDS[kind](parts, base)
    except (IndexError, StopIteration):
        raise DfadError(f"{where}: table:{kind} {args!r}: missing an argument (see dfad_bench/tables/docs.py)") from None


def regenerate(text: str, base: Path, where: str = "") -> str:
    """``text`` with every marked table rebuilt from its records."""

    def sub(m: re.Match[str]) -> str:
        body = render_block(m["kind"], m["args"], base, where)
        return f"<!-- table:{m['kind']} {m['args']} -->\n{body}<!-- /table -->"

    return MARKER_RE.sub(sub, text)


def doc_files(base: Path) -> list[Path]:
    """The Markdown files that may hold generated tables: README.md and docs/*.md."""
    return [p for p in [base / "README.md", *sorted((base / "docs").glob("*.md"))] if p.is_file()]


def update_docs(base: Path, check: bool = False, files: Sequence[Path] | None = None) -> list[Path]:
    """Regenerate the marked tables; return the files that changed (``check``: would change, none written)."""
    changed = []
    for path in files or doc_files(base):
        text = path.read_text(encoding="utf-8")
        if "<!-- table:" not in text:
            continue
        new = regenerate(text, base, str(path))
        if new != text:
            changed.append(path)
            if not check:
                write_text_atomic(path, new)
    return changed
