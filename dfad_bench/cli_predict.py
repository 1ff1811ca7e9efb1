"""``dfad-bench predict``: score your own images with a run's exported model (dfad_bench/predict.py).
Light to import (typer only): the command imports its module when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def predict_cmd(
    images: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    run: Annotated[Path, typer.Option("--run", help="A run folder (holding model/export.json).")],
    output: Annotated[Path, typer.Option(help="Where to write the rows: .parquet, .csv or .json.")] = Path("predictions.csv"),
    candidates: Annotated[str | None, typer.Option(help="Open-vocabulary models: comma-separated generator names to score (NAME or NAME=FAMILY/FORGERY_TYPE).")] = None,
    top_k: Annotated[int, typer.Option(help="How many families and generators to list per image.")] = 3,
    no_faces: Annotated[bool, typer.Option("--no-faces", help="Do not search faces: centre-crop every image (e.g. images that are face crops already).")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N (default: cuda when available).")] = None,
) -> None:
    """One row per image: fake probability and decision at the run's val threshold, top-k family and
    generator, candidate scores, gaze (models with a gaze encoder); faces are found and cropped first."""
    from dfad_bench.errors import DfadError
    from dfad_bench.predict import load_detector, write_predictions
    from dfad_bench.validate import check_device

    if top_k < 1:
        raise DfadError(f"--top-k must be >= 1, got {top_k}")
    if output.suffix.lower() not in (".parquet", ".csv", ".json"):
        raise DfadError(f"--output {output}: expected a .parquet, .csv or .json file")
    detector = load_detector(run, device=check_device(device), faces=not no_faces)
    frame = detector.predict(images, candidates=candidates, top_k=top_k)
    write_predictions(frame, output)
    n_face = int((frame["face"] == "found").sum())
    n_err = int((frame["error"] != "").sum())
    typer.echo(f"{len(frame)} image(s) -> {output} ({n_face} with a face, {n_err} unreadable)")
