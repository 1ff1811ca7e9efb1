"""Generator and discriminator networks of the two GANs (DCGAN and an SNGAN-style ResGAN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class DCGANGenerator(nn.Module):
    """Radford et al. (2016): z -> transposed convolutions with BatchNorm + ReLU -> tanh, 64x64."""

    def __init__(self, z_dim: int = 100, ngf: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        chans = [8 * ngf, 4 * ngf, 2 * ngf, ngf]
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            _dcgan_init(m)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with BatchNorm + LeakyReLU -> one logit."""

    def __init__(self, ndf: int = 32) -> None:
        super().__init__()
        chans = [ndf, 2 * ndf, 4 * ndf, 8 * ndf]
        layers: list[nn.Module] = [nn.Conv2d(3, chans[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(chans[-1], 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            _dcgan_init(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def _dcgan_init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class _GBlock(nn.Module):
    """BN-ReLU-(nearest upsample)-conv3x3-BN-ReLU-conv3x3 with an upsampled 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return self.skip(F.interpolate(x, scale_factor=2.0, mode="nearest")) + h


class ResGANGenerator(nn.Module):
    """SNGAN-style ResNet generator (Miyato et al., 2018): linear -> 4x4 -> 4 upsampling blocks."""

    def __init__(self, z_dim: int = 128, channels: tuple[int, ...] = (192, 128, 96, 64, 32)) -> None:
        super().__init__()
        self.z_dim, self.c0 = z_dim, channels[0]
        self.fc = nn.Linear(z_dim, 16 * channels[0])
        self.blocks = nn.Sequential(*[_GBlock(a, b) for a, b in zip(channels[:-1], channels[1:], strict=True)])
        self.bn = nn.BatchNorm2d(channels[-1])
        self.out = nn.Conv2d(channels[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.c0, 4, 4)
        h = self.blocks(h)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class _DBlock(nn.Module):
    """Spectrally normalised residual downsampling block."""

    def __init__(self, cin: int, cout: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + F.avg_pool2d(self.skip(x), 2)


class ResGANDiscriminator(nn.Module):
    """SN ResNet discriminator: 4 downsampling blocks, ReLU, global sum pool, SN linear -> logit."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        chans = (3, *channels)
        self.blocks = nn.Sequential(*[_DBlock(a, b, i == 0) for i, (a, b) in enumerate(zip(chans[:-1], chans[1:], strict=True))])
        self.fc = spectral_norm(nn.Linear(channels[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.fc(h).flatten()
