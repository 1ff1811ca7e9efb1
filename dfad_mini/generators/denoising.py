"""The training loop body shared by the diffusion and flow trainers: a network trained by
regression on noised inputs, AdamW, linear warm-up, gradient clipping and an EMA copy; and the
EDM-style preconditioning (Karras et al., 2022) that both use.

Preconditioning: the velocity is predicted as v = c_skip x_t + c_out F(c_in x_t, t), where
c_skip x_t is the best linear estimate of v from x_t for data of per-pixel std ``sigma_data``
(c_skip = Cov(v, x_t) / Var(x_t)), c_in = 1 / std(x_t) and c_out = sigma_data / std(x_t) is the
std of what is left (the same closed form holds for the cosine diffusion path and the linear flow
path). The network F then regresses a unit-variance target at every t, and a freshly initialised
(zero-output) model already samples blurry averages instead of noise: short trainings converge
much faster (this is the "input skip" that made the feasibility flow model work).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from dfad_mini.generators.common import (
    EMA,
    MiniGenerator,
    MiniGeneratorSpec,
    autocast,
    for_inference,
    lr_at,
    set_lr,
    unprefixed,
)
from dfad_mini.generators.latent import LatentCodec, is_latent
from dfad_mini.generators.networks import build_net


def precondition(path: str, t: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(c_in, c_skip, c_out) for ``path`` 'cosine' (x_t = cos x0 + sin eps, v = cos eps - sin x0)
    or 'linear' (x_t = (1 - t) x0 + t eps, v = eps - x0), each shaped (B, 1, 1, 1)."""
    t = t.float().view(-1, 1, 1, 1)
    sd2 = sigma_data**2
    if path == "cosine":
        a, s = torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)
        cov = a * s * (1.0 - sd2)
    elif path == "linear":
        a, s = 1.0 - t, t
        cov = s - a * sd2
    else:
        raise ValueError(f"unknown noising path {path!r}, expected 'cosine' or 'linear'")
    var_x = a * a * sd2 + s * s
    c_in = var_x.rsqrt()
    return c_in, cov / var_x, sigma_data * c_in


def predict_v(net: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, path: str, sigma_data: float | None) -> torch.Tensor:
    """The model's velocity / v estimate (``sigma_data`` None: the raw network output)."""
    if sigma_data is None:
        return net(x, t).float()
    c_in, c_skip, c_out = precondition(path, t, sigma_data)
    return c_skip * x.float() + c_out * net(c_in * x, t).float()


class DenoiserSampler(MiniGenerator):
    """A loaded denoising network (``net.*`` tensors) with its preconditioning and time grid.

    Subclasses set ``path`` ('cosine' diffusion or 'linear' flow) and ``default_steps`` and
    implement ``_sample_batch`` with :meth:`velocity`. A latent model (``arch.autoencoder``) denoises
    ``sample_shape`` latents and :meth:`to_pixels` decodes them; a pixel model's are the pixels.
    """

    path = "cosine"
    default_steps = 25

    def __init__(self, spec: MiniGeneratorSpec, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
                 device: torch.device | str) -> None:
        super().__init__(spec, config, device)
        self.net = build_net(config["arch"])
        self.net.load_state_dict(unprefixed(tensors, "net"))
        self.net = for_inference(self.net, self.device)
        self.sigma_data = config["arch"].get("sigma_data")
        self.steps = int(spec.sampler_config.get("steps", self.default_steps))
        self.time_power = float(spec.sampler_config.get("time_power", 1.0))
        self.codec = LatentCodec(config, tensors, self.device) if is_latent(config["arch"]) else None
        self.sample_shape: tuple[int, ...] = self.codec.shape if self.codec is not None else (3, 64, 64)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Samples (latents or pixels) -> pixels in [-1, 1]."""
        return self.codec.decode(x) if self.codec is not None else x.clamp(-1.0, 1.0)

    def velocity(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The model's v (diffusion) or velocity (flow) at time ``t`` for the batch ``x``."""
        return predict_v(self.net, x, torch.full((x.shape[0],), t, device=self.device), self.path, self.sigma_data)


class DenoiserTrainer:
    """Subclasses define ``regression_pair(x, gen) -> (x_t, t, v target)`` and ``path``."""

    path = "cosine"

    def __init__(self, spec: MiniGeneratorSpec, device: torch.device | str, amp: bool) -> None:
        cfg = spec.train_config
        if cfg is None:
            raise ValueError(f"{spec.name} has no training config")
        self.spec, self.cfg, self.device, self.amp = spec, cfg, torch.device(device), amp
        self.net = build_net(spec.arch_config).to(self.device)
        self.sigma_data = spec.arch_config.get("sigma_data")
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.ema = EMA(self.net, cfg.ema_decay or 0.999)
        self.step = 0

    def regression_pair(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        set_lr(self.opt, lr_at(self.step, self.cfg.lr, self.cfg.warmup_steps))
        self.net.train()
        x_t, t, v = self.regression_pair(x, gen)
        if self.sigma_data is None:
            inp, target = x_t, v
        else:  # regress the unit-variance residual (EDM's loss weighting)
            c_in, c_skip, c_out = precondition(self.path, t, self.sigma_data)
            inp, target = c_in * x_t, (v - c_skip * x_t) / c_out
        with autocast(self.device, self.amp):
            pred = self.net(inp, t)
        loss = F.mse_loss(pred.float(), target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.ema.update(self.net)
        self.step += 1
        return {"loss": loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "ema": self.ema.state_dict(), "step": self.step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])


def uniform_t(n: int, gen: torch.Generator, device: torch.device, eps: float = 1e-3) -> torch.Tensor:
    return torch.rand(n, device=device, generator=gen) * (1.0 - 2 * eps) + eps


def logit_normal_t(n: int, gen: torch.Generator, device: torch.device, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """SD3's logit-normal time sampling: more weight on the middle of the path."""
    return torch.sigmoid(mean + std * torch.randn(n, device=device, generator=gen))
