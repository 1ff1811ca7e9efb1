"""The run record: everything that can change a number, stored beside the predictions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class RunRecord:
    run_id: str
    model: str
    model_config: dict[str, Any]
    model_card: dict[str, Any]
    protocol: str
    protocol_version: int
    protocol_hash: str
    benchmark: str
    manifest_hash: str
    samples_hash: str  # manifest_hash without image-byte digests: what boards group by
    seed: int
    selection_rule: str
    threshold: dict[str, Any]
    git_commit: str | None
    versions: dict[str, str]
    hardware: dict[str, Any]
    timings: dict[str, float | None]
    metrics: dict[str, Any]
    bad_inputs: list[dict[str, str]]
    split_counts: dict[str, int]
    label_spaces: dict[str, Any]
    command: str
    created_at: str
    training: dict[str, Any] = field(default_factory=dict)
    status: str = "complete"
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_run_id(model: str, config: dict[str, Any], protocol_hash: str, manifest_hash: str, seed: int) -> str:
    key = json.dumps({"m": model, "c": config, "p": protocol_hash, "d": manifest_hash, "s": seed}, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("dfad-bench", "torch", "torchvision", "numpy", "pandas", "scikit-learn", "scipy", "open_clip_torch", "timm"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def hardware_info(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        pass
    return info
