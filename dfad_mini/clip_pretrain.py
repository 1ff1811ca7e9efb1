"""Pretrain ``clip-mini`` contrastively (InfoNCE, learnable temperature) on pristine DFAD-Mini renders.

Data: renders of the TRAINING identity pool (``dfad_mini.renderer.render_training_set``) and
their ground-truth captions; never fakes, never the benchmark's own identities. Renders are made
once (in parallel worker processes) and kept on the training device as uint8; augmentation is a
batched random resized crop + brightness/contrast/saturation jitter. No horizontal flip: captions
say "looking to the left", a flip would make them wrong.

Loss: symmetric InfoNCE where every pair with the identical caption counts as a positive (coarse
captions repeat inside a batch; treating them as negatives would teach noise). With hard negatives
(default), each image also sees its own caption with one attribute swapped (gaze left<->right or
up<->down, glasses on/off, woman<->man) as an extra negative text, as NegCLIP does: global
captions alone let a small model match on skin and hair and ignore where the eyes look.

Runs on CPU (slowly) and CUDA (bf16 autocast there only); checkpoints every N steps into a work
folder and resumes from it; the time budget counts training time across resumes.

    python -m dfad_mini.clip_pretrain --device cuda --time-budget-s 120 --out DIR

writes ``DIR/clip-mini.safetensors`` (fp16) and ``DIR/clip-mini.json`` (config, seed, steps,
device, command, loss curve, zero-shot retrieval numbers on held-out renders).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.backbones.spec import PROJECT_BACKBONES, register_project_configs
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256

ARCH = "clip-mini"
# Render seeds: training chunks use TRAIN_SEED_BASE + 1000 * seed + chunk; evaluation uses its
# own seed far away, so held-out renders share no RNG stream (hence no identity) with training.
TRAIN_SEED_BASE = 10_000
EVAL_SEED = 987_654
CHUNK = 500
GAZE_THRESHOLD = 0.15  # radians; the renderer's captions use the same threshold for "looking ..."


@dataclass(frozen=True)
class PretrainConfig:
    device: str = "cpu"
    steps: int | None = None
    time_budget_s: float | None = None
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_frac: float = 0.05
    n_train: int = 24_000
    eval_n: int = 1024
    eval_candidates: int = 256
    seed: int = 0
    checkpoint_every: int = 250
    data: str = "render"  # 'render' (DFAD-Mini renders) or 'random' (smoke tests only)
    workers: int = 0  # render processes; 0 = min(16, cpu count)
    hard_negatives: bool = True  # each image also sees its caption with one attribute swapped


@dataclass(frozen=True)
class PretrainData:
    images: np.ndarray  # uint8 (N, 64, 64, 3)
    captions: list[str]
    attributes: dict[str, np.ndarray]  # gaze_pitch, gaze_yaw, glasses, sex (for zero-shot checks)


# ----------------------------------------------------------------------------- data
def _render_chunk(n: int, seed: int) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    from dfad_mini.renderer import render_training_set

    batch = render_training_set(n, seed=seed)
    p = batch.params
    attrs = {
        "gaze_pitch": p["gaze_pitch"].to_numpy(np.float32),
        "gaze_yaw": p["gaze_yaw"].to_numpy(np.float32),
        "glasses": (p["glasses"].astype(str) != "none").to_numpy(),
        "sex": p["sex"].to_numpy(dtype=str),
    }
    return batch.images, [str(c) for c in p["caption"]], attrs


def _random_chunk(n: int, seed: int) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """Stand-in data with the renderer's shapes: noise images whose mean colour matches a word."""
    rng = np.random.default_rng(seed)
    colours = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200), "grey": (128, 128, 128)}
    names = list(colours)
    pick = rng.integers(0, len(names), n)
    base = np.array([colours[names[i]] for i in pick], np.float32)[:, None, None, :]
    images = np.clip(base + rng.normal(0, 40, (n, 64, 64, 3)), 0, 255).astype(np.uint8)
    pitch = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    yaw = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    attrs = {"gaze_pitch": pitch, "gaze_yaw": yaw, "glasses": rng.random(n) < 0.3, "sex": rng.choice(["woman", "man"], n)}
    return images, [f"a photo of a {names[i]} square" for i in pick], attrs


