"""Provenance the runner collects for a record: git state, versions, hardware, the plug-in's
distribution. The record schema itself lives in :mod:`dfad_bench.records` (re-exported here)."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from dfad_bench.records import SCHEMA_VERSION, RunRecord, RunSpec

__all__ = [
    "SCHEMA_VERSION", "RunRecord", "RunSpec", "cpu_model", "git_state", "hardware_info", "package_versions",
    "plugin_distribution",
]


def git_state() -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the checkout holding this package; both None when
    the package is not in a git checkout (an installed wheel) or git is missing."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": out.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("dfad-bench", "torch", "torchvision", "numpy", "pandas", "scikit-learn", "scipy", "open_clip_torch", "timm"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU model name (/proc/cpuinfo "model name"; elsewhere platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def hardware_info(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
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


def plugin_distribution(factory: str) -> dict[str, Any]:
    """The installed distribution (name, version) that owns a model card's factory module.

    Built-in plug-ins (gazeclip, baselines) belong to ``dfad-bench``; a model defined in a module
    no distribution owns (a script, a test) records ``None`` for both.
    """
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    module = factory.partition(":")[0]
    top = module.split(".")[0]
    dists = sorted(set(packages_distributions().get(top, [])))
    if not dists:
        return {"distribution": None, "version": None, "module": module}
    name = dists[0]
    try:
        ver: str | None = version(name)
    except PackageNotFoundError:
        ver = None
    return {"distribution": name, "version": ver, "module": module}
