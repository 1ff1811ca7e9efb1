"""Weight files of the mini generators: fp16 safetensors (the sampler config rides in the file's
metadata, so a file is self-sufficient) + a JSON sidecar with provenance for people."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256

FORMAT = "dfad-mini-generator/1"


def save_weights(path: Path, tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any],
                 sidecar: Mapping[str, Any]) -> Path:
    """Floating tensors are stored as fp16 (integer buffers keep their dtype)."""
    half = {
        k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in tensors.items()
    }
    meta = {"format": FORMAT, "config": json.dumps(dict(config), sort_keys=True)}
    write_with_atomic(path, lambda tmp: save_file(half, str(tmp), metadata=meta))
    digest = sha256(path)
    side = dict(sidecar)
    side.update(weights_file=path.name, weights_sha256=digest, format=FORMAT, config=dict(config))
    write_json_atomic(path.with_suffix(".json"), side)
    return path


def load_weights(path: Path, device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors upcast to fp32 (integer buffers unchanged) and the config from the metadata."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (OSError, SafetensorError) as exc:
        raise DfadError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT or "config" not in meta:
        raise DfadError(f"{path}: metadata format is {meta.get('format')!r}, expected {FORMAT!r} with a 'config' entry")
    tensors = load_file(str(path), device="cpu")
    tensors = {k: (v.float() if v.is_floating_point() else v).to(device) for k, v in tensors.items()}
    return tensors, json.loads(meta["config"])
