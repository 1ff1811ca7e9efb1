"""``dfad-bench robustness``: fit once, score perturbed test sets (dfad_bench/robustness.py).
Light to import (typer only): the command imports its module when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def robustness_cmd(
    model: Annotated[str, typer.Option(help="Registered model name (dfad-bench list models).")],
    protocol: Annotated[str, typer.Option(help="Protocol name, name@version or YAML path.")],
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name (default: mini) or manifest path.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split, the model and the noise perturbations.")] = 0,
    sweep: Annotated[str, typer.Option(help="Versioned perturbation sweep (docs/PROTOCOLS.md, Robustness).")] = "robustness-v1",
    results: Annotated[Path | None, typer.Option(help="Results directory (default ./results).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Model option key=value (repeatable).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available).")] = None,
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the clean test set's intervals.")] = 200,
    quiet: Annotated[bool, typer.Option(help="No progress output.")] = False,
    fresh: Annotated[bool, typer.Option(help="Ignore checkpoints of an earlier interrupted run.")] = False,
    board: Annotated[bool, typer.Option("--board", help="A run meant for the committed board: refuses a dirty git tree (recorded).")] = False,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="With --board: accept uncommitted changes (recorded).")] = False,
) -> None:
    """Fit a model once, then predict the clean and each perturbed test set with it; write the run's
    record (with a robustness block), a robustness table (csv, md) and an AUC/ACC-vs-strength plot."""
    if quiet:
        from dfad_bench.progress import set_quiet

        set_quiet(True)
    from dfad_bench.harness.runner import RunOptions, parse_overrides
    from dfad_bench.robustness import TABLE_MD, robustness

    opts = RunOptions(model=model, protocol=protocol, benchmark=benchmark, seed=seed, results_dir=results,
                      overrides=parse_overrides(set_ or [], model), device=device, num_workers=num_workers,
                      n_bootstrap=n_bootstrap, quiet=quiet, fresh=fresh, board=board, allow_dirty=allow_dirty)
    record, run_dir = robustness(opts, sweep)
    typer.echo((run_dir / TABLE_MD).read_text(encoding="utf-8"))
    typer.echo(f"record: {run_dir / 'record.json'}")
