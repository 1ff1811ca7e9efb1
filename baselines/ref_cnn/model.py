"""Small CNN reference model (see package docstring)."""

from __future__ import annotations

import torch
from torch import nn

from baselines.ref_cnn import CARD
from dfad_bench.contract import RunContext
from dfad_bench.harness.torch_model import TorchModel


class _Net(nn.Module):
    def __init__(self, width: int, n_family: int, n_generator: int) -> None:
        super().__init__()
        layers, c = [], 3
        for i in range(4):
            out = width * 2**min(i, 2)
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fake = nn.Linear(c, 1)
        self.family = nn.Linear(c, n_family)
        self.generator = nn.Linear(c, n_generator)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(x * 2 - 1)
        return {"fake_logit": self.fake(h).squeeze(1), "family_logits": self.family(h), "generator_logits": self.generator(h), "embedding": h}


class SmallCNN(TorchModel):
    card = CARD

    def build_network(self, ctx: RunContext, n_family: int, n_generator: int) -> nn.Module:
        return _Net(self.config["width"], n_family, n_generator)
