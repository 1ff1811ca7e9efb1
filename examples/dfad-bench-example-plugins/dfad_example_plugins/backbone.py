"""Backbone ``example-clip``: a tiny open_clip architecture (``example-clip.json``, shipped) with
weights its own "pretraining" writes into the dfad-bench cache::

    python -m dfad_example_plugins.backbone      # then: --set backbone=example-clip
"""

from __future__ import annotations

import sys
from pathlib import Path

from dfad_bench.backbones import ProjectBackbone
from dfad_bench.paths import cache_dir

ARCH = "example-clip"
CONFIG = Path(__file__).with_name(f"{ARCH}.json")


def weights_path() -> Path:
    return cache_dir("example-plugins") / f"{ARCH}.safetensors"


BACKBONE = ProjectBackbone(
    arch=ARCH,
    config=CONFIG,
    weights=weights_path(),
    pretrain_command="python -m dfad_example_plugins.backbone",
)


def pretrain(out: Path | None = None, seed: int = 0) -> Path:
    """Stand-in for real pretraining: seeded random weights for the architecture."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from dfad_bench.atomic import write_with_atomic

    open_clip.add_model_config(CONFIG)
    torch.manual_seed(seed)
    model = open_clip.create_model(ARCH)
    out = out or weights_path()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    write_with_atomic(out, lambda p: save_file(state, str(p)))
    return out


if __name__ == "__main__":
    print(pretrain(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
