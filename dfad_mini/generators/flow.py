"""Flow-matching generators: mini-fm-unet (UNet velocity, Euler) and mini-fm-dit (DiT velocity,
Heun or midpoint), in pixel space or (arch ``autoencoder``) in a latent space. Rectified-flow path x_t = (1 - t) x0 + t eps, velocity target eps - x0, t drawn
logit-normal as in SD3; sampling integrates dx/dt = v from t = 1 (noise) to t = 0 (data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dfad_mini.generators.common import MiniGeneratorSpec, prefixed, randn_per_image, time_grid
from dfad_mini.generators.denoising import DenoiserSampler, DenoiserTrainer, logit_normal_t
from dfad_mini.generators.latent import LatentTrainerMixin


class FlowTrainer(DenoiserTrainer):
    path = "linear"

    def regression_pair(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = logit_normal_t(x.shape[0], gen, self.device)
        eps = torch.randn(x.shape, device=self.device, generator=gen)
        tb = t.view(-1, 1, 1, 1)
        return (1.0 - tb) * x + tb * eps, t, eps - x

    def export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return prefixed(self.ema.model.state_dict(), "net"), {"kind": self.spec.kind, "arch": dict(self.spec.arch_config)}


class LatentFlowTrainer(LatentTrainerMixin, FlowTrainer):
    """Rectified flow on a frozen autoencoder's normalised latents."""


class FlowSampler(DenoiserSampler):
    """ODE solve from noise to data with ``solver`` in {'euler', 'heun', 'midpoint'}."""

    path = "linear"
    default_steps = 12

    def __init__(self, spec: MiniGeneratorSpec, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
                 device: torch.device | str) -> None:
        super().__init__(spec, config, tensors, device)
        self.solver = str(spec.sampler_config.get("solver", "euler"))
        if self.solver not in ("euler", "heun", "midpoint"):
            raise ValueError(f"{spec.name}: sampler_config.solver is {self.solver!r}, expected euler, heun or midpoint")

    def _sample_batch(self, gens: Sequence[torch.Generator]) -> torch.Tensor:
        x = randn_per_image(gens, self.sample_shape, self.device)
        ts = time_grid(self.steps, self.time_power)
        for t, s in zip(ts[:-1], ts[1:], strict=True):
            h = float(s - t)
            v = self.velocity(x, float(t))
            if self.solver == "euler":
                x = x + h * v
            elif self.solver == "midpoint":
                x = x + h * self.velocity(x + 0.5 * h * v, float(t + 0.5 * h))
            elif s > 0:  # Heun; the last step (to t = 0) is an Euler step, as in EDM
                x_e = x + h * v
                x = x + 0.5 * h * (v + self.velocity(x_e, float(s)))
            else:
                x = x + h * v
        return self.to_pixels(x)
