"""Latent-space denoisers: the autoencoder side of mini-ldm, mini-ddpm, mini-fm-unet and mini-fm-dit.

A denoiser whose ``arch_config`` has an ``autoencoder`` entry works on the per-channel normalised
16x16 latents of a small convolutional autoencoder (Stable Diffusion's recipe, at toy scale)
instead of pixels. Training encodes the whole training set once (``prepare``), so steps never run
the encoder; sampling decodes once at the end (:class:`LatentCodec`).

Why latents: pixel-space denoisers of this size, trained for the minutes this project can spend,
left heavy residual noise (mini-ddpm and mini-fm-unet) or patch artefacts (the pixel DiT) in their
samples, while the latent model trained for the same time made clean, if smooth, faces. Modern
diffusion and flow generators (Stable Diffusion 1-3, FLUX) are latent models too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from dfad_mini.generators.autoencoder import AutoEncoder
from dfad_mini.generators.common import (
    IMAGE_SIZE,
    MiniGeneratorSpec,
    autocast,
    for_inference,
    images_to_tensor,
    prefixed,
    unprefixed,
)

#: Spatial down-sampling of every mini autoencoder (64x64 pixels -> 16x16 latents).
LATENT_STRIDE = 4


def build_autoencoder(arch: Mapping[str, Any]) -> AutoEncoder:
    ae = arch["autoencoder"]
    return AutoEncoder(tuple(ae["channels"]), int(ae["z_ch"]))


def is_latent(arch: Mapping[str, Any]) -> bool:
    return "autoencoder" in arch


class LatentTrainerMixin:
    """Mixed in before a :class:`~dfad_mini.generators.denoising.DenoiserTrainer`: holds the
    frozen autoencoder and the latent normalisation statistics (part of the checkpoint state) and
    exports the decoder next to the denoiser, and the encoder where ``autoencoder.encoder_in_weights``
    asks for it (mini-ddpm: SDEdit encodes the image it edits)."""

    spec: MiniGeneratorSpec
    device: torch.device
    amp: bool

    def __init__(self, spec: MiniGeneratorSpec, device: torch.device | str, amp: bool) -> None:
        super().__init__(spec, device, amp)  # type: ignore[call-arg]
        z_ch = int(spec.arch_config["autoencoder"]["z_ch"])
        self.ae = build_autoencoder(spec.arch_config).to(self.device).eval().requires_grad_(False)
        self.latent_mean = torch.zeros(z_ch, device=self.device)
        self.latent_std = torch.ones(z_ch, device=self.device)
        self.stats_ready = False

    def set_autoencoder(self, ae_state: Mapping[str, torch.Tensor]) -> None:
        self.ae.load_state_dict(ae_state)
        self.stats_ready = False

    @torch.no_grad()
    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N,H,W,3) on device -> normalised latents (N,C,16,16), float32; the statistics
        are fixed the first time (a resumed run reuses the checkpoint's)."""
        chunks = []
        for start in range(0, images.shape[0], 512):
            with autocast(self.device, self.amp):
                chunks.append(self.ae.encode(images_to_tensor(images[start:start + 512], self.device)).float())
        z = torch.cat(chunks)
        if not self.stats_ready:
            self.latent_mean = z.mean(dim=(0, 2, 3))
            self.latent_std = z.std(dim=(0, 2, 3)).clamp_min(1e-4)
            self.stats_ready = True
        return (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()  # type: ignore[misc]
        state.update(ae=self.ae.state_dict(), latent_mean=self.latent_mean, latent_std=self.latent_std,
                     stats_ready=self.stats_ready)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)  # type: ignore[misc]
        self.ae.load_state_dict(state["ae"])
        self.latent_mean = state["latent_mean"].to(self.device)
        self.latent_std = state["latent_std"].to(self.device)
        self.stats_ready = bool(state["stats_ready"])

    def export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, config = super().export()  # type: ignore[misc]
        tensors.update(prefixed(self.ae.decoder.state_dict(), "decoder"))
        if self.spec.arch_config["autoencoder"].get("encoder_in_weights", False):
            tensors.update(prefixed(self.ae.encoder.state_dict(), "encoder"))
        config.update(latent_mean=[float(v) for v in self.latent_mean], latent_std=[float(v) for v in self.latent_std])
        return tensors, config


class LatentCodec:
    """Sampling side: normalised latents <-> uint8-range pixel tensors in [-1, 1]. The encoder
    is loaded only where the weights file has one (SDEdit needs it; mini-ldm's file has none)."""

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], device: torch.device) -> None:
        ae = build_autoencoder(config["arch"])
        ae.decoder.load_state_dict(unprefixed(tensors, "decoder"))
        self.decoder = for_inference(ae.decoder, device)
        enc = unprefixed(tensors, "encoder")
        self.encoder = None
        if enc:
            ae.encoder.load_state_dict(enc)
            self.encoder = for_inference(ae.encoder, device)
        self.z_ch = int(config["arch"]["autoencoder"]["z_ch"])
        self.shape = (self.z_ch, IMAGE_SIZE // LATENT_STRIDE, IMAGE_SIZE // LATENT_STRIDE)
        self.mean = torch.tensor(config["latent_mean"], device=device)[:, None, None]
        self.std = torch.tensor(config["latent_std"], device=device)[:, None, None]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z * self.std + self.mean).clamp(-1.0, 1.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            raise ValueError("this weights file has no encoder (it cannot encode images, e.g. for SDEdit)")
        return (self.encoder(x) - self.mean) / self.std
