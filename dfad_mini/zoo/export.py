"""Export a trained generator: fp16 sampling weights and their JSON sidecar, from a checkpoint."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfad_bench.errors import DfadError
from dfad_mini.generators import (
    get_mini_spec,
)
from dfad_mini.generators.latent import is_latent
from dfad_mini.generators.weightfile import save_weights
from dfad_mini.zoo.stage import create_trainer, load_checkpoint


def _subsample(curve: Sequence[Mapping[str, float]], max_points: int = 200) -> list[dict[str, float]]:
    if len(curve) <= max_points:
        return [dict(p) for p in curve]
    idx = np.unique(np.linspace(0, len(curve) - 1, max_points).round().astype(int))
    return [dict(curve[i]) for i in idx]


def export_weights(name: str, ckpt: str | os.PathLike[str], weights_dir: str | os.PathLike[str], *,
                   command: str | None = None, device: str = "cpu") -> Path:
    """Write ``<weights_dir>/<name>.safetensors`` (fp16, sampling weights only: EMA where trained
    with one, BatchNorm recalibrated for GANs) and its JSON sidecar, from a training checkpoint."""
    spec = get_mini_spec(name)
    ckpt_path = Path(ckpt)
    state = load_checkpoint(ckpt_path)
    if state["name"] != name or state["component"] != name:
        raise DfadError(f"{ckpt_path}: checkpoint is for {state['component']!r}, expected {name!r}")
    torch.manual_seed(0)
    trainer = create_trainer(spec, device, amp=False)
    trainer.load_state_dict(state["trainer"])
    tensors, config = trainer.export()
    meta = json.loads(state["meta"])
    components = {}
    ae_ckpt = ckpt_path.with_name("autoencoder.pt")
    source = spec.train_config.extra.get("autoencoder_from") if spec.train_config else None
    if source:
        components["autoencoder"] = {"from": source}
    elif is_latent(spec.arch_config) and ae_ckpt.is_file():
        ae = load_checkpoint(ae_ckpt)
        components["autoencoder"] = {"steps": ae["step"], "train_seconds": ae["train_seconds"],
                                     "loss_curve": _subsample(ae["curve"])}
    n_params = sum(int(v.numel()) for v in tensors.values() if v.is_floating_point())
    sidecar = {
        "name": name, "family": spec.family, "forgery_type": spec.forgery_type, "kind": spec.kind,
        "description": spec.description, "reference": spec.reference,
        "train_config": _jsonable(asdict(spec.train_config)) if spec.train_config else None,
        "sampler_config": dict(spec.sampler_config), "seed": state["seed"], "steps": state["step"],
        "batch_size": state["batch_size"], "device": state["device"], "device_name": meta.get("device_name"),
        "torch_version": torch.__version__, "command": command or meta.get("command"),
        "train_seconds": round(float(state["train_seconds"]) + sum(c.get("train_seconds", 0.0) for c in components.values()), 2),
        "training_data": {"renderer": "dfad_mini.renderer.render_training_set", "n": meta.get("n_train"),
                          "seed": meta.get("data_seed"), "identity_pool": "train-id"},
        "amp_bf16": meta.get("amp_bf16"), "n_params": n_params, "loss_curve": _subsample(state["curve"]),
        "components": components,
        "exported_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_weights(Path(weights_dir) / str(spec.weights_file), tensors, config, sidecar)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: dict(o) if isinstance(o, Mapping) else str(o)))