def make_data(n: int, first_seed: int, kind: str = "render", workers: int = 0) -> PretrainData:
    """``n`` renders in chunks of CHUNK (chunk i uses render seed ``first_seed + i``), in parallel."""
    if kind not in ("render", "random"):
        raise DfadError(f"clip-mini pretraining: data must be 'render' or 'random', got {kind!r}")
    sizes = [min(CHUNK, n - s) for s in range(0, n, CHUNK)]
    seeds = [first_seed + i for i in range(len(sizes))]
    fn = _render_chunk if kind == "render" else _random_chunk
    workers = workers or min(16, os.cpu_count() or 1)
    if workers > 1 and len(sizes) > 1 and kind == "render":
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(workers, len(sizes)), mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(fn, sizes, seeds))
    else:
        parts = [fn(s, seed) for s, seed in zip(sizes, seeds, strict=True)]
    images = np.concatenate([p[0] for p in parts])
    captions = [c for p in parts for c in p[1]]
    attrs = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
    return PretrainData(images=images, captions=captions, attributes=attrs)


def _cached_data(work_dir: Path, n: int, first_seed: int, kind: str, workers: int) -> PretrainData:
    """Renders are deterministic: keep them in the work folder so a resumed run skips rendering."""
    path = work_dir / f"data-{kind}-{n}-{first_seed}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            attrs = {k[5:]: z[k] for k in z.files if k.startswith("attr_")}
            return PretrainData(images=z["images"], captions=[str(c) for c in z["captions"]], attributes=attrs)
    data = make_data(n, first_seed, kind, workers)
    arrays = {"images": data.images, "captions": np.array(data.captions)}
    # object arrays would need pickle to load: store text as fixed-width unicode
    arrays.update({f"attr_{k}": v.astype(str) if v.dtype == object else v for k, v in data.attributes.items()})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
            np.savez(fh, **arrays)

    write_with_atomic(path, write)
    return data


# ----------------------------------------------------------------------------- model pieces
def create_clip_mini_model() -> torch.nn.Module:
    import logging

    import open_clip

    register_project_configs()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # open_clip logs "initialized randomly": that is the point here
    try:
        return open_clip.create_model(ARCH, pretrained=None)
    finally:
        logging.disable(previous)


def _preprocess_cfg(model: torch.nn.Module) -> dict[str, Any]:
    cfg = dict(model.visual.preprocess_cfg)
    return {"mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": cfg["interpolation"], "resize_mode": cfg["resize_mode"]}


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batched random resized crop (scale 0.75-1, aspect 0.9-1.1) + colour jitter; x float [0,1] NCHW."""
    n = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return torch.rand(*(shape or (n,)), generator=gen, device=dev) * (hi - lo) + lo

    scale = u(0.75, 1.0).sqrt()
    aspect = u(0.9, 1.1).sqrt()
    sx, sy = scale * aspect, scale / aspect
    tx, ty = (1 - sx) * u(-1, 1), (1 - sy) * u(-1, 1)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    bright = u(0.85, 1.15).view(n, 1, 1, 1)
    contrast = u(0.85, 1.15).view(n, 1, 1, 1)
    sat = u(0.85, 1.15).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * sat + grey
    return (x * bright).clamp(0, 1)


def contrastive_loss(
    img: torch.Tensor,
    txt: torch.Tensor,
    text_ids: torch.Tensor,
    logit_scale: torch.Tensor,
    txt_neg: torch.Tensor | None = None,
    neg_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE. Texts are identified by ids: every column whose text equals the row's
    own caption is a positive (uniform target), so repeated coarse captions are not negatives.
    ``txt_neg`` (one extra text per image, e.g. its caption with the gaze flipped) joins the
    image->text side as additional columns (hard negatives, as in NegCLIP)."""
    cols, col_ids = txt, text_ids
    if txt_neg is not None and neg_ids is not None:
        cols, col_ids = torch.cat([txt, txt_neg]), torch.cat([text_ids, neg_ids])
    target_i2t = (text_ids[:, None] == col_ids[None, :]).float()
    target_i2t = target_i2t / target_i2t.sum(dim=1, keepdim=True)
    target_t2i = (text_ids[:, None] == text_ids[None, :]).float()
    target_t2i = target_t2i / target_t2i.sum(dim=1, keepdim=True)
    loss_i2t = F.cross_entropy(logit_scale * img @ cols.t(), target_i2t)
    loss_t2i = F.cross_entropy(logit_scale * txt @ img.t(), target_t2i)
    return 0.5 * (loss_i2t + loss_t2i)


