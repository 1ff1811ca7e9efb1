"""Forgery gaze prompts: gaze descriptors -> gaze tokens -> K prompt tokens of the ViT width.

The abstract says the gaze-aware image encoder (GIE) fuses "forgery gaze prompts, extracted by a
gaze encoder" with the forged-image embeddings. Here:

1. :class:`GazeTokenizer` turns the standardised descriptor of ``gaze_adapter.py`` into three gaze
   tokens, one per part (encoder features, gaze geometry, left/right-eye consistency), each through
   its own LayerNorm -> Linear -> GELU. The tokens are shared by the prompts, the VPE's gated
   cross-attention and the gaze auxiliary head (one gaze pathway, three readers).
2. :class:`ForgeryGazePrompts` maps the flattened tokens to K prompt tokens per prompted ViT block:
   ``prompt[l] = base[l] + condition(gaze)``, a learnable base set per block (plain visual prompt
   tuning) plus a gaze-conditioned offset shared across blocks. With ``gaze=false`` only the base
   remains: GIE becomes ordinary (unconditioned) deep VPT, the ablation that isolates the gaze.
"""

from __future__ import annotations

import torch
from torch import nn

from gazeclip.gaze_adapter import CONSISTENCY_DIM, GEOMETRY_DIM, GazeLayout


class GazeTokenizer(nn.Module):
    """(N, D + 14) standardised descriptors -> (N, 3, dim) gaze tokens."""

    n_tokens = 3

    def __init__(self, layout: GazeLayout, dim: int = 64) -> None:
        super().__init__()
        self.layout = layout
        self.dim = dim

        def part(n_in: int) -> nn.Sequential:
            return nn.Sequential(nn.LayerNorm(n_in), nn.Linear(n_in, dim), nn.GELU())

        self.features = part(layout.feature_dim)
        self.geometry = part(GEOMETRY_DIM)
        self.consistency = part(CONSISTENCY_DIM)

    def forward(self, desc: torch.Tensor) -> torch.Tensor:
        lay = self.layout
        return torch.stack(
            [self.features(desc[:, lay.features]), self.geometry(desc[:, lay.geometry]), self.consistency(desc[:, lay.consistency])],
            dim=1,
        )


class ForgeryGazePrompts(nn.Module):
    """Gaze tokens (or nothing) -> prompts (N, depth, K, width) for ``depth`` prompted ViT blocks."""

    def __init__(self, width: int, n_prompts: int, depth: int, gaze_dim: int | None, hidden: int = 64) -> None:
        super().__init__()
        if n_prompts < 1 or depth < 1:
            raise ValueError(f"ForgeryGazePrompts: need n_prompts >= 1 and depth >= 1, got {n_prompts}, {depth}")
        self.width, self.n_prompts, self.depth = width, n_prompts, depth
        self.base = nn.Parameter(torch.randn(depth, n_prompts, width) * 0.02)
        self.condition: nn.Sequential | None = None
        if gaze_dim:
            self.condition = nn.Sequential(nn.Linear(gaze_dim, hidden), nn.GELU(), nn.Linear(hidden, n_prompts * width))
            nn.init.normal_(self.condition[-1].weight, std=0.02)
            nn.init.zeros_(self.condition[-1].bias)

    def forward(self, gaze_tokens: torch.Tensor | None, n: int) -> torch.Tensor:
        base = self.base.unsqueeze(0).expand(n, *self.base.shape)
        if self.condition is None or gaze_tokens is None:
            return base
        offset = self.condition(gaze_tokens.flatten(1)).view(n, 1, self.n_prompts, self.width)
        return base + offset.to(base.dtype)
