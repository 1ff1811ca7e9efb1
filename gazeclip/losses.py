"""GazeCLIP's training objective: hierarchical image-text contrast, attribution CE, detection BCE, gaze term.

All logits are ``scale * cos(image, prompt)`` with one learned scale (CLIP's temperature). Only SEEN
classes ever appear in training: the prompts of unseen families/generators are built at predict
time only.

- contrastive: for each active prompt level (authenticity, forgery type, family, generator), a
  symmetric supervised image-text InfoNCE between the batch's images and the level's prompts:
  image->text is a softmax over the level's seen prompts; text->image is, for every prompt that has
  images in the batch, a softmax over the batch's images with all of that class's images as
  positives (several images share a class, so the one-positive CLIP loss would be wrong).
- attribution: cross-entropy over the family-level and the generator-level class prompts.
- detection: binary cross-entropy on ``log sum_{f != real} p_f - log p_real`` from the family
  softmax, i.e. the same head whose ``1 - p(real)`` is the fake score at test.
- gaze: binary cross-entropy of a linear real/fake probe on the pooled gaze tokens, so the gaze
  pathway carries forgery evidence by itself instead of being ignored by the VPE's gates (the
  abstract's premise: pristine and forged gaze are distributed differently).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_logits(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """L2-normalised (N, d) x (C, d) -> (N, C) scaled cosine similarities."""
    return scale * image @ text.t()


def detection_logit(family_logits: torch.Tensor, real_index: int) -> torch.Tensor:
    """logit of "fake" from family logits: log(sum of fake families' probabilities / p(real))."""
    fake = torch.cat([family_logits[:, :real_index], family_logits[:, real_index + 1 :]], dim=1)
    return torch.logsumexp(fake, dim=1) - family_logits[:, real_index]


def supervised_contrastive(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Symmetric image-text InfoNCE with class prompts: ``logits`` (N, C), ``targets`` (N,) in [0, C)."""
    i2t = F.cross_entropy(logits, targets)
    positives = F.one_hot(targets, logits.shape[1]).to(logits.dtype)  # (N, C)
    present = positives.sum(0) > 0
    log_p = torch.log_softmax(logits, dim=0)  # over images, per prompt
    t2i = -(log_p * positives).sum(0)[present] / positives.sum(0)[present]
    return 0.5 * (i2t + t2i.mean())


def total_loss(
    outputs: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    weights: dict[str, float],
    real_index: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the terms present in ``outputs``; returns (loss, per-term float values).

    ``outputs``: family_logits, generator_logits, level_logits.<level> (contrastive), gaze_logit (opt).
    ``batch``: family, generator, level.<level> (class indices), is_fake (float).
    """
    terms: dict[str, torch.Tensor] = {}
    terms["attribution"] = F.cross_entropy(outputs["family_logits"].float(), batch["family"]) + F.cross_entropy(
        outputs["generator_logits"].float(), batch["generator"]
    )
    terms["detection"] = F.binary_cross_entropy_with_logits(detection_logit(outputs["family_logits"].float(), real_index), batch["is_fake"])
    levels = [k for k in outputs if k.startswith("level_logits.")]
    if levels:
        terms["contrastive"] = torch.stack(
            [supervised_contrastive(outputs[k].float(), batch["level." + k.split(".", 1)[1]]) for k in levels]
        ).mean()
    if outputs.get("gaze_logit") is not None:
        terms["gaze"] = F.binary_cross_entropy_with_logits(outputs["gaze_logit"].float(), batch["is_fake"])
    loss = sum(weights[name] * value for name, value in terms.items() if weights.get(name, 0.0))
    if not torch.is_tensor(loss):  # every weight zero: keep a differentiable zero
        loss = outputs["family_logits"].sum() * 0.0
    return loss, {name: float(value.detach()) for name, value in terms.items()}
