"""``dfad-bench prepare``: validate, crop faces and warm the encoder caches of a benchmark
(dfad_bench/prepare.py). Light to import (typer only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def prepare_cmd(
    benchmark: Annotated[str, typer.Option(help="Benchmark name, ADAPTER:PATH or manifest path.")],
    output: Annotated[Path | None, typer.Option(help="State folder (default <cache>/prepared/<samples hash>).")] = None,
    no_faces: Annotated[bool, typer.Option("--no-faces", help="Skip MTCNN face crops.")] = False,
    gaze: Annotated[str | None, typer.Option(help="Gaze encoder whose outputs to cache (dfad-bench list gaze-encoders).")] = None,
    backbone: Annotated[str | None, typer.Option(help="CLIP backbone whose image features to cache.")] = None,
    crop_size: Annotated[int, typer.Option(help="Side of the face crops, pixels.")] = 224,
    workers: Annotated[int | None, typer.Option(help="Threads for file validation (default: CPUs, at most 8).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N (default: cuda when available).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Check every file (bad ones listed by path and reason), crop faces, cache gaze and backbone
    features. Incremental: a second prepare does no work; new files are the only work."""
    import json

    from dfad_bench.errors import DfadError
    from dfad_bench.prepare import prepare_benchmark
    from dfad_bench.progress import progress_group
    from dfad_bench.validate import check_device

    if crop_size < 16:
        raise DfadError(f"--crop-size must be >= 16, got {crop_size}")
    if workers is not None and workers < 1:
        raise DfadError(f"--workers must be >= 1, got {workers}")
    with progress_group(quiet) as start:
        summary = prepare_benchmark(benchmark, output, faces=not no_faces, gaze=gaze, backbone=backbone, crop_size=crop_size,
                                    device=check_device(device), workers=workers, progress=start)
    for bad in summary.pop("bad_examples"):
        typer.echo(f"bad: {bad['path']}: {bad['reason']}", err=True)
    typer.echo(json.dumps(summary, indent=1))
