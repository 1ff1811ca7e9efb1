"""``cnndetection:ROOT``: the CNNDetection tree (Wang et al., CVPR 2020), detection only.

Assumed layout (the released ``progan_train``/``progan_val``/``CNN_synth_testset`` folders):
any path whose folders contain ``0_real`` or ``1_fake``, e.g. ``ROOT/<set>/<category>/0_real/x.png``
or ``ROOT/<set>/0_real/x.png``. A top folder named ``train``/``val``/``test`` becomes the
``split_hint``. Fakes get the generator ``cnndetection-fake`` (family ``unknown``): the tree
says real or fake, not which method, so only detection metrics mean anything. The folder of the
set (the first folder below ROOT or below the split folder) is kept as the ``subset`` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import GeneratorDecl, Sample, build_adapted_manifest, iter_images, require_dir
from dfad_bench.manifest import SPLIT_HINTS, Manifest
from dfad_bench.taxonomy import REAL

FAKE = "cnndetection-fake"
KNOWN = {FAKE: GeneratorDecl("unknown", "efs", "an image generator of the CNNDetection set (not named by the layout)")}


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "CNNDetection")
    samples: list[Sample] = []
    for path in iter_images(root):
        parts = path.relative_to(root).parts[:-1]
        if "0_real" in parts:
            generator = REAL
        elif "1_fake" in parts:
            generator = FAKE
        else:
            continue  # outside the 0_real/1_fake layout
        split = parts[0] if parts and parts[0] in SPLIT_HINTS else None
        rest = parts[1:] if split else parts
        subset = rest[0] if rest and rest[0] not in ("0_real", "1_fake") else ""
        samples.append(Sample(path.relative_to(root).as_posix(), generator, split_hint=split, extra={"subset": subset}))
    return build_adapted_manifest(samples, root, source, known=KNOWN)


ADAPTER = DatasetAdapter(name="cnndetection", description="CNNDetection 0_real/1_fake tree (detection only)", build=build)
