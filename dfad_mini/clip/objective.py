"""What one clip-mini step optimises: batched augmentation, the symmetric InfoNCE loss with
hard negatives, weight-decay groups and the learning-rate schedule."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F


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
