"""The trainable part of GazeCLIP, assembled from the switches, plus the prompt bank of the text side.

The frozen CLIP backbone is deliberately NOT a submodule: checkpoints hold only what trains (a few
hundred thousand numbers for clip-mini), and the backbone's weights are named by its fingerprint.

    gaze descriptor --GazeTokenizer--> gaze tokens --+--> ForgeryGazePrompts --> GIE (prompted ViT tail) --+
                                                     |                                                    |
                                                     +--> gaze probe (aux loss)          appearance a <---+ (or frozen CLIP embedding)
                                                     +--> VPE(a, gaze tokens) --> global forgery embedding z
    class prompts --token embeddings--> LRE/AWS --> frozen text transformer --> prompt embeddings t
    logits = exp(logit_scale) * z @ t^T
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gazeclip.gaze_adapter import GazeLayout
from gazeclip.gaze_prompts import ForgeryGazePrompts, GazeTokenizer
from gazeclip.gie import GazeAwareImageEncoder
from gazeclip.lre import LanguageRefinementEncoder
from gazeclip.vpe import VisualPerceptionEncoder

MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class NetworkDims:
    """Sizes the network needs from the backbone and the gaze encoder."""

    embed_dim: int
    vit_width: int
    text_width: int
    gaze_feature_dim: int | None  # None: gaze switched off


class GazeCLIPNet(nn.Module):
    def __init__(self, config: dict[str, Any], dims: NetworkDims) -> None:
        super().__init__()
        c = config
        self.layout = GazeLayout(dims.gaze_feature_dim) if dims.gaze_feature_dim else None
        gdim = int(c["gaze_token_dim"])
        self.gaze_tokens = GazeTokenizer(self.layout, gdim) if self.layout else None
        self.gaze_probe = nn.Linear(gdim, 1) if self.layout else None
        self.prompts = (
            ForgeryGazePrompts(dims.vit_width, int(c["n_gaze_prompts"]), int(c["gie_layers"]),
                               gdim * GazeTokenizer.n_tokens if self.layout else None)
            if c["gie"] else None
        )
        self.vpe = VisualPerceptionEncoder(dims.embed_dim, gdim if self.layout else None, int(c["vpe_heads"])) if c["vpe"] else None
        self.lre = LanguageRefinementEncoder(dims.text_width, int(c["lre_rank"]), bool(c["aws"]), int(c["aws_hidden"])) if c["lre"] else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / float(c["temperature_init"]))))

    # ------------------------------------------------------------------ image side
    def image(self, appearance: torch.Tensor, gaze: torch.Tensor | None, gie: GazeAwareImageEncoder | None) -> dict[str, torch.Tensor | None]:
        """appearance: GIE frozen inputs (GIE on) or frozen CLIP embeddings (off); gaze: standardised descriptors or None."""
        tokens = self.gaze_tokens(gaze) if self.gaze_tokens is not None and gaze is not None else None
        if self.prompts is not None:
            if gie is None:
                raise RuntimeError("GazeCLIPNet: GIE is on but no GazeAwareImageEncoder was given")
            a = gie.tail(appearance, self.prompts(tokens, len(appearance)))
        else:
            a = appearance
        attn = None
        if self.vpe is not None:
            z, attn = self.vpe(a, tokens)
        else:
            z = F.normalize(a, dim=-1)
        probe = self.gaze_probe(tokens.mean(1)).squeeze(1) if self.gaze_probe is not None and tokens is not None else None
        return {"embedding": z, "gaze_logit": probe, "gaze_attention": attn}

    # ------------------------------------------------------------------ text side
    def text(self, bank: PromptBank, backbone: Any) -> torch.Tensor:
        """(P, embed_dim) L2-normalised embeddings of every prompt in the bank."""
        if self.lre is None:
            return bank.fixed_embeddings(backbone)
        enhanced, _ = self.lre(bank.token_embeddings(backbone), bank.tokens)
        return encode_text_trimmed(backbone, enhanced, bank.tokens)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)


class PromptBank:
    """A fixed list of prompt strings with their tokens; frozen token embeddings (LRE input) and fixed
    text embeddings (LRE off) are computed once and kept."""

    def __init__(self, texts: list[str], backbone: Any) -> None:
        self.texts = list(texts)
        self.tokens = backbone.tokenize(self.texts)
        self._token_emb: torch.Tensor | None = None
        self._fixed: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def token_embeddings(self, backbone: Any) -> torch.Tensor:
        if self._token_emb is None:
            with torch.no_grad():
                self._token_emb = backbone.token_embeddings(self.tokens).detach()
        return self._token_emb

    def fixed_embeddings(self, backbone: Any) -> torch.Tensor:
        if self._fixed is None:
            with torch.no_grad():
                self._fixed = encode_text_trimmed(backbone, self.token_embeddings(backbone), self.tokens).float().detach()
        return self._fixed


def _is_causal(mask: torch.Tensor | None, length: int) -> bool:
    if mask is None or mask.ndim != 2 or mask.shape[0] < length:
        return False
    m = mask[:length, :length]
    upper = torch.ones_like(m, dtype=torch.bool).triu(1)
    return bool(torch.isneginf(m[upper]).all() and (m[~upper] == 0).all())


def encode_text_trimmed(backbone: Any, embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``backbone.encode_text_embeddings`` run on the shortest prefix holding every prompt's end token.

    Exact for a causal text transformer pooled at the end token (CLIP): a position never attends to
    later ones, so the padding after the longest prompt cannot change any pooled output. Prompts of
    ~50 tokens then cost ~50/77 of the full context. Other text towers take the full path.
    """
    m = backbone.model
    length = int(tokens.argmax(dim=-1).max()) + 1
    if getattr(m, "text_pool_type", None) != "argmax" or not hasattr(m, "token_embedding") or not _is_causal(getattr(m, "attn_mask", None), length):
        return backbone.encode_text_embeddings(embeddings, tokens)
    cast = m.transformer.get_cast_dtype()
    h = embeddings[:, :length].to(cast) + m.positional_embedding[:length].to(cast)
    h = m.ln_final(m.transformer(h, attn_mask=m.attn_mask[:length, :length]))
    h = h[torch.arange(len(h), device=h.device), tokens[:, :length].argmax(dim=-1)]
    if m.text_projection is not None:
        h = m.text_projection(h) if isinstance(m.text_projection, nn.Linear) else h @ m.text_projection
    return F.normalize(h, dim=-1)


def count_parameters(module: nn.Module) -> dict[str, int]:
    """Trainable parameters per top-level part and in total."""
    out = {name: sum(p.numel() for p in child.parameters() if p.requires_grad) for name, child in module.named_children()}
    out["total"] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return out
