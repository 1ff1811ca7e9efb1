"""The ``dfad-bench`` command line: thin typer commands over the public Python API."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dfad_bench.errors import DfadError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark harness for fine-grained deepfake attribution and detection.")
analyze_app = typer.Typer(no_args_is_help=True, help="Analyses of a benchmark.")
audit_app = typer.Typer(no_args_is_help=True, help="Audits of a benchmark (file-level shortcuts).")


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors (also DFAD_BENCH_DEBUG=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars (they are also off when stderr is not a terminal).")] = False,
) -> None:
    # --debug is read by main() before parsing (so parse errors honour it too); declared here for --help.
    from dfad_bench.progress import set_quiet

    set_quiet(quiet)
app.add_typer(analyze_app, name="analyze")
app.add_typer(audit_app, name="audit")

from dfad_bench.cli_benchmarks import app as benchmarks_app  # noqa: E402 - light (typer only)

app.add_typer(benchmarks_app, name="benchmarks")
from dfad_bench.cli_predict import predict_cmd  # noqa: E402 - light (typer only)

app.command("predict")(predict_cmd)
from dfad_bench.cli_prepare import prepare_cmd  # noqa: E402 - light (typer only)

app.command("prepare")(prepare_cmd)
from dfad_bench.cli_robustness import robustness_cmd  # noqa: E402 - light (typer only)

app.command("robustness")(robustness_cmd)


def _add_broken_group(target: typer.Typer, name: str, error: str) -> None:
    """Stands in for a plug-in command group that cannot be loaded: listed in --help with its
    error, and running it (whatever follows) is that one-line error; the other commands work."""

    @target.command(name, help=f"(broken plug-in) {error}", add_help_option=False,
                    context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _fail() -> None:
        raise DfadError(error)


def add_plugin_groups(target: typer.Typer) -> None:
    """Add every command group registered in the ``dfad_bench.cli`` entry-point group (a typer app
    named after its entry point; DFAD-Mini adds ``mini``). Group modules must stay light to
    import: the CLI loads them on every start."""
    from dfad_bench.registry import CLI_GROUPS

    taken = {c.name for c in target.registered_commands} | {g.name for g in target.registered_groups}
    for name in CLI_GROUPS.names():
        if name in taken:  # a built-in command keeps its name; the plug-in's group is left out
            continue
        try:
            group = CLI_GROUPS.get(name)
        except DfadError as exc:
            _add_broken_group(target, name, str(exc))
            continue
        target.add_typer(group, name=name)


add_plugin_groups(app)

console = Console()
err_console = Console(stderr=True)


class ListWhat(StrEnum):
    protocols = "protocols"
    generators = "generators"
    models = "models"
    benchmarks = "benchmarks"
    backbones = "backbones"
    gaze_encoders = "gaze-encoders"


def _read_any_table(path: Path):
    from dfad_bench.manifest import read_table

    return read_table(path)


def _write_table(df, output: Path) -> None:
    from dfad_bench.atomic import write_with_atomic

    suffix = output.suffix.lower()
    if suffix in (".parquet", ".pq"):
        write_with_atomic(output, lambda p: df.to_parquet(p, index=False))
    elif suffix == ".csv":
        write_with_atomic(output, lambda p: df.to_csv(p, index=False))
    else:
        raise DfadError(f"{output}: output must end in .csv or .parquet")


@app.command("list")
def list_cmd(
    what: Annotated[ListWhat, typer.Argument(help="What to list.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    benchmark: Annotated[str | None, typer.Option(help="For generators: also include a benchmark's own generators.")] = None,
) -> None:
    """List protocols, generators, models, benchmarks, backbones or gaze encoders (broken plug-ins
    are listed with their error)."""
    rows: list[dict] = []
    if what is ListWhat.protocols:
        from dfad_bench.protocol import list_protocols

        rows = [p.summary() for p in list_protocols()]
        cols = ["name", "version", "suite", "hash", "description"]
    elif what is ListWhat.generators:
        from dfad_bench.taxonomy import CATALOGUE

        gens = dict(CATALOGUE)
        if benchmark:
            from dfad_bench.benchmarks import resolve_benchmark

            gens.update(resolve_benchmark(benchmark)[1].taxonomy.generators)
        rows = [
            {"name": g.name, "family": g.family, "forgery_type": g.forgery_type, "description": g.description, "reference": g.reference}
            for g in sorted(gens.values(), key=lambda g: (g.family, g.name))
        ]
        cols = ["name", "family", "forgery_type", "description"]
    elif what is ListWhat.models:
        from dfad_bench.registry import list_models

        rows = list_models()
        cols = ["name", "inputs", "open_vocabulary", "source", "status"]
    elif what is ListWhat.backbones:
        from dfad_bench.backbones.spec import list_backbones

        rows = list_backbones()
        cols = ["name", "weights", "source", "status"]
    elif what is ListWhat.gaze_encoders:
        from dfad_bench.perception.gaze.base import GAZE_ENCODERS

        rows = GAZE_ENCODERS.describe()
        cols = ["name", "source", "status"]
    else:
        from dfad_bench.benchmarks import list_benchmarks

        rows = list_benchmarks()
        cols = ["name", "families", "generators", "samples", "status", "description"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=what.value)
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*[", ".join(map(str, r.get(c))) if isinstance(r.get(c), list) else str(r.get(c, "")) for c in cols])
    console.print(table)


@app.command("validate")
def validate_cmd(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Model option key=value (repeatable).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check a model against the contract on a tiny generated benchmark; exit 1 when a check fails."""
    from dfad_bench.harness.runner import parse_overrides
    from dfad_bench.harness.submit import check_contract

    report = check_contract(model, parse_overrides(set_ or [], model), device=device)
    if as_json:
        typer.echo(json.dumps({"model": report.model, "ok": report.ok, "checks": report.checks}, indent=2))
    else:
        table = Table(title=f"contract check: {report.model}")
        for c in ("check", "ok", "detail"):
            table.add_column(c)
        for c in report.checks:
            table.add_row(c["check"], "ok" if c["ok"] else "FAILED", c["detail"])
        console.print(table)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def split(
    protocol: Annotated[str, typer.Option(help="Protocol name, name@version or YAML path.")],
    output: Annotated[Path, typer.Option(help="Where to write roles (.csv or .parquet).")],
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name or manifest path (CSV/Parquet).")] = None,
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
) -> None:
    """Write each sample's role (train/val/test/excluded, seen or unseen) under a protocol."""
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.protocol import get_protocol
    from dfad_bench.splits import split_manifest
    from dfad_bench.validate import check_output_file

    check_output_file(output, "--output", (".csv", ".parquet", ".pq"))
    proto = get_protocol(protocol)
    _, manifest = resolve_benchmark(benchmark)
    result = split_manifest(manifest, proto, seed)
    out = result.roles.drop(columns=["group"]).copy()
    out.insert(2, "seen", out["generator_seen"])
    _write_table(out, output)
    counts = result.counts()
    console.print(f"{proto.ref} on {manifest.source} (seed {seed}): " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" -> {output}")


