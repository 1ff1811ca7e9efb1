"""``df40:ROOT``: DF40 (Yan et al., NeurIPS 2024 datasets track), 40 forgery methods.

Assumed layout (the released per-method archives, unpacked side by side; frames of face-swap and
reenactment methods under their FF++ / Celeb-DF source domain)::

    ROOT/<method>/<ff|cdf>/frames/<video>/<frame>.png     (face swap, reenactment, editing)
    ROOT/<method>/<ff|cdf>/**/<image>.png                 (entire face synthesis)
    ROOT/real/<ff|cdf>/**                                 (pristine frames, from FF++ / Celeb-DF)

Video folders named ``XXX_YYY`` are target XXX with source YYY: identity ``<domain>-XXX``;
other images get a per-image identity. Columns ``domain`` and (for videos) ``video_id`` are kept.
Methods not in the table below (or spelt otherwise) are reported with a did-you-mean and can be
declared in ``generators.yaml``. Licence: DF40's terms (research only), and FF++ / Celeb-DF's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import (
    GeneratorDecl,
    Sample,
    build_adapted_manifest,
    canonical_name,
    iter_images,
    require_dir,
)
from dfad_bench.manifest import Manifest
from dfad_bench.taxonomy import REAL


def _d(family: str, ftype: str, names: str) -> dict[str, GeneratorDecl]:
    return {n: GeneratorDecl(family, ftype) for n in names.split()}


#: DF40's methods by forgery type (face swap, reenactment as attribute manipulation, EFS, editing).
KNOWN: dict[str, GeneratorDecl] = {
    **_d("gan", "fs", "uniface blendface inswap mobileswap facedancer fsgan simswap e4s faceswap"),
    **_d("diffusion", "fs", "diffface diffswap"),
    **_d("vae", "fs", "deepfacelab"),
    **_d("gan", "am", "fomm facevid2vid mraa one-shot-free pirender tpsm lia danet sadtalker mcnet hyperreenact wav2lip "
                      "e4e stargan stargan2 styleclip"),
    **_d("diffusion", "am", "collabdiff"),
    **_d("gan", "efs", "stylegan2 stylegan3 stylegan-xl vqgan"),
    **_d("diffusion", "efs", "ddpm rddm sd-2.1 pixart dit-xl-2 midjourney6 heygen whichisreal"),
    **_d("flow", "efs", "sit-xl-2"),
}


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "DF40")
    samples: list[Sample] = []
    for path in iter_images(root):
        parts = path.relative_to(root).parts
        if len(parts) < 3:
            continue
        method, domain = canonical_name(parts[0]), parts[1]
        generator = REAL if method == REAL else method
        extra = {"domain": domain}
        identity = None
        if "frames" in parts[2:-1]:
            video = parts[parts.index("frames", 2) + 1]
            extra["video_id"] = f"{generator}/{domain}/{video}"
            identity = f"{domain}-{video.split('_')[0]}"
        samples.append(Sample(path.relative_to(root).as_posix(), generator, identity=identity, extra=extra))
    return build_adapted_manifest(samples, root, source, known=KNOWN)


ADAPTER = DatasetAdapter(name="df40", description="DF40 (40 forgery methods; per-method folders)", build=build)
