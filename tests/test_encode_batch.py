"""On a CPU the backbone forwards at most CPU_FORWARD_BATCH images at once, whatever batch_size says."""

from __future__ import annotations

import numpy as np

from dfad_bench.backbones import create_backbone
from dfad_bench.backbones.factory import CPU_FORWARD_BATCH
from dfad_bench.testing import tiny_clip_backbone


def test_cpu_forward_batches_are_capped_and_features_unchanged(tmp_path) -> None:
    backbone = create_backbone(tiny_clip_backbone(tmp_path, image_size=16), device="cpu")
    sizes: list[int] = []
    encode = backbone.model.encode_image
    backbone.model.encode_image = lambda x, **kw: sizes.append(len(x)) or encode(x, **kw)
    images = np.random.default_rng(0).integers(0, 255, size=(CPU_FORWARD_BATCH + 40, 16, 16, 3), dtype=np.uint8)
    big = backbone.encode_uint8(images, batch_size=4 * CPU_FORWARD_BATCH)
    assert sizes == [CPU_FORWARD_BATCH, 40]
    sizes.clear()
    small = backbone.encode_uint8(images, batch_size=50)
    assert sizes == [50, 50, 50, 18]
    np.testing.assert_allclose(big, small, rtol=0, atol=1e-6)
