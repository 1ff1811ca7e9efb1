"""``genface:ROOT``: GenFace (Zhang et al., 2024), a fine-grained face forgery benchmark.

Assumed layout (per forgery type, then per generator, pristine faces apart)::

    ROOT/real/**
    ROOT/<entire_face_synthesis|face_swap|attribute_manipulation or efs|fs|am>/<generator>/**

The forgery type comes from the folder; a generator's family from the table below, the
catalogue or ``generators.yaml`` (an unknown one is reported with a did-you-mean).
Identities are per image. Licence: GenFace's terms (research only).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import (
    GeneratorDecl,
    GeneratorResolver,
    Sample,
    build_adapted_manifest,
    canonical_name,
    iter_images,
    require_dir,
)
from dfad_bench.manifest import Manifest
from dfad_bench.taxonomy import REAL

TYPES = {"entire-face-synthesis": "efs", "efs": "efs", "face-swap": "fs", "fs": "fs", "attribute-manipulation": "am", "am": "am"}
#: GenFace's generators not in the catalogue (family only; the folder gives the forgery type).
FAMILIES = {"dcface": "diffusion", "diffusion-autoencoder": "diffusion", "blendface": "gan", "hififace": "gan",
            "infoswap": "gan", "megafs": "gan", "styleswin": "gan", "dc-face": "diffusion"}


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "GenFace")
    resolver = GeneratorResolver(root)
    samples: list[Sample] = []
    known: dict[str, GeneratorDecl] = {}
    for path in iter_images(root):
        parts = path.relative_to(root).parts
        rel = path.relative_to(root).as_posix()
        if parts[0].lower() == REAL:
            samples.append(Sample(rel, REAL))
            continue
        ftype = TYPES.get(canonical_name(parts[0]))
        if ftype is None or len(parts) < 3:
            continue
        generator = canonical_name(parts[1])
        family = FAMILIES.get(generator) or (d.family if (d := resolver.get(generator)) else None)
        if family is not None:
            known.setdefault(generator, GeneratorDecl(family, ftype))
        samples.append(Sample(rel, generator))
    return build_adapted_manifest(samples, root, source, known=known)


ADAPTER = DatasetAdapter(name="genface", description="GenFace (per forgery type, per generator)", build=build)
