"""``folder:ROOT``: a folder tree ``ROOT/<family>/<generator>/**`` plus ``ROOT/real/**``.

Every image under ``ROOT/real/`` is pristine (generator ``real``; a sub-folder is kept as the
``source`` column). Every image under ``ROOT/<family>/<generator>/`` (any depth below) is a fake
of that generator; the family folder must agree with the catalogue or ``generators.yaml``.
Identities are per image (synthesised faces and unlabelled photos); a tree with persons must
use a manifest (``table:``) to carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import (
    Sample,
    build_adapted_manifest,
    canonical_name,
    iter_images,
    require_dir,
)
from dfad_bench.manifest import Manifest
from dfad_bench.taxonomy import REAL


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "folder-tree dataset")
    samples: list[Sample] = []
    hints: dict[str, str] = {}
    for path in iter_images(root):
        parts = path.relative_to(root).parts
        rel = path.relative_to(root).as_posix()
        if parts[0] == REAL:
            samples.append(Sample(rel, REAL, extra={"source": parts[1]} if len(parts) > 2 else {}))
        elif len(parts) >= 3:
            samples.append(Sample(rel, canonical_name(parts[1])))
            hints[rel] = canonical_name(parts[0])
        # an image directly under ROOT/<family>/ has no generator: not part of the layout
    return build_adapted_manifest(samples, root, source, family_hints=hints)


ADAPTER = DatasetAdapter(name="folder", description="ROOT/<family>/<generator>/** plus ROOT/real/**", build=build)