def build_text_table(captions: Sequence[str], hard_negatives: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """All distinct texts (captions and their attribute swaps), each caption's text id, and per text
    id the ids of its swapped variants (-1 where a swap does not apply)."""
    ids: dict[str, int] = {}
    cap_ids = np.array([ids.setdefault(c, len(ids)) for c in captions], dtype=np.int64)
    swaps: dict[int, list[int]] = {}
    if hard_negatives:
        for caption, tid in list(ids.items()):
            variants = [swap(caption) for swap in _SWAPS.values()]
            swaps[tid] = [ids.setdefault(v, len(ids)) if v and v != caption else -1 for v in variants]
    table = np.full((len(ids), len(_SWAPS)), -1, dtype=np.int64)
    for tid, row in swaps.items():
        table[tid] = row
    return list(ids), cap_ids, table


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """open_clip's rule: no decay on gains, biases, norms and the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def _lr_factor(progress: float, warmup: float) -> float:
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / max(1e-8, 1 - warmup))))


# ----------------------------------------------------------------------------- evaluation
def _pixels(backbone: Any, images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).to(backbone.device).permute(0, 3, 1, 2).float() / 255.0


@torch.inference_mode()
def zero_shot_retrieval(
    backbone: Any,
    n: int = 1024,
    seed: int = EVAL_SEED,
    candidates: int = 256,
    data: PretrainData | None = None,
    kind: str = "render",
) -> dict[str, Any]:
    """Held-out check: image->caption top-1/top-5 among ``candidates`` captions; prompt-based
    zero-shot accuracy for gaze left/right, gaze up/down, glasses yes/no and woman/man; and the
    same four attributes as caption swaps (own caption vs the caption with that attribute flipped).

    Held-out renders come from ``render_training_set(n, seed)`` with a seed no training chunk uses.
    A retrieval counts as right when the chosen caption's text equals the image's own caption
    (coarse captions can repeat); chance levels and majority baselines are reported beside.
    """
    data = data or make_data(n, seed, kind)
    n = len(data.captions)
    img = torch.cat([backbone.encode_images(_pixels(backbone, data.images[s : s + 256])) for s in range(0, n, 256)])
    top1 = top5 = 0
    chance1 = chance5 = 0.0
    counted = 0
    k = min(5, candidates)
    for s in range(0, n - candidates + 1, candidates):
        caps = data.captions[s : s + candidates]
        txt = torch.cat([backbone.encode_text(caps[i : i + 256]) for i in range(0, len(caps), 256)])
        ranked = (img[s : s + candidates] @ txt.t()).topk(k, dim=1).indices.cpu().numpy()
        for i in range(candidates):
            hits = [caps[j] == caps[i] for j in ranked[i]]
            top1 += hits[0]
            top5 += any(hits)
            dup = sum(c == caps[i] for c in caps)
            chance1 += dup / candidates
            chance5 += 1 - math.comb(candidates - dup, k) / math.comb(candidates, k)
        counted += candidates
    nan = float("nan")
    out: dict[str, Any] = {
        "n_images": n,
        "seed": seed,
        "candidates": candidates,
        "image_to_caption_top1": top1 / counted if counted else nan,
        "image_to_caption_top5": top5 / counted if counted else nan,
        "chance_top1": chance1 / counted if counted else nan,
        "chance_top5": chance5 / counted if counted else nan,
    }
    a = data.attributes
    pitch, yaw = a["gaze_pitch"], a["gaze_yaw"]
    from dfad_mini.renderer import GLASSES

    frames = [g for g in GLASSES if g != "none"]
    everyone = np.ones(n, bool)
    # (which images, true class, prompts, class of each prompt). Renderer captions: yaw > 0 is
    # "to the left" (image direction), pitch > 0 is "up".
    tasks = {
        "gaze_left_right": (np.abs(yaw) > GAZE_THRESHOLD, (yaw < 0).astype(int),
                            ["a photo of a person looking to the left", "a photo of a person looking to the right"], [0, 1]),
        "gaze_up_down": (np.abs(pitch) > GAZE_THRESHOLD, (pitch < 0).astype(int),
                         ["a photo of a person looking up", "a photo of a person looking down"], [0, 1]),
        "glasses": (everyone, a["glasses"].astype(int),
                    [f"a photo of a person with {g} glasses" for g in frames] + ["a photo of a person"],
                    [1] * len(frames) + [0]),
        "sex": (everyone, (a["sex"] == "woman").astype(int), ["a photo of a woman", "a photo of a man"], [1, 0]),
    }
    for name, (mask, truth, prompts, prompt_class) in tasks.items():
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        txt = backbone.encode_text(prompts)
        pred = np.asarray(prompt_class)[(img[idx] @ txt.t()).argmax(dim=1).cpu().numpy()]
        rate = float(truth[idx].mean())
        out[f"zero_shot_{name}"] = {
            "accuracy": float((pred == truth[idx]).mean()),
            "majority_baseline": max(rate, 1 - rate),
            "n": int(len(idx)),
        }
    # Caption swap: the image's own caption against the same caption with one attribute changed
    # (chance 0.5). Tests whether the attribute is bound, free of short-prompt wording effects.
    for name, swap in _SWAPS.items():
        pairs = [(i, data.captions[i], swap(data.captions[i])) for i in range(n)]
        pairs = [(i, true, false) for i, true, false in pairs if false and false != true]
        if not pairs:
            continue
        idx = torch.tensor([i for i, _, _ in pairs], device=img.device)
        t_true = torch.cat([backbone.encode_text([p[1] for p in pairs[s : s + 256]]) for s in range(0, len(pairs), 256)])
        t_false = torch.cat([backbone.encode_text([p[2] for p in pairs[s : s + 256]]) for s in range(0, len(pairs), 256)])
        wins = ((img[idx] * t_true).sum(-1) > (img[idx] * t_false).sum(-1)).float().mean().item()
        out[f"caption_swap_{name}"] = {"accuracy": wins, "chance": 0.5, "n": len(pairs)}
    return out


def _swap_words(text: str, a: str, b: str) -> str:
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


def _swap_gaze(text: str, a: str, b: str) -> str:
    """Swap ``a``/``b`` inside the "looking ..." phrase only (not in "head turned ...")."""
    head, sep, tail = text.partition("looking ")
    if not sep:
        return ""
    phrase, comma, rest = tail.partition(",")
    swapped = _swap_words(phrase, a, b)
    return f"{head}{sep}{swapped}{comma}{rest}" if swapped != phrase else ""


def _swap_glasses(text: str) -> str:
    for frame in ("round", "square", "rectangular"):
        if f", {frame} glasses" in text:
            return text.replace(f", {frame} glasses", "")
    return text.replace(", looking", ", round glasses, looking", 1)


_SWAPS = {
    "gaze_left_right": lambda t: _swap_gaze(t, "to the left", "to the right"),
    "gaze_up_down": lambda t: _swap_gaze(t, "up", "down"),
    "glasses": _swap_glasses,
    "sex": lambda t: _swap_words(t, " woman ", " man "),
}


# ----------------------------------------------------------------------------- training
def _atomic_torch_save(obj: Any, path: Path) -> None:
    write_with_atomic(path, lambda tmp: torch.save(obj, tmp))


def export_weights(model: torch.nn.Module, out_dir: Path, sidecar: dict[str, Any]) -> Path:
    """fp16 safetensors + JSON sidecar, both written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    target = out_dir / f"{ARCH}.safetensors"
    write_with_atomic(target, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt", "arch": ARCH}))
    sidecar = {**sidecar, "size_bytes": target.stat().st_size, "sha256": sha256(target)}
    write_json_atomic(target.with_suffix(".json"), sidecar)
    return target


def pretrain_clip_mini(
    device: str = "cpu",
    steps: int | None = None,
    time_budget_s: float | None = None,
    batch_size: int = 256,
    out_dir: str | Path = ".",
    seed: int = 0,
    resume: bool = True,
    work_dir: str | Path | None = None,
    n_train: int = 24_000,
    eval_n: int = 1024,
    lr: float = 1e-3,
    checkpoint_every: int = 250,
    data: str = "render",
    workers: int = 0,
    hard_negatives: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Train clip-mini until ``steps`` or ``time_budget_s`` (training time, summed over resumes),
    export fp16 weights + sidecar to ``out_dir``, and return the sidecar dict.

    ``work_dir`` (default ``.mini_train/clip-mini``) holds the render cache and ``ckpt.pt``;
    with ``resume`` a run continues from ``ckpt.pt`` when its config matches.
    """
    if steps is None and time_budget_s is None:
        raise DfadError("clip-mini pretraining: give steps or time_budget_s")
    cfg = PretrainConfig(
        device=device, steps=steps, time_budget_s=time_budget_s, batch_size=batch_size, lr=lr,
        n_train=n_train, eval_n=eval_n, seed=seed, checkpoint_every=checkpoint_every, data=data, workers=workers,
        hard_negatives=hard_negatives,
    )
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DfadError("clip-mini pretraining: --device cuda but torch sees no CUDA device")
    out_dir = Path(out_dir)
    work = Path(work_dir) if work_dir else Path(".mini_train") / ARCH
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    t_render = time.perf_counter()
    train = _cached_data(work, n_train, TRAIN_SEED_BASE + 1000 * seed, data, workers)
    render_s = time.perf_counter() - t_render

    model = create_clip_mini_model().to(dev)
    model.train()
    from open_clip import get_tokenizer

    tokenizer = get_tokenizer(ARCH)
    texts, caption_ids, swap_table = build_text_table(train.captions, hard_negatives)
    tokens = torch.cat([tokenizer(texts[i : i + 4096]) for i in range(0, len(texts), 4096)]).to(dev)
    cap_ids = torch.from_numpy(caption_ids).to(dev)
    swaps = torch.from_numpy(swap_table).to(dev)
    n_captions = len(set(train.captions))
    images = torch.from_numpy(train.images).to(dev)  # uint8 NHWC, ~12 KB per image
    mean = torch.tensor(model.visual.preprocess_cfg["mean"], device=dev).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.preprocess_cfg["std"], device=dev).view(1, 3, 1, 1)

    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    step, trained_s, curve = 0, 0.0, []
    ckpt_path = work / "ckpt.pt"
    fingerprint = {k: v for k, v in asdict(cfg).items() if k not in ("steps", "time_budget_s", "workers", "eval_n", "checkpoint_every")}
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=True)
        if ckpt.get("config") == fingerprint:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            gen.set_state(ckpt["generator"].cpu())
            step, trained_s, curve = int(ckpt["step"]), float(ckpt["trained_s"]), [list(x) for x in ckpt["curve"]]
            print(f"[clip-mini] resumed at step {step} ({trained_s:.1f}s trained)", flush=True)
        else:
            print("[clip-mini] checkpoint config differs: starting fresh", flush=True)

    def progress() -> float:
        parts = []
        if steps:
            parts.append(step / steps)
        if time_budget_s:
            parts.append(trained_s / time_budget_s)
        return max(parts)

    def save_ckpt() -> None:
        _atomic_torch_save(
            {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
             "step": step, "trained_s": trained_s, "curve": curve, "config": fingerprint},
            ckpt_path,
        )

    amp = dev.type == "cuda"
    n_img = images.shape[0]
    ema = None
    while progress() < 1.0:
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr * _lr_factor(progress(), cfg.warmup_frac)
        idx = torch.randint(0, n_img, (batch_size,), generator=gen, device=dev)
        x = images[idx].permute(0, 3, 1, 2).float().div_(255.0)
        x = (augment(x, gen) - mean) / std
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
            img = model.encode_image(x, normalize=True)
            ids = cap_ids[idx]
            txt = model.encode_text(tokens[ids], normalize=True)
            txt_neg = neg = None
            if hard_negatives:
                options = swaps[ids]  # (B, n_swaps), -1 = not applicable
                pick = (torch.rand(options.shape, generator=gen, device=dev) * (options >= 0)).argmax(dim=1)
                neg = options.gather(1, pick[:, None]).squeeze(1)
                neg = torch.where(neg >= 0, neg, ids)  # no swap applies: its own caption, a positive
                txt_neg = model.encode_text(tokens[neg], normalize=True).float()
            loss = contrastive_loss(img.float(), txt.float(), ids, model.logit_scale.exp().float(), txt_neg, neg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        value = float(loss.detach())  # syncs the device, so the step time below is real
        trained_s += time.perf_counter() - t0
        ema = value if ema is None else 0.95 * ema + 0.05 * value
        if step % 10 == 0 or step == 1:
            curve.append([step, round(trained_s, 2), round(ema, 4)])
        if step % 100 == 0:
            print(f"[clip-mini] step {step} loss {ema:.3f} T={1 / model.logit_scale.exp().item():.4f} {trained_s:.0f}s", flush=True)
        if step % checkpoint_every == 0:
            save_ckpt()
    save_ckpt()

    model.eval()
    sidecar: dict[str, Any] = {
        "arch": ARCH,
        "config": json.loads(PROJECT_BACKBONES[ARCH].config.read_text()),
        "preprocess_cfg": _preprocess_cfg(model),
        "params": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "steps": step,
        "train_time_s": round(trained_s, 1),
        "render_time_s": round(render_s, 1),
        "images_per_s": round(step * batch_size / max(trained_s, 1e-9), 1),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "amp": "bf16" if amp else "fp32",
        "command": command or "pretrain_clip_mini(...)",
        "hyperparameters": asdict(cfg),
        "data": {
            "kind": data,
            "source": "dfad_mini.renderer.render_training_set (pristine TRAINING identity pool only)",
            "n_images": n_train,
            "render_seeds": f"{TRAIN_SEED_BASE + 1000 * seed}..+{math.ceil(n_train / CHUNK) - 1} (chunks of {CHUNK})",
            "unique_captions": n_captions,
            "hard_negative_texts": len(texts) - n_captions,
        },
        "loss_curve": _thin(curve, 200),
        "versions": {"torch": torch.__version__, "open_clip": _open_clip_version(), "python": sys.version.split()[0]},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = export_weights(model, out_dir, sidecar)
    # evaluate the exported fp16 file exactly as users load it
    from dfad_bench.backbones.factory import create_backbone

    backbone = create_backbone(f"{ARCH}:{target.resolve()}", device=device)
    eval_data = make_data(eval_n, EVAL_SEED, data, workers)
    sidecar["retrieval"] = zero_shot_retrieval(backbone, data=eval_data, candidates=min(256, eval_n))
    sidecar = {**json.loads(target.with_suffix(".json").read_text()), "retrieval": sidecar["retrieval"]}
    write_json_atomic(target.with_suffix(".json"), sidecar)
    print(f"[clip-mini] wrote {target} ({sidecar['size_bytes'] / 2**20:.2f} MiB); retrieval {json.dumps(sidecar['retrieval'])}", flush=True)
    return sidecar


def _thin(curve: list[list[float]], keep: int) -> list[list[float]]:
    """At most ~``keep`` points, always including the last."""
    if not curve:
        return []
    thinned = curve[:: max(1, len(curve) // keep)]
    return thinned if thinned[-1] is curve[-1] else [*thinned, curve[-1]]


def _open_clip_version() -> str:
    import open_clip

    return str(open_clip.__version__)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dfad_mini.clip_pretrain ARGS``: the same command as ``dfad-bench mini pretrain-clip ARGS``."""
    from dfad_mini.cli import run_subcommand

    return run_subcommand("pretrain-clip", argv, prog="python -m dfad_mini.clip_pretrain")


if __name__ == "__main__":
    raise SystemExit(main())
