"""A small time-conditioned UNet (ADM-style residual blocks) used as the denoiser / velocity model.

The input is folded by pixel-unshuffle (space-to-depth) before the first convolution: a 64x64x3
image becomes a 16x16x48 grid, so every convolution runs on 16x16 or smaller maps. On two CPU
cores this is what makes sampling hundreds of images in seconds possible (see the feasibility
notes in shared/OFFLINE-ASSETS.md); the last convolution and pixel-shuffle unfold it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of a continuous time ``t`` in [0, 1] (scaled by 1000 as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _groups(ch: int) -> int:
    for g in (8, 4, 2, 1):
        if ch % g == 0:
            return g
    return 1


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block with scale/shift time conditioning (zero-initialised out conv)."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.temb(temb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the positions of a (small) feature map."""

    def __init__(self, ch: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """Time-conditioned UNet on a pixel-unshuffled grid; predicts a tensor shaped like its input.

    A lean layout to stay within ~1.5M parameters: per level, ``blocks`` residual blocks on the
    way down and on the way up, one skip connection per level (concatenated after upsampling),
    self-attention where ``attn[i]`` and in the middle block. ``channels[i]`` is the width at
    level i (level 0 = the unshuffled grid).
    """

    def __init__(
        self,
        in_ch: int = 3,
        unshuffle: int = 4,
        channels: Sequence[int] = (64, 96, 128),
        blocks: int = 1,
        attn: Sequence[bool] = (False, False, True),
        heads: int = 4,
        mid_blocks: int = 1,
    ) -> None:
        super().__init__()
        if len(attn) != len(channels):
            raise ValueError(f"attn has {len(attn)} entries, expected one per level ({len(channels)})")
        self.unshuffle = unshuffle
        grid_ch = in_ch * unshuffle * unshuffle
        c0 = channels[0]
        self.tfreq = c0
        tdim = c0
        self.t_mlp = nn.Sequential(nn.Linear(c0, 2 * tdim), nn.SiLU(), nn.Linear(2 * tdim, tdim), nn.SiLU())
        self.stem = nn.Conv2d(grid_ch, c0, 3, padding=1)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = c0
        for level, width in enumerate(channels):
            mods: list[nn.Module] = []
            for _ in range(blocks):
                mods.append(ResBlock(ch, width, tdim))
                ch = width
                if attn[level]:
                    mods.append(SelfAttention2d(width, heads))
            self.down.append(nn.ModuleList(mods))
            if level < len(channels) - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        mid: list[nn.Module] = []
        for _ in range(mid_blocks):
            mid += [SelfAttention2d(ch, heads), ResBlock(ch, ch, tdim)]
        self.mid = nn.ModuleList(mid)

        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels) - 1)):
            width = channels[level]
            self.upsample.append(nn.Upsample(scale_factor=2.0, mode="nearest"))
            mods = []
            cin = ch + width
            for _ in range(blocks):
                mods.append(ResBlock(cin, width, tdim))
                cin = ch = width
                if attn[level]:
                    mods.append(SelfAttention2d(width, heads))
            self.up.append(nn.ModuleList(mods))
        self.out_norm = nn.GroupNorm(_groups(ch), ch)
        self.out = nn.Conv2d(ch, grid_ch, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.t_mlp(timestep_embedding(t, self.tfreq).to(x.dtype))
        h = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        h = self.stem(h)
        skips = []
        for level, mods in enumerate(self.down):
            h = _run(mods, h, temb)
            if level < len(self.downsample):
                skips.append(h)
                h = self.downsample[level](h)
        h = _run(self.mid, h, temb)
        for upsample, mods in zip(self.upsample, self.up, strict=True):
            h = torch.cat([upsample(h), skips.pop()], dim=1)
            h = _run(mods, h, temb)
        h = self.out(F.silu(self.out_norm(h)))
        return F.pixel_shuffle(h, self.unshuffle) if self.unshuffle > 1 else h


def _run(mods: nn.ModuleList, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
    for m in mods:
        h = m(h, temb) if isinstance(m, ResBlock) else m(h)
    return h
