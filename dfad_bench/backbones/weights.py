"""Checkpoint files: strict loading (safetensors or ``torch.load(weights_only=True)``), hashing, sidecars."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_SHOWN_KEYS = 5


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) within the process."""
    path = Path(path).resolve()
    st = path.stat()
    memo_key = (str(path), st.st_size, st.st_mtime_ns)
    if memo_key not in _SHA_CACHE:
        _SHA_CACHE[memo_key] = sha256(path)
    return _SHA_CACHE[memo_key]


def sidecar_path(weights: str | Path) -> Path:
    """``clip-mini.safetensors`` -> ``clip-mini.json``."""
    return Path(weights).with_suffix(".json")


def read_sidecar(weights: str | Path) -> dict[str, Any]:
    """The JSON sidecar beside a weights file, or {} when there is none."""
    path = sidecar_path(weights)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DfadError(f"{path}: cannot read weights sidecar ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise DfadError(f"{path}: weights sidecar must be a JSON object")
    return data


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    more = f" (+{len(keys) - _SHOWN_KEYS} more)" if len(keys) > _SHOWN_KEYS else ""
    return f"{len(keys)} [{shown}{more}]"


def load_weights_strict(model: torch.nn.Module, path: str | Path, name: str) -> None:
    """Load ``path`` into ``model`` through open_clip's converter; any missing/unexpected key is an error.

    open_clip's ``load_checkpoint`` reads safetensors with ``safetensors.torch.load_file`` and anything
    else with ``torch.load(weights_only=True)``, and converts known third-party layouts first.
    """
    from open_clip import load_checkpoint

    path = Path(path)
    try:
        incompatible = load_checkpoint(model, str(path), strict=False, weights_only=True, device="cpu")
    except (SafetensorError, pickle.UnpicklingError, EOFError, OSError) as exc:
        raise DfadError(f"backbone {name}: cannot read weights file {path} ({type(exc).__name__}: {exc})") from exc
    except RuntimeError as exc:  # shape mismatches from nn.Module.load_state_dict
        lines = str(exc).strip().splitlines()
        detail = (" ".join(line.strip() for line in lines[1:3]) or lines[0]) if lines else type(exc).__name__
        raise DfadError(f"backbone {name}: weights file {path} does not fit the architecture ({detail})") from exc
    missing = list(getattr(incompatible, "missing_keys", []))
    unexpected = list(getattr(incompatible, "unexpected_keys", []))
    if missing or unexpected:
        raise DfadError(
            f"backbone {name}: weights file {path} does not match the architecture: "
            f"missing keys {_describe(missing)}, unexpected keys {_describe(unexpected)}"
        )
