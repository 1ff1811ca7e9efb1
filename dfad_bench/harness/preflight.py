"""Fail fast, before any image is read, when a run's encoders cannot be had.

A model card declares its frozen encoders (``ModelCard.encoders``: config key -> registry kind);
exactly those are checked here, through their registries, so a missing hub checkpoint, weight
file or gaze encoder is a one-line error within a second or two instead of after the data
pre-scan. No config key is read by naming convention.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dfad_bench.contract import ModelCard
from dfad_bench.errors import DfadError


def check_backbone(name: str) -> None:
    from dfad_bench.backbones.hub import resolve_hub_checkpoint
    from dfad_bench.backbones.spec import check_weights_file, parse_backbone_name

    spec = parse_backbone_name(name)  # unknown arch or tag: a did-you-mean from the registry
    if spec.source == "hub":
        resolve_hub_checkpoint(spec.arch, spec.weights)  # cached path, a download, or a fast DfadError
        return
    check_weights_file(spec)


def check_gaze(name: str) -> None:
    from dfad_bench.perception.gaze.base import GAZE_ENCODERS

    GAZE_ENCODERS.get(name)  # unknown (did-you-mean), duplicated or broken plug-in: DfadError


#: One check per encoder kind a card may declare (contract.ENCODER_KINDS).
ENCODER_CHECKS: dict[str, Callable[[str], None]] = {"backbone": check_backbone, "gaze": check_gaze}


def preflight(card: ModelCard, config: Mapping[str, Any]) -> None:
    """Check every encoder ``card`` declares, by the name the (normalised) ``config`` gives it.

    An empty or false value switches that encoder off (e.g. ``gazeclip.gaze=false``); true means
    the card's default.
    """
    for key, kind in card.encoders.items():
        value = config.get(key)
        if value is True:
            value = card.default_config.get(key)
        if value is None or value is False or value == "":
            continue
        if not isinstance(value, str):
            raise DfadError(f"model {card.name}: config {key!r} must be a {kind} name (or false), got {value!r}")
        ENCODER_CHECKS[kind](value)
