"""GazeCLIP: gaze-guided CLIP for fine-grained deepfake attribution and detection (docs/GAZECLIP.md).

This module holds only the light model card (no torch import), so ``dfad-bench list models`` stays
fast; the model lives in :mod:`gazeclip.model`.
"""

from dfad_bench.config import Bool, Float, Int, ListOf, OneOf, Str
from dfad_bench.contract import ModelCard

PAPER = (
    "Zhang, Shen, Yu, Ma, Gao. GazeCLIP, a gaze-guided CLIP for fine-grained deepfake attribution and detection. "
    "arXiv:2603.29295, March 2026 (only the abstract is public; this is an independent re-implementation, "
    "see docs/GAZECLIP.md)"
)

DEFAULT_CONFIG: dict = {
    # encoders (frozen)
    "backbone": "clip-mini",  # any dfad_bench.backbones name: clip-mini, ViT-B-16:openai, ARCH:/path/w.safetensors
    "gaze": "gaze-mini",  # a registered gaze encoder name; false switches the gaze domain off
    # module switches
    "gie": True,  # gaze-aware image encoder: (gaze-conditioned) prompts in the last ViT blocks
    "vpe": True,  # visual perception encoder: gated appearance x gaze fusion
    "lre": True,  # language refinement encoder on the prompts' token embeddings
    "aws": True,  # adaptive-enhanced word selector inside the LRE
    "prompt_levels": ["authenticity", "forgery_type", "family", "generator"],
    # sizes
    "n_gaze_prompts": 4,  # K prompt tokens per prompted block
    "gie_layers": 1,  # how many final ViT blocks receive prompts (the rest is frozen and cached)
    "gaze_token_dim": 64,
    "vpe_heads": 4,
    "lre_rank": 8,
    "aws_hidden": 16,
    # training
    "epochs": 30,
    "batch_size": 256,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "patience": 6,
    "w_contrastive": 0.5,
    "w_attribution": 1.0,
    "w_detection": 1.0,
    "w_gaze": 0.2,
    "temperature_init": 0.07,
    # performance
    "token_cache_mb": 2048,  # above this the GIE prefix tokens are streamed instead of cached
    "encode_batch_size": 256,
    "head_threads": 1,  # torch threads while training/applying the small heads on CPU (0: leave as is)
}

#: Types and ranges of the options (checked before any image is read; dfad_bench.config).
CONFIG_SCHEMA: dict = {
    "backbone": Str(nonempty=True),
    # an encoder name, or false (off); true means the default encoder
    "gaze": OneOf(Bool(), Str(nonempty=True), nullable=True),
    **{k: Bool() for k in ("gie", "vpe", "lre", "aws")},
    "prompt_levels": ListOf(Str("authenticity", "forgery_type", "family", "generator")),
    **{k: Int(ge=1) for k in ("n_gaze_prompts", "gie_layers", "gaze_token_dim", "vpe_heads", "lre_rank", "aws_hidden",
                              "epochs", "batch_size", "patience", "encode_batch_size")},
    "lr": Float(ge=0),  # 0 freezes training: a control run
    **{k: Float(ge=0) for k in ("weight_decay", "w_contrastive", "w_attribution", "w_detection", "w_gaze")},
    "temperature_init": Float(gt=0),
    "token_cache_mb": Int(ge=0),
    "head_threads": Int(ge=0),
}

CARD = ModelCard(
    name="gazeclip",
    factory="gazeclip.model:GazeCLIP",
    description=(
        "GazeCLIP: frozen CLIP + gaze encoder; forgery gaze prompts in the ViT (GIE), gated appearance x gaze fusion (VPE), "
        "hierarchical fine-grained prompts refined by an LRE with adaptive word selection; attribution and detection from "
        "one image-text matching, open-vocabulary"
    ),
    inputs=("pixels", "gaze", "text"),
    open_vocabulary=True,
    paper=PAPER,
    trained_on="the protocol's train split only; frozen CLIP and gaze encoders pretrained elsewhere (see their sidecars)",
    config_schema=CONFIG_SCHEMA,
    default_config=DEFAULT_CONFIG,
    encoders={"backbone": "backbone", "gaze": "gaze"},
)