@app.command()
def score(
    predictions: Annotated[Path, typer.Argument(help="Predictions CSV/Parquet: sample_id, fake_score, optional prob_family.<c>, prob_generator.<c>, embedding.")],
    protocol: Annotated[str, typer.Option(help="Protocol name, name@version or YAML path.")],
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name or manifest path.")] = None,
    seed: Annotated[int, typer.Option(help="Split seed the predictions were made for.")] = 0,
    output: Annotated[Path | None, typer.Option(help="Write the metrics JSON here.")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals.")] = 200,
) -> None:
    """Score a predictions file made elsewhere; prints and writes the metrics JSON."""
    from dfad_bench.atomic import write_json_atomic
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.protocol import get_protocol
    from dfad_bench.scoring import score_predictions
    from dfad_bench.splits import split_manifest
    from dfad_bench.validate import check_n_bootstrap, check_output_file

    check_n_bootstrap(n_bootstrap)
    if output:
        check_output_file(output, "--output")
    proto = get_protocol(protocol)
    _, manifest = resolve_benchmark(benchmark)
    result = split_manifest(manifest, proto, seed)
    pred = _read_any_table(predictions)
    metrics = score_predictions(pred, result, where=str(predictions), n_bootstrap=n_bootstrap)
    metrics = {"protocol": proto.name, "protocol_version": proto.version, "protocol_hash": proto.hash, "manifest_hash": manifest.hash,
               "samples_hash": manifest.samples_hash, "seed": seed, **metrics}
    text = json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False)
    if output:
        write_json_atomic(output, metrics)
    typer.echo(text)


