"""A small diffusion transformer (DiT) velocity model: patchify, transformer blocks with adaLN-Zero
time conditioning, unpatchify (Peebles & Xie, 2023, at toy scale)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dfad_mini.generators.unet import timestep_embedding


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding, (grid*grid, dim): no parameters spent on positions."""
    if dim % 4:
        raise ValueError(f"DiT width must be divisible by 4 for 2-D sincos positions, got {dim}")
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64), indexing="ij")
    parts = []
    for coord in (ys.flatten(), xs.flatten()):
        ang = coord[:, None] * omega[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    return torch.cat(parts, dim=1).float()


class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c)[:, None].chunk(6, dim=-1)
        b, n, d = x.shape
        h = self.norm1(x) * (1 + scale1) + shift1
        q, k, v = self.qkv(h).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + gate1 * self.proj(h)
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class DiT(nn.Module):
    """Patchify ``patch`` x ``patch`` pixels into tokens, ``depth`` adaLN-Zero blocks, unpatchify."""

    def __init__(
        self,
        img_size: int = 64,
        in_ch: int = 3,
        patch: int = 4,
        dim: int = 128,
        depth: int = 5,
        heads: int = 4,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if img_size % patch:
            raise ValueError(f"image size {img_size} is not a multiple of the patch size {patch}")
        self.patch, self.in_ch, self.grid = patch, in_ch, img_size // patch
        self.embed = nn.Linear(in_ch * patch * patch, dim)
        self.register_buffer("pos", sincos_2d(self.grid, dim), persistent=False)
        self.tfreq = dim
        self.t_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList([DiTBlock(dim, heads, mlp_ratio) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(dim, 2 * dim)
        self.final = nn.Linear(dim, in_ch * patch * patch)
        for lin in (self.final_ada, self.final):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        nn.init.xavier_uniform_(self.embed.weight, gain=math.sqrt(2.0))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b, p = x.shape[0], self.patch
        tokens = F.pixel_unshuffle(x, p).flatten(2).transpose(1, 2)  # (B, grid*grid, C*p*p)
        h = self.embed(tokens) + self.pos.to(x.dtype)
        c = F.silu(self.t_mlp(timestep_embedding(t, self.tfreq).to(x.dtype)))
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_ada(c)[:, None].chunk(2, dim=-1)
        out = self.final(self.final_norm(h) * (1 + scale) + shift)
        out = out.transpose(1, 2).reshape(b, self.in_ch * p * p, self.grid, self.grid)
        return F.pixel_shuffle(out, p)
