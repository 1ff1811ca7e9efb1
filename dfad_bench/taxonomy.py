"""Generator taxonomy: generator -> family -> forgery type, with a built-in catalogue.

A manifest may name generators that are not in the catalogue; they join the taxonomy from the
manifest's own ``family`` / ``forgery_type`` columns (see :func:`build_taxonomy`), so users never
edit code to add a generator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dfad_bench.errors import DfadError

REAL = "real"

#: Known generator families. ``real`` is pristine. The list is open: a manifest may add one
#: (e.g. ``nerf``) and it is accepted with a warning-free path; this tuple only documents the
#: common ones and gives their prompt text.
FAMILIES: dict[str, str] = {
    "real": "a real camera photograph of a person",
    "gan": "a generative adversarial network (GAN)",
    "diffusion": "a denoising diffusion model",
    "flow": "a flow-matching or rectified-flow model",
    "vae": "a variational autoencoder",
    "autoregressive": "an autoregressive image-token model",
    "graphics": "a computer-graphics (3D morphable model or rendering) pipeline",
}

#: Forgery types: entire face synthesis, face swap, attribute manipulation, and pristine.
FORGERY_TYPES: dict[str, str] = {
    "real": "an unmanipulated face",
    "efs": "an entirely synthesised face",
    "fs": "a face whose identity was swapped",
    "am": "a face whose attributes (expression, eyes, hair, age) were manipulated",
}


@dataclass(frozen=True)
class GeneratorInfo:
    """One generative method and where it sits in the taxonomy."""

    name: str
    family: str
    forgery_type: str
    description: str
    reference: str = ""

    def prompt_text(self) -> str:
        """Short text usable inside a language prompt."""
        return self.description


def _g(name: str, family: str, forgery_type: str, description: str, reference: str = "") -> GeneratorInfo:
    return GeneratorInfo(name, family, forgery_type, description, reference)


#: Public generators used in the DFAD literature. Names are lower-case and hyphenated.
CATALOGUE: dict[str, GeneratorInfo] = {
    g.name: g
    for g in [
        _g("real", "real", "real", "a pristine camera photograph"),
        # --- GAN family ---
        _g("progan", "gan", "efs", "ProGAN, a progressively grown GAN", "Karras et al., ICLR 2018"),
        _g("stylegan", "gan", "efs", "StyleGAN, a style-based GAN", "Karras et al., CVPR 2019"),
        _g("stylegan2", "gan", "efs", "StyleGAN2, a style-based GAN with weight demodulation", "Karras et al., CVPR 2020"),
        _g("stylegan3", "gan", "efs", "StyleGAN3, an alias-free style-based GAN", "Karras et al., NeurIPS 2021"),
        _g("stargan", "gan", "am", "StarGAN, a multi-domain attribute-editing GAN", "Choi et al., CVPR 2018"),
        _g("stargan2", "gan", "am", "StarGAN v2, a style-transfer attribute-editing GAN", "Choi et al., CVPR 2020"),
        _g("attgan", "gan", "am", "AttGAN, an attribute-editing GAN", "He et al., TIP 2019"),
        _g("stgan", "gan", "am", "STGAN, a selective-transfer attribute-editing GAN", "Liu et al., CVPR 2019"),
        _g("faceswap", "gan", "fs", "FaceSwap-style autoencoder/GAN face swapping", "FaceForensics++"),
        _g("fsgan", "gan", "fs", "FSGAN, subject-agnostic face swapping", "Nirkin et al., ICCV 2019"),
        _g("simswap", "gan", "fs", "SimSwap, an identity-injection face-swap GAN", "Chen et al., ACM MM 2020"),
        _g("faceshifter", "gan", "fs", "FaceShifter, high-fidelity face swapping", "Li et al., 2019"),
        _g("e4s", "gan", "fs", "E4S, StyleGAN-based region-editing face swap", "Liu et al., CVPR 2023"),
        _g("biggan", "gan", "efs", "BigGAN, a large-scale class-conditional GAN", "Brock et al., ICLR 2019"),
        # --- diffusion family ---
        _g("ddpm", "diffusion", "efs", "DDPM, a denoising diffusion probabilistic model", "Ho et al., NeurIPS 2020"),
        _g("ddim", "diffusion", "efs", "DDIM, a deterministic implicit diffusion sampler", "Song et al., ICLR 2021"),
        _g("adm", "diffusion", "efs", "ADM, the ablated diffusion model with guidance", "Dhariwal & Nichol, NeurIPS 2021"),
        _g("ldm", "diffusion", "efs", "LDM, a latent diffusion model", "Rombach et al., CVPR 2022"),
        _g("sd1.5", "diffusion", "efs", "Stable Diffusion 1.5, a latent text-to-image diffusion model", "Rombach et al., 2022"),
        _g("sd2.1", "diffusion", "efs", "Stable Diffusion 2.1, a latent text-to-image diffusion model", "Stability AI, 2022"),
        _g("sdxl", "diffusion", "efs", "Stable Diffusion XL, a large latent diffusion model", "Podell et al., 2023"),
        _g("diffface", "diffusion", "fs", "DiffFace, diffusion-based face swapping", "Kim et al., 2022"),
        _g("diffswap", "diffusion", "fs", "DiffSwap, diffusion-based face swapping", "Zhao et al., CVPR 2023"),
        _g("diffae", "diffusion", "am", "DiffAE, a diffusion autoencoder for attribute editing", "Preechakul et al., CVPR 2022"),
        _g("collaborative-diffusion", "diffusion", "am", "Collaborative Diffusion, multi-modal face editing", "Huang et al., CVPR 2023"),
        _g("midjourney", "diffusion", "efs", "Midjourney, a commercial text-to-image diffusion model", "Midjourney"),
        _g("dall-e-2", "diffusion", "efs", "DALL-E 2, an unCLIP diffusion model", "Ramesh et al., 2022"),
        # --- flow-matching / rectified-flow family ---
        _g("sd3", "flow", "efs", "Stable Diffusion 3, a rectified-flow multimodal transformer", "Esser et al., ICML 2024"),
        _g("sd3.5", "flow", "efs", "Stable Diffusion 3.5, a rectified-flow multimodal transformer", "Stability AI, 2024"),
        _g("flux1-dev", "flow", "efs", "FLUX.1 [dev], a guidance-distilled rectified-flow transformer", "Black Forest Labs, 2024"),
        _g("flux1-schnell", "flow", "efs", "FLUX.1 [schnell], a timestep-distilled rectified-flow transformer", "Black Forest Labs, 2024"),
        _g("sit", "flow", "efs", "SiT, a scalable interpolant (flow-matching) transformer", "Ma et al., ECCV 2024"),
        _g("instaflow", "flow", "efs", "InstaFlow, a one-step rectified-flow model", "Liu et al., ICLR 2024"),
        _g("lumina-next", "flow", "efs", "Lumina-Next, a flow-based diffusion transformer", "Zhuo et al., 2024"),
        _g("auraflow", "flow", "efs", "AuraFlow, an open rectified-flow transformer", "fal.ai, 2024"),
        # --- other families ---
        _g("vq-vae-2", "vae", "efs", "VQ-VAE-2, a hierarchical vector-quantised autoencoder", "Razavi et al., NeurIPS 2019"),
        _g("var", "autoregressive", "efs", "VAR, visual autoregressive next-scale prediction", "Tian et al., NeurIPS 2024"),
        _g("dalle-mini", "autoregressive", "efs", "DALL-E mini, an autoregressive token model", "Dayma et al., 2021"),
        _g("face2face", "graphics", "am", "Face2Face, model-based facial reenactment", "Thies et al., CVPR 2016"),
    ]
}


@dataclass(frozen=True)
class Taxonomy:
    """The generators of one benchmark: catalogue entries plus manifest-declared ones."""

    generators: Mapping[str, GeneratorInfo] = field(default_factory=dict)

    def family_of(self, generator: str) -> str:
        return self[generator].family

    def __getitem__(self, name: str) -> GeneratorInfo:
        try:
            return self.generators[name]
        except KeyError:
            raise DfadError(f"unknown generator {name!r}; known: {', '.join(sorted(self.generators))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.generators

    def families(self) -> list[str]:
        return sorted({g.family for g in self.generators.values()})

    def generators_of_family(self, family: str) -> list[str]:
        return sorted(n for n, g in self.generators.items() if g.family == family)


def family_description(family: str) -> str:
    return FAMILIES.get(family, f"a {family} model")


def validate_family(family: str, where: str) -> None:
    if not isinstance(family, str) or not family or family != family.strip().lower() or " " in family:
        raise DfadError(f"{where}: family must be a lower-case token like 'gan', got {family!r}")


def validate_forgery_type(forgery_type: str, where: str) -> None:
    if forgery_type not in FORGERY_TYPES:
        raise DfadError(f"{where}: forgery_type must be one of {sorted(FORGERY_TYPES)}, got {forgery_type!r}")


def build_taxonomy(
    rows: Iterable[tuple[str, str, str]], descriptions: Mapping[str, str] | None = None, where: str = "manifest"
) -> Taxonomy:
    """Taxonomy from (generator, family, forgery_type) rows of a manifest.

    A catalogue generator keeps its catalogue description but must agree on family; a new
    generator gets a description from the manifest (``descriptions``) or a generic one.
    """
    descriptions = descriptions or {}
    out: dict[str, GeneratorInfo] = {}
    for name, family, forgery_type in rows:
        validate_family(family, f"{where}: generator {name!r}")
        validate_forgery_type(forgery_type, f"{where}: generator {name!r}")
        if name in out:
            known = out[name]
            if (known.family, known.forgery_type) != (family, forgery_type):
                raise DfadError(
                    f"{where}: generator {name!r} appears with two taxonomies: "
                    f"{known.family}/{known.forgery_type} and {family}/{forgery_type}"
                )
            continue
        if (family == REAL) != (forgery_type == REAL):
            raise DfadError(
                f"{where}: generator {name!r}: family 'real' goes with forgery_type 'real' only, got {family}/{forgery_type}"
            )
        cat = CATALOGUE.get(name)
        if cat is not None and cat.family != family:
            raise DfadError(f"{where}: generator {name!r}: catalogue says family {cat.family!r}, manifest says {family!r}")
        desc = descriptions.get(name) or (cat.description if cat else f"{name}, {family_description(family)}")
        out[name] = GeneratorInfo(name, family, forgery_type, desc, cat.reference if cat else "")
    return Taxonomy(out)
