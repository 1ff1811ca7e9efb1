"""A small deterministic convolutional autoencoder: 64x64x3 pixels <-> 16x16xC latents, the
first stage of the latent diffusion generator (as the VAE of Stable Diffusion, at toy scale)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dfad_mini.generators.unet import _groups


class _Block(nn.Module):
    """Unconditioned residual block (GroupNorm-SiLU-conv x2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(_groups(cin), cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1),
            nn.GroupNorm(_groups(cout), cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class Encoder(nn.Module):
    """``channels`` = widths at 64x64, 32x32 and 16x16."""

    def __init__(self, channels: tuple[int, int, int] = (24, 48, 64), z_ch: int = 4) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), _Block(c1, c1),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), _Block(c2, c2),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), _Block(c3, c3),
            nn.GroupNorm(_groups(c3), c3), nn.SiLU(), nn.Conv2d(c3, z_ch, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """Mirror of :class:`Encoder` (nearest upsampling + conv)."""

    def __init__(self, channels: tuple[int, int, int] = (24, 48, 64), z_ch: int = 4) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.net = nn.Sequential(
            nn.Conv2d(z_ch, c3, 3, padding=1), _Block(c3, c3),
            _Up(c3, c2), _Block(c2, c2),
            _Up(c2, c1), _Block(c1, c1),
            nn.GroupNorm(_groups(c1), c1), nn.SiLU(), nn.Conv2d(c1, 3, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class AutoEncoder(nn.Module):
    """``encode``: (B,3,64,64) in [-1,1] -> (B,z_ch,16,16); ``decode`` inverts it."""

    def __init__(self, channels: tuple[int, int, int] = (24, 48, 64), z_ch: int = 4) -> None:
        super().__init__()
        self.encoder = Encoder(channels, z_ch)
        self.decoder = Decoder(channels, z_ch)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