@app.command()
def run(
    model: Annotated[str, typer.Option(help="Registered model name (dfad-bench list models).")],
    protocol: Annotated[str, typer.Option(help="Protocol name, name@version or YAML path.")],
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name (default: mini) or manifest path.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split and the model.")] = 0,
    results: Annotated[Path | None, typer.Option(help="Results directory (default ./results).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Model option key=value (repeatable), e.g. --set epochs=3.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available).")] = None,
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    fresh: Annotated[bool, typer.Option(help="Ignore checkpoints of an earlier interrupted run.")] = False,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for confidence intervals.")] = 200,
    quiet: Annotated[bool, typer.Option(help="No progress output.")] = False,
    board: Annotated[bool, typer.Option("--board", help="A run meant for the committed board: refuses a dirty git tree (recorded).")] = False,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="With --board: accept uncommitted changes (recorded).")] = False,
    test_benchmark: Annotated[str | None, typer.Option(help="Cross-dataset: train/val from --benchmark, test on all of this benchmark (docs/PROTOCOLS.md).")] = None,
) -> None:
    """Train and score a model on a protocol; store record.json and predictions.parquet."""
    if quiet:  # also silences bars drawn outside the run context (feature encoding)
        from dfad_bench.progress import set_quiet

        set_quiet(True)
    from dfad_bench.harness.runner import RunOptions, parse_overrides, summarize
    from dfad_bench.harness.runner import run as run_model

    opts = RunOptions(
        model=model, protocol=protocol, benchmark=benchmark, seed=seed, results_dir=results,
        overrides=parse_overrides(set_ or [], model), device=device, num_workers=num_workers, fresh=fresh,
        n_bootstrap=n_bootstrap, quiet=quiet, board=board, allow_dirty=allow_dirty, test_benchmark=test_benchmark,
    )
    record, run_dir = run_model(opts)
    table = Table(title=f"{record.model} on {record.protocol}@{record.protocol_version} ({record.benchmark}, seed {record.seed})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summarize(record):
        table.add_row(k, v)
    console.print(table)
    console.print(f"record: {run_dir / 'record.json'}", soft_wrap=True)  # one line, for scripts


@app.command()
def rescore(
    results_dir: Annotated[Path, typer.Argument(help="Folder of run folders (record.json + predictions.parquet).")],
) -> None:
    """Recompute every record's metrics from its stored predictions; list each difference (exit 1 if any)."""
    from dfad_bench.rescore import rescore as do_rescore

    report = do_rescore(results_dir)
    for problem in report.problems:
        typer.echo(f"not rescoreable: {problem}")
    for diff in report.differences:
        typer.echo(f"differs: {diff}")
    typer.echo(report.summary)
    if not report.ok:
        raise typer.Exit(1)


@app.command("leaderboard")
def leaderboard_cmd(
    results: Annotated[list[Path] | None, typer.Option("--results", help="Folder of run folders; repeat to join several (e.g. your results and leaderboards/records).")] = None,
    protocol: Annotated[str | None, typer.Option(help="name or name@version")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md|csv|latex|html")] = "md",
    output: Annotated[Path | None, typer.Option(help="Write here (atomically) instead of stdout.")] = None,
) -> None:
    """Render leaderboards (one table per protocol) from stored run records; no model code needed."""
    from dfad_bench.tables import leaderboard

    if output is not None:
        from dfad_bench.validate import check_output_file

        check_output_file(output, "--output")
    text = leaderboard(results or [Path("results")], protocol, fmt, output, on_note=lambda m: err_console.print(f"[yellow]{m}[/]"))
    if output is None:
        sys.stdout.write(text)
    else:
        console.print(f"wrote {output}")


@app.command()
def submit(
    target: Annotated[str, typer.Argument(help="Registered model name (e.g. from your package's entry point) or module:CARD.")],
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name or manifest path (default: mini).")] = None,
    output: Annotated[Path, typer.Option(help="Submission bundle folder.")] = Path("submission"),
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Model option key=value (repeatable).")] = None,
    protocol: Annotated[list[str] | None, typer.Option(help="Limit to these protocols (repeatable); default: whole suite.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N.")] = None,
) -> None:
    """Check an outside model against the contract, run it on every protocol, write a bundle."""
    from dfad_bench.harness.runner import parse_overrides
    from dfad_bench.harness.submit import resolve_submission
    from dfad_bench.harness.submit import submit as do_submit

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise DfadError(f"--seeds {seeds!r}: expected comma-separated integers") from exc
    name = resolve_submission(target)
    summary = do_submit(target, benchmark, output, seed_list, parse_overrides(set_ or [], name), device, protocol)
    table = Table(title=f"submission {summary['model']} on {summary['benchmark']}")
    for c in ("protocol", "seed", "mean unseen AUC", "family ACC"):
        table.add_column(c)
    for r in summary["runs"]:
        f = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        table.add_row(r["protocol"], str(r["seed"]), f(r["detection_auc_mean_unseen"]), f(r["attribution_acc_family"]))
    console.print(table)
    console.print(f"bundle: {output}")


@analyze_app.command("gaze")
def analyze_gaze_cmd(
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name or manifest path.")] = None,
    gaze: Annotated[str, typer.Option(help="Gaze encoder: gaze-mini, eth-xgaze, landmark.")] = "gaze-mini",
    output: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports/gaze"),
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the gaze output cache.")] = False,
) -> None:
    """Gaze distributions of pristine vs each family/generator, statistical tests, plots, gaze preservation."""
    from dfad_bench.perception.analyze import run_gaze_analysis
    from dfad_bench.validate import check_device

    summary = run_gaze_analysis(benchmark, gaze, output, device=check_device(device), use_cache=not no_cache)
    console.print(f"report written to {output}")
    if isinstance(summary, dict):
        console.print_json(data={k: v for k, v in summary.items() if not isinstance(v, dict | list)} or {"keys": sorted(summary)})


@analyze_app.command("fidelity")
def analyze_fidelity_cmd(
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name or manifest path.")] = None,
    backbone: Annotated[str, typer.Option(help="CLIP image encoder for the embeddings.")] = "clip-mini",
    n: Annotated[int, typer.Option(help="Images per set (the same for every set; FD depends on n).")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the random subsets.")] = 0,
    output: Annotated[Path | None, typer.Option(help="Also write the report as JSON here.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Fréchet distance of each generator's images to pristine ones in a CLIP space, with the real-vs-real floor."""
    from dfad_bench.atomic import write_json_atomic
    from dfad_bench.errors import check_seed
    from dfad_bench.fidelity import run_fidelity

    if n < 2:
        raise DfadError(f"--n must be >= 2, got {n}")
    from dfad_bench.validate import check_device

    report = run_fidelity(benchmark, backbone, n=n, seed=check_seed(seed, "--seed"), device=check_device(device))
    table = Table(title=f"CLIP-space Fréchet distance to pristine images ({report['benchmark']}, {backbone}, n={n})")
    for col in ("generator", "family / type", "n", "FD", "FD / floor"):
        table.add_column(col, justify="left" if col in ("generator", "family / type") else "right")
    table.add_row("real (other half)", "real", str(n), f"{report['floor_fd_real_vs_real']:.4f}", "1.00")
    for r in sorted(report["rows"], key=lambda r: r["fd"]):
        table.add_row(r["generator"], f"{r['family']} / {r['forgery_type']}", str(r["n"]), f"{r['fd']:.4f}", f"{r['fd_over_floor']:.2f}")
    console.print(table)
    if output is not None:
        write_json_atomic(output, report)
        console.print(f"wrote {output}", soft_wrap=True)


@audit_app.command("shortcuts")
def audit_shortcuts_cmd(
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name or manifest path (.parquet/.csv).")] = None,
    protocol: Annotated[str | None, typer.Option(help="One protocol (name or name@version); default: every current protocol.")] = None,
    seed: Annotated[int, typer.Option(help="Split seed (and probe/bootstrap seed).")] = 0,
    output: Annotated[Path | None, typer.Option(help="Report folder (default reports/audit/<benchmark>/).")] = None,
) -> None:
    """Can file-level cues (container, compression history) alone tell real from fake? One verdict line per protocol."""
    from dfad_bench.audit import audit_shortcuts
    from dfad_bench.audit.shortcuts import default_output

    result = audit_shortcuts(benchmark, protocol=protocol, seed=seed, output=output)
    for row in result["protocols"]:
        console.print(row["verdict"], highlight=False, soft_wrap=True)
    for row in result["skipped"]:
        console.print(f"{row['protocol']}: skipped ({row['reason']})", highlight=False, soft_wrap=True)
    console.print(f"report written to {output or default_output(result['benchmark'])}", highlight=False, soft_wrap=True)


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Usage-error classes of the installed typer AND of click: typer >= 0.19 vendors its own copy
    of click (``typer._click``), whose exceptions are not click's, so catching only
    ``click.exceptions.ClickException`` never matched and every usage error was a traceback."""
    types: list[type[BaseException]] = []
    try:
        from typer.exceptions import TyperException

        types.append(TyperException)
    except ImportError:  # older typer re-uses click's exceptions
        pass
    try:
        import click

        types.append(click.exceptions.ClickException)
    except ImportError:
        pass
    return tuple(types)


def _exit_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(Exit classes, Abort classes) of typer and click."""
    exits: list[type[BaseException]] = [typer.Exit]
    aborts: list[type[BaseException]] = [typer.Abort]
    try:
        import click

        exits.append(click.exceptions.Exit)
        aborts.append(click.exceptions.Abort)
    except ImportError:
        pass
    return tuple(exits), tuple(aborts)


def _wants_debug(args: list[str]) -> bool:
    """``--debug`` anywhere before ``--`` (it is read before parsing, so that a usage error or an
    exception raised while parsing shows its traceback too), or DFAD_BENCH_DEBUG=1."""
    import os

    head = args[: args.index("--")] if "--" in args else args
    return "--debug" in head or os.environ.get("DFAD_BENCH_DEBUG", "") not in ("", "0")


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _usage_message(exc: BaseException) -> str:
    """A usage error as one line: the command, what was wrong, where help is."""
    fmt = getattr(exc, "format_message", None)
    message = _one_line(fmt() if callable(fmt) else str(exc))
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "dfad-bench"
    return f"{command}: {message} (see {command} --help)"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user mistake is one line on stderr and a non-zero exit.

    Exit codes: 2 for a user mistake (DfadError, usage error), 3 when model code raised
    (ModelFailure, traceback in the run folder's error.log), 1 for an unexpected internal error,
    130 when interrupted. ``--debug`` (or DFAD_BENCH_DEBUG=1) shows full tracebacks instead.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args)
    usage_errors = _usage_error_types()
    exits, aborts = _exit_types()

    def fail(message: str, code: int) -> None:
        err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True, emoji=False)
        sys.exit(code)

    try:
        rv = app(args=args, prog_name="dfad-bench", standalone_mode=False)
    except exits as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except aborts:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        if debug:
            raise
        err_console.print("interrupted")
        sys.exit(130)
    except DfadError as exc:
        if debug:
            raise
        from rich.markup import escape

        fail(escape(str(exc)), exc.exit_code)
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `dfad-bench` / `dfad-bench mini`: show help
            fmt = getattr(exc, "format_message", None)
            typer.echo(fmt() if callable(fmt) else str(exc), err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        if debug:
            raise
        from rich.markup import escape

        fail(escape(_usage_message(exc)), int(getattr(exc, "exit_code", 2) or 2))
    except Exception as exc:  # noqa: BLE001 - an unexpected error: one line unless --debug
        if debug:
            raise
        from rich.markup import escape

        fail(escape(f"unexpected {type(exc).__name__}: {_one_line(str(exc), 300)} (a bug in dfad-bench or a plug-in; rerun with --debug for the traceback)"), 1)
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
        sys.exit(rv)


if __name__ == "__main__":
    main()
