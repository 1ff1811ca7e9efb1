"""The clip-mini network (open_clip, config ``dfad_mini/configs/clip-mini.json``) and its weights
file (fp16 safetensors + JSON sidecar)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.backbones.spec import register_project_configs
from dfad_bench.hashing import sha256

ARCH = "clip-mini"


def create_clip_mini_model() -> torch.nn.Module:
    import logging

    import open_clip

    register_project_configs()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # open_clip logs "initialized randomly": that is the point here
    try:
        return open_clip.create_model(ARCH, pretrained=None)
    finally:
        logging.disable(previous)


def _preprocess_cfg(model: torch.nn.Module) -> dict[str, Any]:
    cfg = dict(model.visual.preprocess_cfg)
    return {"mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": cfg["interpolation"], "resize_mode": cfg["resize_mode"]}


def export_weights(model: torch.nn.Module, out_dir: Path, sidecar: dict[str, Any]) -> Path:
    """fp16 safetensors + JSON sidecar, both written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    target = out_dir / f"{ARCH}.safetensors"
    write_with_atomic(target, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt", "arch": ARCH}))
    sidecar = {**sidecar, "size_bytes": target.stat().st_size, "sha256": sha256(target)}
    write_json_atomic(target.with_suffix(".json"), sidecar)
    return target


def _open_clip_version() -> str:
    import open_clip

    return str(open_clip.__version__)
