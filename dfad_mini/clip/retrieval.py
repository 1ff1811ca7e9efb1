"""Zero-shot retrieval of clip-mini on held-out renders (the numbers in its sidecar)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dfad_mini.clip.data import EVAL_SEED, PretrainData, make_data
from dfad_mini.clip.text import SWAPS

GAZE_THRESHOLD = 0.15  # radians; the renderer's captions use the same threshold for "looking ..."


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
    for name, swap in SWAPS.items():
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
