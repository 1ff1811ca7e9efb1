"""LRE, the language refinement encoder, with its adaptive-enhanced word selector (AWS).

The abstract: the LRE builds "dynamically enhanced language embeddings" with an AWS, is
plug-and-play for any transformer language model and costs a slight growth in parameters. Our
reading, working on the token embeddings BEFORE the frozen text transformer (so it fits any
transformer text tower that accepts input embeddings; here ``Backbone.token_embeddings`` /
``Backbone.encode_text_embeddings``):

    e_i   token embedding of word i of a prompt (start/end/padding tokens are never touched)
    c     mean of the prompt's word embeddings (its context)
    s_i   = sigmoid(MLP_aws(e_i))                       AWS: how much word i is selected
    d_i   = Up(GELU(Down([e_i ; c])))                   a rank-r bottleneck update, Up zero-initialised
    e'_i  = e_i + s_i * d_i                             adaptive enhancement of the selected words

"Dynamic": the update of a word depends on the prompt it sits in (through c), and the selector
learns which words carry the fine-grained distinction (e.g. "diffusion", "swapped", a generator's
name) rather than template words shared by every prompt. Parameters: with text width w, AWS hidden
h and rank r: (w*h + 2h + 1) + (2w*r + r) + (r*w + w); for clip-mini (w=64, h=16, r=8) 2,665.

``aws=false`` keeps the enhancement but applies it to every word with weight 1 (no selector
parameters), isolating the selector's contribution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def word_mask(tokens: torch.Tensor) -> torch.Tensor:
    """(P, L) token ids -> bool mask of the prompt's words: after the start token, before the end token.

    CLIP's end-of-text token has the largest id of the vocabulary (open_clip pools at its argmax).
    """
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    eot = tokens.argmax(dim=-1, keepdim=True)
    return (positions > 0) & (positions < eot)


class AdaptiveWordSelector(nn.Module):
    """Scores each token embedding with a small MLP; sigmoid gates, zero outside the words."""

    def __init__(self, width: int, hidden: int = 16) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.score(embeddings).squeeze(-1))
        return gates * mask.to(gates.dtype)


class LanguageRefinementEncoder(nn.Module):
    """Token embeddings (P, L, w) -> enhanced token embeddings (P, L, w) and the word gates (P, L)."""

    def __init__(self, width: int, rank: int = 8, aws: bool = True, aws_hidden: int = 16) -> None:
        super().__init__()
        self.selector = AdaptiveWordSelector(width, aws_hidden) if aws else None
        self.down = nn.Linear(2 * width, rank)
        self.up = nn.Linear(rank, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, embeddings: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = word_mask(tokens)
        m = mask.to(embeddings.dtype).unsqueeze(-1)
        context = (embeddings * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
        delta = self.up(F.gelu(self.down(torch.cat([embeddings, context.expand_as(embeddings)], dim=-1))))
        gates = self.selector(embeddings, mask) if self.selector is not None else mask.to(embeddings.dtype)
        return embeddings + gates.unsqueeze(-1) * delta, gates
