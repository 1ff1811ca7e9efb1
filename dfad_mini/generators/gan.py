"""GAN trainers and samplers: mini-dcgan (non-saturating BCE) and mini-resgan (hinge loss,
spectral-norm discriminator, EMA generator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dfad_mini.generators.common import (
    EMA,
    MiniGenerator,
    MiniGeneratorSpec,
    autocast,
    for_inference,
    lr_at,
    prefixed,
    randn_per_image,
    set_lr,
    unprefixed,
)
from dfad_mini.generators.gan_nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    ResGANDiscriminator,
    ResGANGenerator,
)


def build_gan(kind: str, arch: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
    if kind == "dcgan":
        return DCGANGenerator(arch["z_dim"], arch["ngf"]), DCGANDiscriminator(arch["ndf"])
    if kind == "resgan":
        return ResGANGenerator(arch["z_dim"], tuple(arch["g_channels"])), ResGANDiscriminator(tuple(arch["d_channels"]))
    raise ValueError(f"unknown GAN kind {kind!r}, expected 'dcgan' or 'resgan'")


class GanTrainer:
    """One D step then one G step per batch (fresh z for each). ``dcgan``: non-saturating BCE;
    ``resgan``: hinge loss, and an EMA of G is what gets exported."""

    def __init__(self, spec: MiniGeneratorSpec, device: torch.device | str, amp: bool) -> None:
        cfg = spec.train_config
        assert cfg is not None
        self.spec, self.cfg, self.device, self.amp = spec, cfg, torch.device(device), amp
        self.kind = spec.kind
        self.loss = "bce" if self.kind == "dcgan" else "hinge"
        self.g, self.d = (m.to(self.device) for m in build_gan(self.kind, spec.arch_config))
        self.z_dim = self.g.z_dim
        d_lr = cfg.extra.get("d_lr", cfg.lr)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=d_lr, betas=cfg.betas)
        self.ema = EMA(self.g, cfg.ema_decay) if cfg.ema_decay else None
        self.step = 0

    def _d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
                F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def _g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        return -fake_logits.mean()

    def train_step(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        b = x.shape[0]
        set_lr(self.opt_g, lr_at(self.step, self.cfg.lr, self.cfg.warmup_steps))
        set_lr(self.opt_d, lr_at(self.step, self.cfg.extra.get("d_lr", self.cfg.lr), self.cfg.warmup_steps))
        self.g.train()
        self.d.train()
        z = torch.randn(b, self.z_dim, device=self.device, generator=gen)
        with autocast(self.device, self.amp):
            with torch.no_grad():
                fake = self.g(z)
            d_loss = self._d_loss(self.d(x).float(), self.d(fake.detach()).float())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        z = torch.randn(b, self.z_dim, device=self.device, generator=gen)
        self.d.requires_grad_(False)
        with autocast(self.device, self.amp):
            g_loss = self._g_loss(self.d(self.g(z)).float())
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.g)
        self.step += 1
        return {"loss": g_loss.detach(), "d_loss": d_loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "g": self.g.state_dict(), "d": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None, "step": self.step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])

    @torch.no_grad()
    def export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The (EMA) generator with its BatchNorm statistics recalibrated: an EMA of the weights
        does not match the live model's running statistics, so they are re-estimated as a
        cumulative average over ``bn_calib_batches`` batches of fresh z in train mode."""
        import copy

        g = copy.deepcopy(self.ema.model if self.ema is not None else self.g).to(self.device)
        gen = torch.Generator(device=self.device).manual_seed(12345)
        bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        g.train()
        for _ in range(int(self.cfg.extra.get("bn_calib_batches", 8))):
            g(torch.randn(int(self.cfg.extra.get("bn_calib_batch", 64)), self.z_dim, device=self.device, generator=gen))
        for m in bns:
            m.momentum = 0.1
        g.eval()
        return prefixed(g.state_dict(), "g"), {"kind": self.kind, "arch": dict(self.spec.arch_config)}


class GanSampler(MiniGenerator):
    """z ~ N(0, I) per image -> G(z) (eval-mode BatchNorm)."""

    def __init__(self, spec: MiniGeneratorSpec, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
                 device: torch.device | str) -> None:
        super().__init__(spec, config, device)
        g, _ = build_gan(config["kind"], config["arch"])
        g.load_state_dict(unprefixed(tensors, "g"))
        self.g = for_inference(g, self.device)

    def _sample_batch(self, gens: Sequence[torch.Generator]) -> torch.Tensor:
        z = randn_per_image(gens, (self.g.z_dim,), self.device)
        return self.g(z)
