"""VPE, the visual perception encoder: appearance x gaze -> the global forgery embedding.

The abstract: the VPE "uses those gaze differences to mine global forgery embeddings across the
appearance and gaze domains". Our reading, as a gated cross-domain fusion (Flamingo-style gates):

    a   = appearance embedding (GIE output, or the frozen CLIP image embedding with GIE off)
    G   = [null, gaze-feature, gaze-geometry, eye-consistency] tokens projected to the CLIP space
    a1  = a  + tanh(alpha) * CrossAttention(query = LN(a), keys/values = LN(G))
    a2  = a1 + tanh(beta)  * MLP(LN(a1))
    z   = a2 / |a2|                                  (the global forgery embedding)

The query is the appearance, so each image picks which gaze evidence matters to it (the eyes'
disagreement for a face swap, the gaze direction statistics for a GAN face); the learned null
token lets it take none. Both gates start at 0, so training starts exactly at the frozen CLIP
embedding (CLIP's zero-shot geometry) and moves away only as far as the losses pay for.

With ``gaze=false`` there are no gaze tokens: the VPE is the gated residual MLP alone (a CLIP-Adapter
style appearance adapter), so the gaze ablation keeps the same trainable image mapping otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VisualPerceptionEncoder(nn.Module):
    def __init__(self, embed_dim: int, gaze_dim: int | None, heads: int = 4, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        d = embed_dim
        self.cross: nn.MultiheadAttention | None = None
        if gaze_dim:
            if d % heads:
                heads = 1
            self.gaze_proj = nn.Linear(gaze_dim, d)
            self.null = nn.Parameter(torch.zeros(1, 1, d))
            self.norm_q = nn.LayerNorm(d)
            self.norm_kv = nn.LayerNorm(d)
            self.cross = nn.MultiheadAttention(d, heads, batch_first=True)
            self.gate_attn = nn.Parameter(torch.zeros(()))
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.gate_mlp = nn.Parameter(torch.zeros(()))

    def forward(self, appearance: torch.Tensor, gaze_tokens: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, d) appearance, (N, 3, gaze_dim) gaze tokens -> (z (N, d) L2-normalised, attention over [null, gaze tokens])."""
        a = appearance
        weights = None
        if self.cross is not None and gaze_tokens is not None:
            g = self.gaze_proj(gaze_tokens)
            kv = self.norm_kv(torch.cat([self.null.expand(len(g), -1, -1).to(g.dtype), g], dim=1))
            out, weights = self.cross(self.norm_q(a).unsqueeze(1), kv, kv, need_weights=True)
            a = a + torch.tanh(self.gate_attn) * out[:, 0]
            weights = weights[:, 0]
        a = a + torch.tanh(self.gate_mlp) * self.mlp(a)
        return F.normalize(a, dim=-1), weights
