"""Pretrain ``clip-mini`` contrastively (InfoNCE, learnable temperature) on pristine DFAD-Mini renders.

Data: renders of the TRAINING identity pool (``dfad_mini.renderer.render_training_set``) and
their ground-truth captions; never fakes, never the benchmark's own identities. Renders are made
once (in parallel worker processes) and kept on the training device as uint8; augmentation is a
batched random resized crop + brightness/contrast/saturation jitter. No horizontal flip: captions
say "looking to the left", a flip would make them wrong.

Loss: symmetric InfoNCE where every pair with the identical caption counts as a positive (coarse
captions repeat inside a batch; treating them as negatives would teach noise). With hard negatives
(default), each image also sees its own caption with one attribute swapped (gaze left<->right or
up<->down, glasses on/off, woman<->man) as an extra negative text, as NegCLIP does: global
captions alone let a small model match on skin and hair and ignore where the eyes look.

Runs on CPU (slowly) and CUDA (bf16 autocast there only); checkpoints every N steps into a work
folder and resumes from it; the time budget counts training time across resumes.

    python -m dfad_mini.clip_pretrain --device cuda --time-budget-s 120 --out DIR

writes ``DIR/clip-mini.safetensors`` (fp16) and ``DIR/clip-mini.json`` (config, seed, steps,
device, command, loss curve, zero-shot retrieval numbers on held-out renders).

The work is in :mod:`dfad_mini.clip` (one module per job); this module is its command line
(``dfad-bench mini pretrain-clip`` is the same command) and keeps the names callers use.
"""

from __future__ import annotations

from collections.abc import Sequence

from dfad_mini.clip.data import CHUNK, EVAL_SEED, TRAIN_SEED_BASE, PretrainData, _cached_data, make_data
from dfad_mini.clip.model import ARCH, create_clip_mini_model, export_weights
from dfad_mini.clip.objective import augment, contrastive_loss
from dfad_mini.clip.retrieval import zero_shot_retrieval
from dfad_mini.clip.text import build_text_table
from dfad_mini.clip.train import ClipMiniTrainer, PretrainConfig, pretrain_clip_mini

__all__ = [
    "ARCH", "CHUNK", "EVAL_SEED", "TRAIN_SEED_BASE", "ClipMiniTrainer", "PretrainConfig", "PretrainData", "_cached_data",
    "augment", "build_text_table", "contrastive_loss", "create_clip_mini_model", "export_weights", "main", "make_data",
    "pretrain_clip_mini", "zero_shot_retrieval",
]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dfad_mini.clip_pretrain ARGS``: the same command as ``dfad-bench mini pretrain-clip ARGS``."""
    from dfad_mini.cli import run_subcommand

    return run_subcommand("pretrain-clip", argv, prog="python -m dfad_mini.clip_pretrain")


if __name__ == "__main__":
    raise SystemExit(main())
