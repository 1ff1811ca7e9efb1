"""GIE, the gaze-aware image encoder: forgery gaze prompts injected into the frozen CLIP ViT.

Deep visual prompt tuning (VPT-deep, Jia et al. 2022) restricted to the LAST ``layers`` blocks of
the image tower: block i of that tail sees K prompt tokens (inserted after the class token, the
previous block's outputs at those positions dropped), and the prompts never reach the pooling.
CLIP stays frozen; only the prompts (and their gaze conditioning) learn. With ``layers`` equal to
the depth this is exactly ``Backbone.encode_images_with_prompts(deep=True)`` (tested).

Why only the last blocks: blocks before the first prompted one never see the prompts, so their
output is a frozen function of the image, computed once per image and cached on disk (content hash
x backbone fingerprint x split point), like frozen CLIP features. An epoch costs only the tail.

Two exact shortcuts make the default (``layers=1``) nearly free per epoch:

- CLIP pools the class token, so the last block only needs the class token's output: its attention
  query is the class token alone and its MLP runs on one token.
- In that last block, everything but the prompts is frozen. The class token's attention over the
  frozen tokens is summarised once per image, per head h, as the numbers of a streaming softmax:
  the query q, the max score m_h, Z_h = sum_t exp(s_t - m_h) and U_h = sum_t exp(s_t - m_h) v_t.
  The prompts' keys/values are merged into that sum at train time (the same algebra as
  FlashAttention's online softmax), which is exactly softmax attention over [frozen tokens,
  prompts]. The cache then holds 3*width + 2*heads numbers per image instead of tokens*width.

``layers > 1`` caches the tokens entering the tail (float16) and runs the tail blocks; when that
cache would exceed ``max_cache_mb`` (large backbones on large benchmarks) the prefix is streamed:
images are decoded and the frozen blocks recomputed (without gradients) per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfad_bench.contract import DataView
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import clip_image_features

GIE_CACHE_VERSION = 1


def _plain_attention(attn: Any) -> bool:
    """A torch MultiheadAttention whose projections we can take apart (packed qkv, no extra keys)."""
    return (
        isinstance(attn, nn.MultiheadAttention)
        and bool(attn.batch_first)
        and attn._qkv_same_embed_dim
        and attn.in_proj_bias is not None
        and attn.bias_k is None
        and not attn.add_zero_attn
    )


class GazeAwareImageEncoder:
    """The frozen ViT split into a cached frozen part and a prompted tail (not an nn.Module: nothing here trains).

    ``mode`` is "summary" (one prompted block, exact attention summary cached) or "tokens" (tokens
    entering the tail cached or streamed). ``frozen_inputs`` computes what is cached per image, as a
    flat float vector; ``tail`` maps a batch of them plus prompts to the image embedding.
    """

    def __init__(self, backbone: Any, layers: int) -> None:
        visual = backbone.visual
        if not all(hasattr(visual, a) for a in ("_embeds", "transformer", "ln_post", "proj")) or getattr(visual, "attn_pool", None) is not None:
            raise DfadError(f"gazeclip: GIE needs an open_clip VisionTransformer without attentional pooling, got {type(visual).__name__}")
        self.backbone = backbone
        self.visual = visual
        self.blocks: Sequence[nn.Module] = list(visual.transformer.resblocks)
        depth = len(self.blocks)
        if not 1 <= int(layers) <= depth:
            raise DfadError(f"gazeclip.gie_layers: must be between 1 and the ViT depth {depth}, got {layers}")
        self.layers = int(layers)
        self.split = depth - self.layers
        self.width = int(backbone.width)
        self.n_tokens = int(visual.positional_embedding.shape[0])
        last = self.blocks[-1]
        pools_class_token = getattr(visual, "pool_type", "tok") == "tok" and not getattr(visual, "final_ln_after_pool", False)
        self.cls_shortcut = pools_class_token and _plain_attention(getattr(last, "attn", None)) and not hasattr(last, "ln_1_kv")
        self.mode = "summary" if self.layers == 1 and self.cls_shortcut else "tokens"
        self.heads = int(last.attn.num_heads) if self.cls_shortcut else 0

    # ------------------------------------------------------------------ description
    @property
    def fingerprint(self) -> str:
        return f"gazeclip-gie:v{GIE_CACHE_VERSION}:{self.mode}:{self.backbone.fingerprint}|after_block={self.split}"

    @property
    def frozen_dim(self) -> int:
        """Numbers cached per image."""
        return 3 * self.width + 2 * self.heads if self.mode == "summary" else self.n_tokens * self.width

    @property
    def cache_dtype(self) -> str:
        return "float32" if self.mode == "summary" else "float16"

    def cache_megabytes(self, n_images: int) -> float:
        return n_images * self.frozen_dim * np.dtype(self.cache_dtype).itemsize / 2**20

    # ------------------------------------------------------------------ frozen part
    @torch.no_grad()
    def prefix(self, images: torch.Tensor) -> torch.Tensor:
        """Float [0,1] NCHW images -> tokens entering the first prompted block (N, T, width)."""
        h = self.visual._embeds(self.backbone.preprocess(images))
        for block in self.blocks[: self.split]:
            h = block(h)
        return h

    def _qkv(self, normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        attn = self.blocks[-1].attn
        w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
        b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
        return F.linear(normed, w_q, b_q), F.linear(normed, w_k, b_k), F.linear(normed, w_v, b_v)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[:-1], self.heads, self.width // self.heads)

    @torch.no_grad()
    def summarize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens entering the last block (N, T, width) -> (N, 3*width + 2*heads): [class token, q, m, Z, U]."""
        block = self.blocks[-1]
        normed = block.ln_1(tokens)
        q, k, v = self._qkv(normed)
        qh = self._heads(q[:, 0]) * (self.width // self.heads) ** -0.5  # (N, H, d)
        scores = torch.einsum("nhd,nthd->nht", qh, self._heads(k))
        m = scores.amax(-1)
        e = torch.exp(scores - m.unsqueeze(-1))
        u = torch.einsum("nht,nthd->nhd", e, self._heads(v))
        return torch.cat([tokens[:, 0], q[:, 0], m, e.sum(-1), u.flatten(1)], dim=1)

    def frozen_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """Float [0,1] NCHW images -> the flat per-image vector the tail reads (N, frozen_dim)."""
        tokens = self.prefix(images)
        return self.summarize(tokens) if self.mode == "summary" else tokens.flatten(1)

    def frozen_inputs_uint8(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(self.backbone.device).permute(0, 3, 1, 2)
            with torch.inference_mode():
                out.append(self.frozen_inputs(x.float().div_(255.0)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.frozen_dim), np.float32)

    def cached_frozen_inputs(self, view: DataView, batch_size: int = 256) -> np.ndarray:
        """(len(view), frozen_dim) frozen inputs, computed only for images not yet in the on-disk cache."""
        return view.encode_cached(self.fingerprint, lambda x: self.frozen_inputs_uint8(x, batch_size), batch_size=batch_size,
                                  dtype=self.cache_dtype)

    # ------------------------------------------------------------------ prompted tail
    def _finish(self, cls: torch.Tensor) -> torch.Tensor:
        pooled = self.visual.ln_post(cls)
        if self.visual.proj is not None:
            pooled = pooled @ self.visual.proj
        return F.normalize(pooled, dim=-1)

    def _cls_block(self, block: nn.Module, h: torch.Tensor) -> torch.Tensor:
        """``block(h)[:, 0]`` computed for the class token only."""
        normed = block.ln_1(h)
        attn = block.attn(normed[:, :1], normed, normed, need_weights=False)[0]
        x = h[:, :1] + block.ls_1(attn)
        return (x + block.ls_2(block.mlp(block.ln_2(x))))[:, 0]

    def _tail_summary(self, frozen: torch.Tensor, prompts: torch.Tensor | None) -> torch.Tensor:
        w, nh = self.width, self.heads
        cls, q, m, z, u = torch.split(frozen, [w, w, nh, nh, w], dim=1)
        u = u.reshape(-1, nh, w // nh)
        if prompts is not None:
            block = self.blocks[-1]
            _, k, v = self._qkv(block.ln_1(prompts[:, 0]))  # (N, K, width)
            qh = self._heads(q) * (w // nh) ** -0.5
            s = torch.einsum("nhd,nkhd->nhk", qh, self._heads(k))
            m_new = torch.maximum(m, s.amax(-1))
            old = torch.exp(m - m_new)
            e = torch.exp(s - m_new.unsqueeze(-1))
            z = z * old + e.sum(-1)
            u = u * old.unsqueeze(-1) + torch.einsum("nhk,nkhd->nhd", e, self._heads(v))
        block = self.blocks[-1]
        attn = block.attn.out_proj((u / z.unsqueeze(-1)).flatten(1))
        x = cls + block.ls_1(attn)
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return self._finish(x)

    def tail(self, frozen: torch.Tensor, prompts: torch.Tensor | None) -> torch.Tensor:
        """Frozen inputs (N, frozen_dim) or tokens (N, T, width), prompts (N, layers, K, width) or None
        -> L2-normalised image embeddings (N, embed_dim)."""
        if prompts is not None:
            if prompts.ndim != 4 or prompts.shape[1] != self.layers or prompts.shape[-1] != self.width:
                raise DfadError(f"gazeclip: GIE prompts must be (N, {self.layers}, K, {self.width}), got {tuple(prompts.shape)}")
            prompts = prompts.to(frozen.dtype)
        if self.mode == "summary":
            return self._tail_summary(frozen, prompts)
        h = frozen.reshape(len(frozen), self.n_tokens, self.width)
        n_prompt = 0
        for i, block in enumerate(self.blocks[self.split :]):
            if prompts is not None:
                h = torch.cat([h[:, :1], prompts[:, i], h[:, 1 + n_prompt :]], dim=1)
                n_prompt = prompts.shape[2]
            if i == self.layers - 1 and self.cls_shortcut:
                return self._finish(self._cls_block(block, h))
            h = block(h)
        h = torch.cat([h[:, :1], h[:, 1 + n_prompt :]], dim=1)
        pooled, _ = self.visual._pool(h)
        if self.visual.proj is not None:
            pooled = pooled @ self.visual.proj
        return F.normalize(pooled, dim=-1)


def frozen_image_embeddings(view: DataView, backbone: Any, batch_size: int = 256) -> np.ndarray:
    """GIE switched off: cached, L2-normalised CLIP image embeddings (an epoch then trains only heads)."""
    return clip_image_features(view, backbone, batch_size)


class AppearanceInputs:
    """What the image side reads per batch: GIE frozen inputs (GIE on) or frozen CLIP embeddings (GIE off).

    ``kind`` is "gie" or "embedding"; ``batch(rows, device)`` returns a float tensor for the rows
    (positions in the view). A streamed source recomputes the frozen part from the images.
    """

    def __init__(self, kind: str, array: np.ndarray | None = None, view: DataView | None = None,
                 gie: GazeAwareImageEncoder | None = None) -> None:
        self.kind = kind
        self.array = array
        self.view = view
        self.gie = gie

    @property
    def streamed(self) -> bool:
        return self.array is None

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.view)  # type: ignore[arg-type]

    def batch(self, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        if self.array is not None:
            return torch.from_numpy(np.ascontiguousarray(self.array[rows])).to(device).float()
        assert self.view is not None and self.gie is not None
        images = self.view.subset(rows).load_all()
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        return self.gie.frozen_inputs(x)


def appearance_inputs(view: DataView, backbone: Any, gie: GazeAwareImageEncoder | None, max_cache_mb: float,
                      batch_size: int = 256) -> AppearanceInputs:
    """Frozen embeddings (GIE off), cached GIE inputs, or streamed ones when the cache would be too big."""
    if gie is None:
        return AppearanceInputs("embedding", frozen_image_embeddings(view, backbone, batch_size))
    if gie.cache_megabytes(len(view)) <= max_cache_mb:
        return AppearanceInputs("gie", gie.cached_frozen_inputs(view, batch_size))
    return AppearanceInputs("gie", view=view, gie=gie)
