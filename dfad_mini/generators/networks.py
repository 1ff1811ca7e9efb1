"""Build a time-conditioned network (UNet or DiT) from its JSON-able architecture config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from dfad_mini.generators.dit import DiT
from dfad_mini.generators.unet import UNet


def build_net(arch: Mapping[str, Any]) -> nn.Module:
    net = arch.get("net")
    if net == "unet":
        return UNet(
            in_ch=arch["in_ch"], unshuffle=arch["unshuffle"], channels=tuple(arch["channels"]),
            blocks=arch["blocks"], attn=tuple(arch["attn"]), heads=arch.get("heads", 4),
            mid_blocks=arch.get("mid_blocks", 1),
        )
    if net == "dit":
        return DiT(
            img_size=arch.get("img_size", 64), in_ch=arch["in_ch"], patch=arch["patch"], dim=arch["dim"],
            depth=arch["depth"], heads=arch["heads"], mlp_ratio=arch.get("mlp_ratio", 4.0),
        )
    raise ValueError(f"architecture config field 'net' is {net!r}, expected 'unet' or 'dit'")
