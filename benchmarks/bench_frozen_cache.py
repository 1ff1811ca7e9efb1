"""Cached vs uncached frozen CLIP features over a data view: prints the speed-up ratio.

    python benchmarks/bench_frozen_cache.py [--n 512] [--backbone clip-mini]

Falls back to a tiny random CLIP when clip-mini weights are absent. Ratios only: the machines are
shared and noisy, so a bare time means little.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--backbone", default="clip-mini")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dfad-bench-cache-"))
    os.environ["DFAD_BENCH_CACHE"] = str(tmp / "cache")

    from dfad_bench.backbones import create_backbone
    from dfad_bench.errors import DfadError
    from dfad_bench.harness.frozen import clip_image_features
    from dfad_bench.harness.images import make_loader_factory, prescan_images
    from dfad_bench.harness.views import analysis_view
    from dfad_bench.manifest import build_manifest
    from dfad_bench.testing import tiny_clip_backbone, toy_manifest, write_toy_images

    try:
        backbone = create_backbone(args.backbone)
    except DfadError:
        backbone = create_backbone(tiny_clip_backbone(tmp / "clip", image_size=64))
    per_gen = max(1, args.n // 16)
    table = toy_manifest(n_identities=max(2, args.n // 4), images_per_identity=2, fakes_per_generator=per_gen)
    write_toy_images(table, tmp / "bench", size=64)
    manifest = build_manifest(table, tmp / "bench", "bench")
    table, _ = prescan_images(manifest)
    view = analysis_view(table, tmp / "bench", make_loader_factory("cpu", 0))

    t0 = time.perf_counter()
    first = clip_image_features(view, backbone)
    uncached = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = clip_image_features(view, backbone)
    cached = time.perf_counter() - t0
    assert (first == second).all()
    print(f"images: {len(view)}  backbone: {backbone.name}")
    print(f"cached pass is {uncached / cached:.1f}x faster than the encoding pass (decode + forward)")


if __name__ == "__main__":
    main()
