"""Train the DFAD-Mini generator zoo on rendered training faces, checkpoint/resume, export weights.

    python -m dfad_mini.train --device cuda --all --total-time-s 420 --out /tmp/mini-zoo --bundle $OUT
    python -m dfad_mini.train --only mini-ddpm --time-budget-s 600          # CPU, slow

Every generator trains from the same in-memory training set (renders of the training identity
pool, never the benchmark's identities), held on the device as uint8. Checkpoints hold the full
state (models, optimisers, EMA, step, RNG, loss curve), so an interrupted run resumes where it
stopped and a resumed run equals an uninterrupted one. Exported weights are fp16 safetensors
with a JSON sidecar (config, seed, steps, device, versions, exact command, loss curve).

The work is in :mod:`dfad_mini.zoo` (one module per job); this module is its command line and
keeps the names callers use. The zoo imports nothing outside torch/numpy/PIL (+ the renderer) at
import time; its command line (:mod:`dfad_mini.cli`) adds typer and rich, so the GPU machine,
which lacks some of the project's dependencies, can run it from a plain checkout with those two.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dfad_mini.zoo.bundle import install_bundle, write_bundle
from dfad_mini.zoo.data import load_training_images, render_training_images
from dfad_mini.zoo.export import export_weights
from dfad_mini.zoo.grids import save_curve_plot, save_grid
from dfad_mini.zoo.run import run_command, train_all
from dfad_mini.zoo.stage import CKPT_FORMAT, TrainResult, create_trainer, load_checkpoint, train_generator

__all__ = [
    "CKPT_FORMAT", "TrainResult", "create_trainer", "export_weights", "install_bundle", "load_checkpoint",
    "load_training_images", "main", "render_training_images", "run_command", "save_curve_plot", "save_grid",
    "train_all", "train_generator", "write_bundle",
]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dfad_mini.train ARGS``: the same command as ``dfad-bench mini train-generators ARGS``."""
    from dfad_mini.cli import run_subcommand

    return run_subcommand("train-generators", argv, prog="python -m dfad_mini.train")


if __name__ == "__main__":
    sys.exit(main())
