"""``dfad-bench mini ...``: DFAD-Mini's command group, added to the core CLI through the
``dfad_bench.cli`` entry-point group (``pyproject.toml``), as an outside package would add one.

Light to import (typer and rich only): the core CLI loads this module on every start. Each command
imports its module when it runs. The three trainers are also ``python -m dfad_mini.train``,
``python -m dfad_mini.clip_pretrain`` and ``python -m dfad_mini.gaze`` (:func:`run_subcommand`):
the same options, parsed here once.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dfad_bench.errors import DfadError

app = typer.Typer(no_args_is_help=True, help="The embedded DFAD-Mini benchmark: build, preview, train its models.")
console = Console()
err_console = Console(stderr=True)


def _command_line(ctx: typer.Context) -> str:
    """The exact command, for the weights' sidecars: what :func:`run_subcommand` was given, else
    this process's arguments from the subcommand on."""
    if isinstance(ctx.obj, dict) and "argv" in ctx.obj:
        return " ".join([ctx.obj["prog"], *map(shlex.quote, ctx.obj["argv"])])
    argv = sys.argv[1:]
    name = ctx.info_name or ""
    rest = argv[argv.index(name) + 1:] if name in argv else []
    return " ".join([ctx.command_path, *map(shlex.quote, rest)])


def run_subcommand(name: str, argv: Sequence[str] | None, prog: str) -> int:
    """Run one command of this group as a standalone program (``python -m ...``): 0 on success,
    the click exit code on a usage error or --help, a DfadError printed as one line."""
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command.main(args=args, prog_name=prog, standalone_mode=True, obj={"argv": args, "prog": prog})
    except SystemExit as exc:
        if exc.code in (0, None):
            return 0
        raise
    except DfadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _exclusive(**given: object) -> None:
    set_ = [k for k, v in given.items() if v not in (None, False, [])]
    if len(set_) > 1:
        raise typer.BadParameter(f"{' and '.join(set_)} cannot be combined")


# ----------------------------------------------------------------------------- the benchmark


@app.command("build")
def mini_build(
    force: Annotated[bool, typer.Option(help="Rebuild even if a valid build exists.")] = False,
    seed: Annotated[int, typer.Option(help="Build seed.")] = 0,
    device: Annotated[str, typer.Option(help="Device for sampling the generators (cpu or cuda).")] = "cpu",
) -> None:
    """Generate DFAD-Mini from the committed weights into the user cache (reused when valid)."""
    import time

    from dfad_bench.validate import check_device
    from dfad_mini.build import build_mini, build_summary, compare_with_pinned

    device = check_device(device)  # before the (cached) build is looked at
    t0 = time.perf_counter()
    path = build_mini(seed=seed, force=force, device=device)
    summary = build_summary(path)
    pinned = compare_with_pinned(path)
    table = Table(title=f"DFAD-Mini ({path.parent})")
    table.add_column("generator")
    table.add_column("images", justify="right")
    for g, n in sorted(summary["counts"].items()):
        table.add_row(g, str(n))
    console.print(table)
    console.print(f"manifest {path} (hash {summary['manifest_hash'][:12]}), {time.perf_counter() - t0:.1f} s")
    (console if pinned.matches else err_console).print(pinned.message(), markup=False)


@app.command("check")
def mini_check(full: Annotated[bool, typer.Option(help="Hash every image (slower).")] = False) -> None:
    """Check the cached DFAD-Mini build; exit 1 with the reason when it is missing or corrupted, or
    when its samples hash is not the one pinned beside the weights (it would not join the board)."""
    from dfad_mini.build import check_mini_build, compare_with_pinned, mini_root

    problem = check_mini_build(mini_root(), full=full)
    if problem:
        err_console.print(f"DFAD-Mini at {mini_root()}: {problem}")
        raise typer.Exit(1)
    pinned = compare_with_pinned(mini_root() / "manifest.parquet")
    if not pinned.matches:
        err_console.print(f"DFAD-Mini at {mini_root()}: files ok, but {pinned.message()}", markup=False)
        raise typer.Exit(1)
    console.print(f"DFAD-Mini at {mini_root()}: ok, {pinned.message()}", markup=False)


@app.command("preview")
def mini_preview(
    output: Annotated[Path, typer.Option(help="PNG contact sheet to write.")] = Path("mini_preview.png"),
    per_generator: Annotated[int, typer.Option(help="Images per generator.")] = 16,
) -> None:
    """Write a PNG contact sheet with samples of every generator (builds the benchmark if needed)."""
    from dfad_mini.build import ensure_mini_built
    from dfad_mini.preview import write_preview

    path = write_preview(output, ensure_mini_built(), per_generator=per_generator)
    console.print(f"wrote {path}")


# ----------------------------------------------------------------------------- the trainers


