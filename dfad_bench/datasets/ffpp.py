"""``ffpp:ROOT``: FaceForensics++ (Rössler et al., ICCV 2019) after frame extraction.

Assumed layout (the official download script's folders; frames as written by its
``extract_compressed_videos.py`` into ``images/``, or by DeepfakeBench's preprocessing into
``frames/``)::

    ROOT/original_sequences/youtube/<c23|c40|raw>/{images,frames}/<XXX>/<frame>.png
    ROOT/manipulated_sequences/<Method>/<c23|c40|raw>/{images,frames}/<XXX>_<YYY>/<frame>.png

``XXX_YYY`` is target video XXX with source YYY. Identity: the target's video id (``ffpp-XXX``)
for pristine and manipulated frames alike, so an identity-disjoint split keeps a target's
pristine and fake frames together; ``source_id``: the pristine frame of the same name in
``XXX`` when it was extracted. Columns ``video_id``, ``compression`` are kept.
Methods: Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter, DeepFakeDetection.
Licence: FaceForensics++ terms of use (research only, request form).
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

KNOWN = {
    "deepfakes": GeneratorDecl("vae", "fs", "Deepfakes, an autoencoder face swap"),
    "neuraltextures": GeneratorDecl("graphics", "am", "NeuralTextures, neural-rendering facial reenactment"),
    "deepfakedetection": GeneratorDecl("vae", "fs", "DeepFakeDetection (Google/Jigsaw), autoencoder face swaps"),
}
FRAME_FOLDERS = ("images", "frames")


def build(root: Path, options: Mapping[str, str], source: str) -> Manifest:
    root = require_dir(root, "FaceForensics++")
    samples: list[Sample] = []
    originals: set[str] = set()
    found: list[tuple[str, str, str, str, str]] = []  # rel, generator, video, compression, frame
    for path in iter_images(root):
        parts = path.relative_to(root).parts
        if len(parts) < 6 or parts[0] not in ("original_sequences", "manipulated_sequences") or parts[3] not in FRAME_FOLDERS:
            continue
        rel = path.relative_to(root).as_posix()
        generator = REAL if parts[0] == "original_sequences" else canonical_name(parts[1])
        video = parts[4]
        found.append((rel, generator, video, parts[2], path.name))
        if generator == REAL:
            originals.add(rel)
    for rel, generator, video, compression, frame in found:
        target = video.split("_")[0]
        pristine = None
        if generator != REAL:
            match = [o for o in (f"original_sequences/youtube/{compression}/{f}/{target}/{frame}" for f in FRAME_FOLDERS) if o in originals]
            pristine = match[0] if match else None
        samples.append(Sample(rel, generator, identity=f"ffpp-{target}", source_id=pristine,
                              extra={"video_id": f"{generator}/{video}", "compression": compression}))
    return build_adapted_manifest(samples, root, source, known=KNOWN)


ADAPTER = DatasetAdapter(name="ffpp", description="FaceForensics++ extracted frames", build=build)
