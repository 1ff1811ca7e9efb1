"""Diffusion generators: mini-ddpm (ancestral sampling, SDEdit; latent since mini-v2) and mini-ldm
(autoencoder + latent diffusion, DDIM sampling).

Both use the continuous cosine schedule alpha(t) = cos(pi t / 2), sigma(t) = sin(pi t / 2) and
v-prediction (Salimans & Ho, 2022): eps-prediction at 64 px needed several times more training in
the feasibility runs, and v stays well-posed at t = 1 where alpha = 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dfad_mini.generators.common import (
    MiniGeneratorSpec,
    autocast,
    image_generators,
    images_to_tensor,
    lr_at,
    prefixed,
    randn_per_image,
    set_lr,
    tensor_to_images,
    time_grid,
)
from dfad_mini.generators.denoising import DenoiserSampler, DenoiserTrainer, uniform_t
from dfad_mini.generators.latent import LATENT_STRIDE, LatentTrainerMixin, build_autoencoder


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


class DiffusionTrainer(DenoiserTrainer):
    """v-prediction regression: x_t = a x0 + s eps, target v = a eps - s x0, t ~ U(0, 1)."""

    def regression_pair(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = uniform_t(x.shape[0], gen, self.device)
        eps = torch.randn(x.shape, device=self.device, generator=gen)
        a, s = (_bcast(v, x) for v in alpha_sigma(t))
        return a * x + s * eps, t, a * eps - s * x

    def export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return prefixed(self.ema.model.state_dict(), "net"), {"kind": self.spec.kind, "arch": dict(self.spec.arch_config)}


class AutoEncoderTrainer:
    """First stage of mini-ldm: L1 + L2 + L1 on image gradients (sharper edges without a
    perceptual network, none is available offline) + a tiny latent L2 penalty (keeps the latent
    scale bounded, the role of the KL term in Stable Diffusion's VAE)."""

    def __init__(self, spec: MiniGeneratorSpec, device: torch.device | str, amp: bool) -> None:
        cfg = spec.train_config
        assert cfg is not None
        self.spec, self.cfg, self.device, self.amp = spec, cfg, torch.device(device), amp
        self.ae = build_autoencoder(spec.arch_config).to(self.device)
        self.lr = float(cfg.extra.get("ae_lr", 1e-3))
        # Fully convolutional, so it can train on random crops: ``ae_crop`` 32 makes a step ~4x
        # cheaper (what lets a CPU train it), as Stable Diffusion's VAE trains on 256-px crops.
        self.crop = int(cfg.extra.get("ae_crop", 0))
        self.opt = torch.optim.AdamW(self.ae.parameters(), lr=self.lr, betas=(0.9, 0.99))
        self.step = 0

    def train_step(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        set_lr(self.opt, lr_at(self.step, self.lr, 100))
        self.ae.train()
        if self.crop and self.crop < x.shape[-1]:
            # one offset per batch, on the latent grid (multiples of the stride) so crops align with it
            cells = (x.shape[-1] - self.crop) // LATENT_STRIDE + 1
            i, j = (LATENT_STRIDE * int(v) for v in torch.randint(cells, (2,), generator=gen, device=gen.device))
            x = x[:, :, i:i + self.crop, j:j + self.crop]
        with autocast(self.device, self.amp):
            z = self.ae.encode(x)
            rec = self.ae.decode(z).float()
        z = z.float()
        grad_loss = sum(
            F.l1_loss(torch.diff(rec, dim=d), torch.diff(x, dim=d)) for d in (2, 3)
        )
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + 0.5 * grad_loss + 1e-4 * z.pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.ae.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        return {"loss": loss.detach(), "l1": F.l1_loss(rec.detach(), x)}

    def state_dict(self) -> dict[str, Any]:
        return {"ae": self.ae.state_dict(), "opt": self.opt.state_dict(), "step": self.step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ae.load_state_dict(state["ae"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])

    def export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return prefixed(self.ae.state_dict(), "ae"), {"kind": "autoencoder", "arch": dict(self.spec.arch_config)}


class LatentDiffusionTrainer(LatentTrainerMixin, DiffusionTrainer):
    """v-prediction diffusion on the frozen autoencoder's latents, normalised per channel
    (``prepare`` encodes the training set once; see :mod:`~dfad_mini.generators.latent`)."""


class DDPMSampler(DenoiserSampler):
    """Ancestral (DDPM posterior) sampling on a strided time grid; in pixel space x0 is clipped
    to [-1, 1]. A latent model samples latents and decodes them; its SDEdit encodes first."""

    def _ancestral(self, x: torch.Tensor, ts: np.ndarray, gens: Sequence[torch.Generator]) -> torch.Tensor:
        for t, s in zip(ts[:-1], ts[1:], strict=True):
            a_t, s_t = math.cos(0.5 * math.pi * t), math.sin(0.5 * math.pi * t)
            v = self.velocity(x, float(t))
            x0 = a_t * x - s_t * v
            if self.codec is None:
                x0 = x0.clamp(-1.0, 1.0)
            if s <= 0:
                x = x0
                break
            a_s, s_s = math.cos(0.5 * math.pi * s), math.sin(0.5 * math.pi * s)
            a_ts = a_t / a_s
            var_ts = s_t**2 - a_ts**2 * s_s**2
            mean = (a_ts * s_s**2 / s_t**2) * x + (a_s * var_ts / s_t**2) * x0
            std = math.sqrt(max(var_ts * s_s**2 / s_t**2, 0.0))
            x = mean + std * randn_per_image(gens, x.shape[1:], self.device)
        return x

    def _sample_batch(self, gens: Sequence[torch.Generator]) -> torch.Tensor:
        x = randn_per_image(gens, self.sample_shape, self.device)
        return self.to_pixels(self._ancestral(x, time_grid(self.steps, self.time_power), gens))

    @torch.no_grad()
    def sdedit(self, images: np.ndarray, strength: float, seed: int, batch_size: int = 250) -> np.ndarray:
        """SDEdit (Meng et al., 2022): noise ``images`` (uint8 (N,64,64,3)) to t = ``strength`` and
        denoise them with ancestral steps (the grid keeps the sampler's step size). Deterministic for
        ``seed`` on CPU; the caller blends the result back (e.g. only the eye region)."""
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"SDEdit strength must be in (0, 1], got {strength}")
        images = np.asarray(images)
        n_steps = max(1, math.ceil(strength * self.steps))
        ts = time_grid(n_steps, self.time_power, start=strength)
        a, s = math.cos(0.5 * math.pi * strength), math.sin(0.5 * math.pi * strength)
        out = np.empty_like(images)
        for start in range(0, len(images), batch_size):
            x0 = images_to_tensor(images[start:start + batch_size], self.device)
            if self.codec is not None:
                x0 = self.codec.encode(x0)
            gens = image_generators(seed, start, x0.shape[0])
            x = a * x0 + s * randn_per_image(gens, x0.shape[1:], self.device)
            out[start:start + x0.shape[0]] = tensor_to_images(self.to_pixels(self._ancestral(x, ts, gens)))
        return out


class LDMSampler(DenoiserSampler):
    """Deterministic DDIM (eta = 0) in latent space, then the autoencoder's decoder."""

    default_steps = 20

    def _sample_batch(self, gens: Sequence[torch.Generator]) -> torch.Tensor:
        z = randn_per_image(gens, self.sample_shape, self.device)
        ts = time_grid(self.steps, self.time_power)
        for t, s in zip(ts[:-1], ts[1:], strict=True):
            a_t, s_t = math.cos(0.5 * math.pi * t), math.sin(0.5 * math.pi * t)
            v = self.velocity(z, float(t))
            z0 = a_t * z - s_t * v
            eps = s_t * z + a_t * v
            a_s, s_s = math.cos(0.5 * math.pi * s), math.sin(0.5 * math.pi * s)
            z = a_s * z0 + s_s * eps
        return self.to_pixels(z)