@app.command("train-generators")
def train_generators(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Train all six generators (default when --only is absent).")] = False,
    only: Annotated[list[str] | None, typer.Option("--only", metavar="NAME", help="Train this generator (repeatable).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda[:i]")] = "cpu",
    steps: Annotated[int | None, typer.Option(help="Steps per generator (default: the spec's, an upper bound with a time budget).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default: the spec's).")] = None,
    time_budget_s: Annotated[float | None, typer.Option(help="Training seconds per generator.")] = None,
    total_time_s: Annotated[float | None, typer.Option(help="Seconds for the whole run, split by time_share.")] = None,
    out: Annotated[Path | None, typer.Option(help="Checkpoints, data cache, weights/, grids/ (default: the cache dir).")] = None,
    weights_dir: Annotated[Path | None, typer.Option(help="Where weights are exported (default: OUT/weights).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Also pack weights+grids into DIR/mini_zoo_*.tar.")] = None,
    install_bundle: Annotated[Path | None, typer.Option(metavar="DIR", help="Do not train: unpack DIR/mini_zoo_*.tar into --weights-dir (default dfad_mini/weights).")] = None,
    grids_dir: Annotated[Path | None, typer.Option(help="With --install-bundle: also unpack the sample grids here.")] = None,
    n_train: Annotated[int | None, typer.Option(help="Training renders (default 30000 on cuda, 4000 on cpu).")] = None,
    data_seed: Annotated[int, typer.Option(help="Seed of the training renders.")] = 1000,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Start over instead of resuming from OUT's checkpoints.")] = False,
    log_every: Annotated[int, typer.Option(help="Log every N steps.")] = 100,
    ckpt_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 1000,
    workers: Annotated[int | None, typer.Option(help="Render processes (default: CPU count, at most 16).")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    grid_samples: Annotated[int, typer.Option(min=0, help="Samples in each generator's grid (0: no grids).")] = 64,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="Train the other generators when one fails.")] = False,
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help="bf16 autocast (default: on cuda only).")] = None,
) -> None:
    """Train the generator zoo on rendered training faces; checkpoint/resume; export weights."""
    _exclusive(**{"--all": all_, "--only": only})
    _exclusive(**{"--time-budget-s": time_budget_s, "--total-time-s": total_time_s})
    from dfad_mini.zoo.run import run_command

    code = run_command(
        only, device=device, steps=steps, batch_size=batch_size, time_budget_s=time_budget_s, total_time_s=total_time_s,
        out=out, weights_dir=weights_dir, bundle=bundle, install_bundle_dir=install_bundle, grids_dir=grids_dir,
        n_train=n_train, data_seed=data_seed, seed=seed, resume=not no_resume, log_every=log_every, ckpt_every=ckpt_every,
        workers=workers, threads=threads, grid_samples=grid_samples, keep_going=keep_going, amp=amp,
        command=_command_line(ctx),
    )
    raise typer.Exit(code)


@app.command("pretrain-clip")
def pretrain_clip(
    ctx: typer.Context,
    out: Annotated[str, typer.Option(help="Folder for clip-mini.safetensors + clip-mini.json.")],
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when available).")] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps (an upper bound with a time budget).")] = None,
    time_budget_s: Annotated[float | None, typer.Option(help="Training seconds.")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Start over instead of resuming from the work folder.")] = False,
    work_dir: Annotated[str | None, typer.Option(help="Render cache + checkpoint (default .mini_train/clip-mini).")] = None,
    n_train: Annotated[int, typer.Option(help="Training renders.")] = 24_000,
    eval_n: Annotated[int, typer.Option(help="Held-out renders for the retrieval check.")] = 1024,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-3,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 250,
    data: Annotated[str, typer.Option(help="render (training renders) or random (smoke tests).")] = "render",
    workers: Annotated[int, typer.Option(help="Render processes (0: in this process).")] = 0,
    no_hard_negatives: Annotated[bool, typer.Option("--no-hard-negatives", help="Plain CLIP loss, no attribute-swapped captions.")] = False,
    threads: Annotated[int, typer.Option(help="torch CPU threads (0 = leave default).")] = 0,
) -> None:
    """Pretrain clip-mini (a small CLIP) on pristine renders of the training identity pool."""
    if data not in ("render", "random"):
        raise typer.BadParameter(f"--data must be render or random, got {data!r}")
    import torch

    from dfad_mini.clip.train import pretrain_clip_mini

    if threads:
        torch.set_num_threads(threads)
    pretrain_clip_mini(
        device=device or ("cuda" if torch.cuda.is_available() else "cpu"), steps=steps, time_budget_s=time_budget_s,
        batch_size=batch_size, out_dir=out, seed=seed, resume=not no_resume, work_dir=work_dir, n_train=n_train,
        eval_n=eval_n, lr=lr, checkpoint_every=checkpoint_every, data=data, workers=workers,
        hard_negatives=not no_hard_negatives, command=_command_line(ctx),
    )


@app.command("pretrain-gaze")
def pretrain_gaze(
    ctx: typer.Context,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    steps: Annotated[int | None, typer.Option(help="Training steps (an upper bound with a time budget).")] = None,
    time_budget_s: Annotated[float | None, typer.Option(help="Training seconds.")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    out: Annotated[str | None, typer.Option(help="Folder (or .safetensors path) for the exported weights.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    n_train: Annotated[int, typer.Option(help="Training renders.")] = 8192,
    n_val: Annotated[int, typer.Option(help="Held-out renders.")] = 1024,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-3,
    ckpt_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 200,
    ckpt_dir: Annotated[str | None, typer.Option(help="Checkpoint folder (default: the cache).")] = None,
    workers: Annotated[int | None, typer.Option(help="Render processes (default: CPU count, at most 8).")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Start over instead of resuming from the checkpoint.")] = False,
) -> None:
    """Train gaze-mini (the gaze encoder) on pristine renders of the training identity pool."""
    import torch

    from dfad_mini.gaze_train import pretrain_gaze_mini

    if threads:
        torch.set_num_threads(threads)
    pretrain_gaze_mini(
        device=device, steps=steps, time_budget_s=time_budget_s, batch_size=batch_size, out_path=out, seed=seed,
        resume=not no_resume, n_train=n_train, n_val=n_val, lr=lr, ckpt_every=ckpt_every, ckpt_dir=ckpt_dir,
        workers=workers if workers is not None else min(8, os.cpu_count() or 1), command=_command_line(ctx),
    )
