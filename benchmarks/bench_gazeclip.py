"""GazeCLIP throughput as RATIOS against the raw backbone image forward pass on the same batch.

    python benchmarks/bench_gazeclip.py [--backbone clip-mini] [--gaze gaze-mini] [--batch-size 256]
                                        [--threads 1] [--repeats 5] [--device cpu]

For one batch of images it times (images/s):

- raw:             the frozen CLIP image tower forward (``Backbone.encode_images``, no gradients);
- train, cached:   one GazeCLIP optimisation step (image side + LRE text side + losses + backward +
                   AdamW) reading the cached frozen inputs, i.e. what an epoch costs per image;
- train, uncached: the same step when the frozen part (ViT prefix or CLIP embedding, gaze encoder)
                   is recomputed from pixels, i.e. what an epoch would cost without the caches;
- infer, cached / uncached: the forward pass to the global forgery embedding and the class scores.

for the default configuration and for ``gie=false``. Without clip-mini / gaze-mini weights, random
weights of the same architectures are used (throughput does not depend on the weight values). Not
a test: the numbers depend on the machine; ratios travel better than bare times.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: On CPU the clock is the process's CPU time: on a shared machine wall time mostly measures the other
#: jobs, while CPU time (with one thread) is what the work costs. On CUDA it is wall time.
CLOCK: Callable[[], float] = time.process_time


def _timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return sorted(times)[len(times) // 2]


def _encoders(backbone_name: str, gaze_name: str, device: str, tmp: Path):
    import open_clip
    import torch
    from safetensors.torch import save_file

    from dfad_bench.backbones import create_backbone, register_project_configs
    from dfad_bench.errors import DfadError
    from dfad_bench.perception.gaze import create_gaze_encoder

    notes = []
    try:
        backbone = create_backbone(backbone_name, device=device)
    except DfadError as exc:
        register_project_configs()
        torch.manual_seed(0)
        path = tmp / "clip-mini-random.safetensors"
        save_file({k: v.contiguous() for k, v in open_clip.create_model("clip-mini").state_dict().items()}, str(path))
        backbone = create_backbone(f"clip-mini:{path}", device=device)
        notes.append(f"backbone {backbone_name!r} unavailable ({exc}); using random clip-mini weights")
    try:
        gaze = create_gaze_encoder(gaze_name, device=device)
    except DfadError as exc:
        from dfad_mini.gaze import (
            DEFAULT_CONFIG,
            GazeMiniEncoder,
            GazeMiniNet,
            save_gaze_mini,
        )

        torch.manual_seed(0)
        path = tmp / "gaze-mini-random.safetensors"
        save_gaze_mini(path, GazeMiniNet(**DEFAULT_CONFIG), dict(DEFAULT_CONFIG), {})
        gaze = GazeMiniEncoder(device=device, weights=path)
        notes.append(f"gaze encoder {gaze_name!r} unavailable ({exc}); using random gaze-mini weights")
    return backbone, gaze, notes


def _taxonomy():
    from dfad_bench.taxonomy import CATALOGUE, build_taxonomy

    names = ["real", "stylegan2", "progan", "simswap", "ddpm", "ldm", "diffae", "sd3", "flux1-dev"]
    return build_taxonomy([(n, CATALOGUE[n].family, CATALOGUE[n].forgery_type) for n in names])


def bench_config(overrides: dict, backbone, gaze, images, repeats: int) -> dict[str, float]:
    """images/s of the raw forward and of GazeCLIP's train/infer steps, cached and uncached."""
    import numpy as np
    import torch

    from dfad_bench.harness.torch_model import seed_everything
    from gazeclip.gaze_adapter import GazeAdapter, GazeStandardizer, build_descriptor
    from gazeclip.gie import AppearanceInputs, GazeAwareImageEncoder
    from gazeclip.model import GazeCLIP, ViewInputs
    from gazeclip.network import GazeCLIPNet
    from gazeclip.prompts import PromptBuilder

    device = backbone.device
    model = GazeCLIP(**overrides)
    c = model.config
    model.backbone_ = backbone
    model.gie_ = GazeAwareImageEncoder(backbone, c["gie_layers"]) if c["gie"] else None
    model.gaze_ = GazeAdapter(gaze) if c["gaze"] else None
    tax = _taxonomy()
    gens = tuple(g for g in tax.generators if tax[g].family != "flow")
    fams = tuple(dict.fromkeys(["real", *sorted({tax[g].family for g in gens} - {"real"})]))
    model.prompt_builder_ = PromptBuilder.fit(tax, c["prompt_levels"], gens)
    levels = tuple(c["prompt_levels"])
    targets = model._targets(fams, gens, levels, tax)
    n = len(images)
    rng = np.random.default_rng(0)
    sampled = rng.choice(gens, n)
    labels = {
        "is_fake": torch.tensor([tax[g].family != "real" for g in sampled], dtype=torch.float32, device=device),
        "family": torch.tensor([fams.index(tax[g].family) for g in sampled], device=device),
        "generator": torch.tensor([gens.index(g) for g in sampled], device=device),
    }
    from gazeclip.prompts import value_of

    for level in levels:
        key = level if level in ("family", "generator") else f"level.{level}"
        labels[f"level.{level}"] = torch.tensor([targets.classes[key].index(value_of(level, g, tax)) for g in sampled], device=device)

    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div(255.0)

    def frozen_now() -> ViewInputs:
        with torch.inference_mode():
            app = model.gie_.frozen_inputs(x) if model.gie_ is not None else backbone.encode_images(x)
        desc = None
        if model.gaze_ is not None:
            out = model.gaze_.encoder.encode(images)
            raw = build_descriptor({"pitch": out.pitch, "yaw": out.yaw, "left": out.left, "right": out.right,
                                    "vector": out.vector, "valid": out.valid, "features": out.features})
            desc = GazeStandardizer.fit(raw).apply(raw)
        return ViewInputs(AppearanceInputs("gie" if model.gie_ else "embedding", app.float().cpu().numpy()), desc)

    cached = frozen_now()
    seed_everything(0)
    net = GazeCLIPNet(c, model._dims()).to(device)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=c["lr"])
    weights = {"contrastive": c["w_contrastive"], "attribution": c["w_attribution"], "detection": c["w_detection"], "gaze": c["w_gaze"]}
    rows = np.arange(n)

    def train(inputs_fn: Callable[[], ViewInputs]) -> None:
        net.train()
        model.train_step(net, opt, inputs_fn(), rows, labels, targets, levels, weights, 0, device)

    def infer(inputs_fn: Callable[[], ViewInputs]) -> None:
        model._scores(net, model._embed_all(net, inputs_fn(), device), targets, device)

    def raw() -> None:
        with torch.inference_mode():
            backbone.encode_images(x)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def rate(fn: Callable[[], None]) -> float:
        return n / _timed(lambda: (fn(), sync()), repeats)

    return {
        "raw": rate(raw),
        "train_cached": rate(lambda: train(lambda: cached)),
        "train_uncached": rate(lambda: train(frozen_now)),
        "infer_cached": rate(lambda: infer(lambda: cached)),
        "infer_uncached": rate(lambda: infer(frozen_now)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="clip-mini")
    parser.add_argument("--gaze", default="gaze-mini")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    global CLOCK
    if args.device != "cpu":
        CLOCK = time.perf_counter
    tmp = Path(tempfile.mkdtemp(prefix="bench-gazeclip-"))
    backbone, gaze, notes = _encoders(args.backbone, args.gaze, args.device, tmp)
    for note in notes:
        print(f"note: {note}")
    size = backbone.image_size
    images = np.random.default_rng(0).integers(0, 256, (args.batch_size, size, size, 3), dtype=np.uint8)
    print(f"backbone {backbone.name}, gaze {getattr(gaze, 'name', '?')}, batch {args.batch_size} at {size}px, "
          f"device {args.device}, {args.threads} thread(s), clock {'CPU time' if CLOCK is time.process_time else 'wall'}; "
          "ratios = images/s relative to the raw backbone forward")
    for label, over in (("default (gie on, summary cache)", {}), ("gie=false", {"gie": False})):
        r = bench_config(over, backbone, gaze, images, args.repeats)
        base = r["raw"]
        print(f"\n{label}")
        print(f"  raw backbone forward          1.00  ({base:,.0f} img/s)")
        for key in ("train_cached", "train_uncached", "infer_cached", "infer_uncached"):
            print(f"  {key.replace('_', ', '):<28}  {r[key] / base:6.2f}")
        print(f"  cache speed-up: train {r['train_cached'] / r['train_uncached']:.1f}x, infer {r['infer_cached'] / r['infer_uncached']:.1f}x")


if __name__ == "__main__":
    main()
