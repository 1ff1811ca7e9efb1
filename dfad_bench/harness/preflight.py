"""Fail fast, before any image is read, when a run's encoders cannot be had.

``backbone`` and ``gaze`` are the documented config keys for a model's frozen encoders
(docs/ADDING_A_MODEL.md); checking them here turns a missing hub checkpoint or weight file into a
one-line error within a second or two instead of after the data pre-scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError


def check_backbone(name: str) -> None:
    from dfad_bench.backbones.hub import resolve_hub_checkpoint
    from dfad_bench.backbones.spec import PROJECT_BACKBONES, parse_backbone_name

    spec = parse_backbone_name(name)
    if spec.source == "hub":
        resolve_hub_checkpoint(spec.arch, spec.weights)  # cached path, a download, or a fast DfadError
        return
    if not Path(spec.weights).is_file():
        project = PROJECT_BACKBONES.get(spec.arch)
        hint = f"; create it with: {project.pretrain_command}" if project and spec.source == "project" else ""
        raise DfadError(f"backbone {spec.name}: weights file not found: {spec.weights}{hint}")


def check_gaze(name: str) -> None:
    from dfad_bench.perception.gaze.base import available_gaze_encoders

    names = list(available_gaze_encoders())
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=3)
        raise DfadError(f"gaze encoder {name!r} is unknown" + (f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names)}"))


def preflight(config: dict[str, Any]) -> None:
    backbone = config.get("backbone")
    if isinstance(backbone, str) and backbone:
        check_backbone(backbone)
    gaze = config.get("gaze")
    if isinstance(gaze, str) and gaze:
        check_gaze(gaze)
