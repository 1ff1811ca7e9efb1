"""The DFAD-Mini generator zoo: real small generative models (GAN, diffusion, flow matching)
trained by :mod:`dfad_mini.train` on procedurally rendered faces.

``MINI_GENERATORS`` is the one place that holds the mini taxonomy (name -> family, forgery type,
architecture, training recipe, weights file), manipulations included; ``load_mini_generator``
turns a committed weights file into a sampler::

    g = load_mini_generator("mini-ddpm")
    images = g.sample(500, seed=0)                     # uint8 (500, 64, 64, 3)
    edited = g.sdedit(images, strength=0.5, seed=1)    # mini-ddpm only
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfad_bench.errors import DfadError
from dfad_bench.registry import did_you_mean
from dfad_mini.generators.common import MiniGenerator, MiniGeneratorSpec, TrainConfig

__all__ = [
    "MINI_GENERATORS", "MiniGenerator", "MiniGeneratorSpec", "TrainConfig", "default_weights_dir",
    "get_mini_spec", "load_mini_generator", "weights_path", "trainable_generators",
]

_UNET_PIXEL: dict[str, Any] = {
    "net": "unet", "in_ch": 3, "unshuffle": 4, "channels": [64, 96, 128], "blocks": 1,
    "attn": [False, False, False], "heads": 4, "mid_blocks": 1, "sigma_data": 0.5,
}
_UNET_LATENT: dict[str, Any] = {
    "net": "unet", "in_ch": 4, "unshuffle": 1, "channels": [48, 96, 128], "blocks": 1,
    "attn": [False, False, False], "heads": 4, "mid_blocks": 1,
    "autoencoder": {"channels": [24, 48, 64], "z_ch": 4}, "sigma_data": 1.0,
}
# mini-ddpm and the two flow models are latent models since mini-v2 (their pixel-space versions left
# heavy noise / patch artefacts after the training this project can afford; see docs/MINI_GENERATORS.md).
# Each family has its own autoencoder, as real model families have their own VAEs: a decoder's
# fingerprint must not tie a held-out family to a training one. The flow pair shares one.
_AE_DDPM: dict[str, Any] = {"channels": [32, 48, 64], "z_ch": 4, "encoder_in_weights": True}  # SDEdit encodes
_AE_FLOW: dict[str, Any] = {"channels": [32, 64, 64], "z_ch": 4}
_UNET_LATENT_DDPM: dict[str, Any] = {**_UNET_LATENT, "channels": [64, 96, 128], "autoencoder": _AE_DDPM}
_UNET_LATENT_FLOW: dict[str, Any] = {**_UNET_LATENT, "channels": [64, 96, 128], "autoencoder": _AE_FLOW}
_DIT: dict[str, Any] = {"net": "dit", "in_ch": 4, "img_size": 16, "patch": 2, "dim": 128, "depth": 6, "heads": 4, "mlp_ratio": 4.0,
                       "sigma_data": 1.0, "autoencoder": _AE_FLOW}
_AE_TRAIN = {"ae_share": 0.3, "ae_steps_ratio": 0.5, "ae_lr": 1e-3, "ae_crop": 32}

_DENOISER_TRAIN = {"lr": 1e-3, "betas": (0.9, 0.99), "warmup_steps": 200, "ema_decay": 0.999, "grad_clip": 1.0,
                   "batch_size_cuda": 512, "batch_size_cpu": 32, "steps_cuda": 20000, "steps_cpu": 2000}
# batch 512 on a GPU: at batch 256 the H200 ran these ~1.5M-parameter nets at ~35 steps/s whatever the
# model (apparently launch-bound), so a larger batch should buy more samples per second.


# time_share (slice of a total time budget) follows the first H200 run: mini-dcgan made faces in 26 s,
# mini-resgan needed ~2 minutes, the (v1, pixel-space) denoisers were the furthest from converged.


def _spec(**kw: Any) -> MiniGeneratorSpec:
    return MiniGeneratorSpec(**kw)


MINI_GENERATORS: dict[str, MiniGeneratorSpec] = {
    s.name: s
    for s in [
        _spec(
            name="mini-dcgan", family="gan", forgery_type="efs", kind="dcgan",
            description="a small DCGAN with transposed convolutions, trained with a non-saturating loss",
            architecture="dfad_mini.generators.gan_nets:DCGANGenerator",
            arch_config={"z_dim": 100, "ngf": 32, "ndf": 32},
            train_config=TrainConfig(lr=2e-4, betas=(0.5, 0.999), batch_size_cuda=128, batch_size_cpu=64,
                                     steps_cuda=40000, steps_cpu=3000, time_share=0.5),
            weights_file="mini-dcgan.safetensors", reference="Radford et al., ICLR 2016",
        ),
        _spec(
            name="mini-resgan", family="gan", forgery_type="efs", kind="resgan",
            description="a small residual GAN with upsampling convolutions, hinge loss and a spectrally normalised discriminator",
            architecture="dfad_mini.generators.gan_nets:ResGANGenerator",
            arch_config={"z_dim": 128, "g_channels": [192, 128, 96, 64, 32], "d_channels": [32, 64, 128, 256]},
            train_config=TrainConfig(lr=2e-4, betas=(0.0, 0.9), ema_decay=0.999, batch_size_cuda=128,
                                     batch_size_cpu=32, steps_cuda=40000, steps_cpu=3000, time_share=1.2,
                                     extra={"d_lr": 2e-4}),
            weights_file="mini-resgan.safetensors", reference="Miyato et al., ICLR 2018 (SNGAN)",
        ),
        _spec(
            name="mini-ddpm", family="diffusion", forgery_type="efs", kind="ddpm",
            description="a small latent denoising diffusion model (its own autoencoder) with ancestral sampling",
            architecture="dfad_mini.generators.unet:UNet",
            arch_config=_UNET_LATENT_DDPM, sampler_config={"steps": 12, "time_power": 2.0},
            train_config=TrainConfig(**_DENOISER_TRAIN, time_share=1.3, extra=_AE_TRAIN),
            weights_file="mini-ddpm.safetensors", reference="Ho et al., NeurIPS 2020; v-prediction: Salimans & Ho, ICLR 2022",
        ),
        _spec(
            name="mini-ldm", family="diffusion", forgery_type="efs", kind="ldm",
            description="a small latent diffusion model: a convolutional autoencoder and a diffusion UNet in its latent space, DDIM sampling",
            architecture="dfad_mini.generators.unet:UNet",
            arch_config=_UNET_LATENT, sampler_config={"steps": 8, "time_power": 2.0},
            train_config=TrainConfig(**_DENOISER_TRAIN, time_share=0.9,
                                     extra={"ae_share": 0.3, "ae_steps_ratio": 0.5, "ae_lr": 1e-3}),
            weights_file="mini-ldm.safetensors", reference="Rombach et al., CVPR 2022",
        ),
        _spec(
            name="mini-fm-unet", family="flow", forgery_type="efs", kind="fm-unet",
            description="a small latent rectified-flow (flow matching) model with a UNet velocity network and an Euler solver",
            architecture="dfad_mini.generators.unet:UNet",
            arch_config=_UNET_LATENT_FLOW, sampler_config={"steps": 8, "solver": "euler", "time_power": 2.0},
            train_config=TrainConfig(**_DENOISER_TRAIN, time_share=1.2, extra=_AE_TRAIN),
            weights_file="mini-fm-unet.safetensors", reference="Liu et al., ICLR 2023; Lipman et al., ICLR 2023",
        ),
        _spec(
            name="mini-fm-dit", family="flow", forgery_type="efs", kind="fm-dit",
            description="a small latent flow-matching diffusion transformer (DiT) with adaLN time conditioning and a Heun solver",
            architecture="dfad_mini.generators.dit:DiT",
            arch_config=_DIT, sampler_config={"steps": 6, "solver": "heun", "time_power": 2.0},
            train_config=TrainConfig(**{**_DENOISER_TRAIN, "lr": 5e-4}, time_share=1.3,
                                     extra={"autoencoder_from": "mini-fm-unet"}),
            weights_file="mini-fm-dit.safetensors", reference="Peebles & Xie, ICCV 2023; Esser et al., ICML 2024",
        ),
        _spec(
            name="mini-swap", family="gan", forgery_type="fs", kind="manipulation",
            description="a face swap pasting the inner face of a mini-resgan face onto a real face, colour-matched and blended",
            architecture="", manipulation=True, base_generator="mini-resgan",
        ),
        _spec(
            name="mini-eyeedit", family="diffusion", forgery_type="am", kind="manipulation",
            description="an eye-region edit regenerated by mini-ddpm with SDEdit and blended back into a real face",
            architecture="", manipulation=True, base_generator="mini-ddpm",
        ),
    ]
}


def trainable_generators() -> list[str]:
    """The generators with weights of their own, in training order."""
    return [n for n, s in MINI_GENERATORS.items() if not s.manipulation]


def get_mini_spec(name: str) -> MiniGeneratorSpec:
    try:
        return MINI_GENERATORS[name]
    except KeyError:
        hint = did_you_mean(name, MINI_GENERATORS)
        raise DfadError(f"unknown mini generator {name!r}{hint}; known: {', '.join(MINI_GENERATORS)}") from None


def default_weights_dir() -> Path:
    """``dfad_mini/weights`` (``DFAD_BENCH_MINI_WEIGHTS`` overrides it): :func:`dfad_mini.plugin.weights_dir`."""
    from dfad_mini.plugin import weights_dir

    return weights_dir()


def weights_path(name: str, weights_dir: str | os.PathLike[str] | None = None) -> Path:
    spec = get_mini_spec(name)
    if spec.weights_file is None:
        raise DfadError(f"{name} is a manipulation built from {spec.base_generator}; it has no weights file of its own")
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return folder / spec.weights_file


def load_mini_generator(name: str, device: str = "cpu", weights_dir: str | os.PathLike[str] | None = None) -> MiniGenerator:
    """Load ``name``'s fp16 safetensors (upcast to fp32) into a sampler on ``device``."""
    from dfad_mini.generators.weightfile import load_weights

    spec = get_mini_spec(name)
    path = weights_path(name, weights_dir)
    if not path.is_file():
        raise DfadError(
            f"weights of {name} not found at {path}; train them with "
            f"`python -m dfad_mini.train --only {name} --weights-dir {path.parent}` "
            f"(a GPU makes it minutes: add --device cuda)"
        )
    tensors, config = load_weights(path, device)
    if config.get("kind") != spec.kind:
        raise DfadError(f"{path}: config kind is {config.get('kind')!r}, expected {spec.kind!r} for {name}")
    gen = _sampler_class(spec.kind)(spec, config, tensors, device)
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        import json

        gen.metadata = json.loads(sidecar.read_text())
    return gen


def _sampler_class(kind: str) -> Any:
    from dfad_mini.generators.diffusion import DDPMSampler, LDMSampler
    from dfad_mini.generators.flow import FlowSampler
    from dfad_mini.generators.gan import GanSampler

    table: Mapping[str, Any] = {
        "dcgan": GanSampler, "resgan": GanSampler, "ddpm": DDPMSampler, "ldm": LDMSampler,
        "fm-unet": FlowSampler, "fm-dit": FlowSampler,
    }
    return table[kind]
