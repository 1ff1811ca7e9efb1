"""``diff:ROOT``: DiFF, the Diffusion Facial Forgery dataset (Cheng et al., ACM MM 2024).

Assumed layout (the released archive: four forgery categories, one folder per method, the
pristine images apart; an optional official split folder on top)::

    ROOT/[train|val|test/]<T2I|I2I|FS|FE>/<method>/**/<image>.png
    ROOT/[train|val|test/]real/**

Categories map to forgery types: T2I and I2I (text- and image-to-image synthesis) -> ``efs``,
FS (face swapping) -> ``fs``, FE (face editing) -> ``am``; every method is a diffusion model.
A method folder unknown to the category (a new method) still joins under its category's type,
so no ``generators.yaml`` entry is needed (one there overrides). Identities are per image.
Licence: DiFF's terms (research only); the pristine images keep their sources' licences.
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
from dfad_bench.manifest import SPLIT_HINTS, Manifest
from dfad_bench.taxonomy import REAL

CATEGORIES = {"t2i": "efs", "i2i": "efs", "fs": "fs", "fe": "am"}


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "DiFF")
    samples: list[Sample] = []
    known: dict[str, GeneratorDecl] = {}
    for path in iter_images(root):
        parts = list(path.relative_to(root).parts)
        split = parts.pop(0) if parts[0] in SPLIT_HINTS else None
        rel = path.relative_to(root).as_posix()
        if parts[0].lower() == REAL:
            samples.append(Sample(rel, REAL, split_hint=split))
            continue
        category = parts[0].lower()
        if category not in CATEGORIES or len(parts) < 3:
            continue
        generator = canonical_name(parts[1])
        known.setdefault(generator, GeneratorDecl("diffusion", CATEGORIES[category], f"{parts[1]}, a diffusion {category.upper()} method (DiFF)"))
        samples.append(Sample(rel, generator, split_hint=split, extra={"category": category.upper()}))
    return build_adapted_manifest(samples, root, source, known=known)


ADAPTER = DatasetAdapter(name="diff", description="DiFF (diffusion facial forgery: T2I, I2I, FS, FE)", build=build)
