"""Small synthetic manifests for tests and examples (no images needed unless asked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOY_GENERATORS: dict[str, tuple[str, str]] = {
    "real": ("real", "real"),
    "toy-gan-a": ("gan", "efs"),
    "toy-gan-b": ("gan", "efs"),
    "toy-diff-a": ("diffusion", "efs"),
    "toy-diff-b": ("diffusion", "efs"),
    "toy-flow-a": ("flow", "efs"),
    "toy-flow-b": ("flow", "efs"),
    "toy-swap": ("gan", "fs"),
    "toy-edit": ("diffusion", "am"),
}


def toy_manifest(n_identities: int = 60, images_per_identity: int = 2, fakes_per_generator: int = 40, seed: int = 0) -> pd.DataFrame:
    """A manifest table with every family, forgery type and source links, paths under images/."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for i in range(n_identities):
        for j in range(images_per_identity):
            sid = f"real-{i:04d}-{j}"
            pitch, yaw = rng.uniform(-0.4, 0.4, size=2)
            rows.append(dict(sample_id=sid, path=f"images/{sid}.png", generator="real", family="real", forgery_type="real",
                             identity=f"id-{i:04d}", source_id=None, gaze_pitch=pitch, gaze_yaw=yaw))
    real_ids = [r["sample_id"] for r in rows]
    for gen, (family, ftype) in TOY_GENERATORS.items():
        if gen == "real":
            continue
        for k in range(fakes_per_generator):
            sid = f"{gen}-{k:04d}"
            if ftype == "efs":
                identity, source = f"efs:{gen}:{k:04d}", None
            else:
                source = real_ids[int(rng.integers(len(real_ids)))]
                identity = next(r["identity"] for r in rows if r["sample_id"] == source)
            rows.append(dict(sample_id=sid, path=f"images/{sid}.png", generator=gen, family=family, forgery_type=ftype,
                             identity=identity, source_id=source, gaze_pitch=np.nan, gaze_yaw=np.nan))
    return pd.DataFrame(rows)


def write_toy_images(table: pd.DataFrame, root: Path, size: int = 32, seed: int = 0) -> None:
    """Write one small PNG per row; fakes get a slightly different texture statistic so that a
    trivial model has something learnable (used by harness tests only)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for _sid, rel, fam in table[["sample_id", "path", "family"]].itertuples(index=False):
        base = rng.integers(60, 200, size=3)
        img = np.clip(base + rng.normal(0, 12 if fam == "real" else 30, size=(size, size, 3)), 0, 255).astype(np.uint8)
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(p, format="PNG")


def tiny_clip_backbone(
    folder: Path, name: str = "dfad-tiny-clip", image_size: int = 32, seed: int = 0, config: dict | None = None
) -> str:
    """Register a tiny random open_clip config and save its weights; return a backbone name
    (``ARCH:/path.safetensors``) usable as ``--set backbone=...`` in tests and benchmarks.
    ``config`` replaces the default open_clip config (then ``image_size`` is ignored)."""
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = config or {
        "embed_dim": 32,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder / f"{name}.json")
    torch.manual_seed(seed)
    model = open_clip.create_model(name)
    weights = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return f"{name}:{weights}"


class ColourStatsGaze:
    """A deterministic stand-in gaze encoder for tests (the real ones need fetched weights):
    'gaze' and 6 features from each image's colour means and spreads. Register it under a name
    with :func:`register_colour_stats_gaze`."""

    name = "colour-stats-gaze"
    fingerprint = "colour-stats-gaze:v1"
    feature_dim = 6

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def encode(self, images):  # noqa: ANN001, ANN201 - uint8 (N, H, W, 3) -> GazeOutput
        import numpy as np

        from dfad_bench.perception.gaze import GazeOutput

        x = images.astype(np.float32) / 255.0
        m, s = x.mean(axis=(1, 2)), x.std(axis=(1, 2))
        left = np.column_stack([m[:, 0] - 0.5, m[:, 1] - 0.5])
        n = len(x)
        return GazeOutput.build(left, left + 0.5 * s[:, :2], np.column_stack([m, s]), np.ones(n, bool), ["ok"] * n)


def register_colour_stats_gaze(name: str = ColourStatsGaze.name) -> str:
    """Register :class:`ColourStatsGaze` as gaze encoder ``name`` (once per process); returns it."""
    from dfad_bench.perception.gaze import available_gaze_encoders, register_gaze_encoder

    if name not in available_gaze_encoders():
        register_gaze_encoder(name, "dfad_bench.testing:ColourStatsGaze")
    return name
