"""``create_backbone(name)``: the one way to build a CLIP backbone (open_clip model + its preprocessing).

Callers never construct open_clip models directly: the name goes through ``parse_backbone_name``,
weights through a single strict loader, and the preprocessing that goes with the weights (size,
mean/std, interpolation) is kept on the :class:`Backbone` so a run record can say exactly what
was applied (``Backbone.record()``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dfad_bench.backbones.hub import resolve_hub_checkpoint
from dfad_bench.backbones.spec import (
    BackboneSpec,
    check_weights_file,
    parse_backbone_name,
    register_project_configs,
)
from dfad_bench.backbones.weights import file_sha256, load_weights_strict, read_sidecar
from dfad_bench.errors import DfadError

# Bump when encode_images' resize/normalise pipeline changes: it is part of every fingerprint,
# so feature caches built with the old pipeline are not reused.
ENCODE_PIPELINE_VERSION = 1
#: Largest forward batch on a CPU. At 256 the activation buffers are mapped and released every
#: batch (3x the page faults, 2x the system time; docs/PERFORMANCE.md): clip-mini encodes about
#: 1.5x faster at 64-128, with bit-identical features on the machines measured. A larger
#: ``batch_size`` still sets how many images are decoded and handed over at once.
CPU_FORWARD_BATCH = 128
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


@contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip logs 'Model initialized randomly' on the root logger before we load the weights."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _as_size(size: Any) -> int:
    if isinstance(size, int):
        return size
    h, w = tuple(size)
    if h != w:
        raise DfadError(f"backbone image size {size} is not square; only square inputs are supported")
    return int(h)


class Backbone:
    """A frozen (by default) open_clip CLIP model with the preprocessing its weights expect.

    Attributes: ``spec``, ``model`` (open_clip ``CLIP``; ``model.visual`` is an open_clip
    ``VisionTransformer``), ``tokenizer``, ``image_size``, ``mean``, ``std``, ``interpolation``,
    ``resize_mode``, ``embed_dim``, ``width`` (visual token width), ``fingerprint``, ``device``,
    ``weights_path``, ``weights_sha256`` (None for hub weights).
    """

    def __init__(
        self,
        spec: BackboneSpec,
        model: torch.nn.Module,
        tokenizer: Any,
        preprocess_cfg: dict[str, Any],
        embed_dim: int,
        weights_path: Path | None,
        weights_sha256: str | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        import open_clip

        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = _as_size(preprocess_cfg["size"])
        self.mean = tuple(float(v) for v in preprocess_cfg["mean"])
        self.std = tuple(float(v) for v in preprocess_cfg["std"])
        self.interpolation = str(preprocess_cfg.get("interpolation", "bicubic"))
        self.resize_mode = str(preprocess_cfg.get("resize_mode", "shortest"))
        self.embed_dim = int(embed_dim)
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.open_clip_version = open_clip.__version__
        self.extra = dict(extra or {})
        self.device = next(model.parameters()).device
        self._mean_t = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        self._std_t = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        self.fingerprint = self._build_fingerprint()

    # ------------------------------------------------------------------ description
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def visual(self) -> torch.nn.Module:
        """open_clip ``VisionTransformer``: conv1 -> class/pos embeddings -> ln_pre -> transformer.resblocks -> ln_post -> proj."""
        return self.model.visual

    @property
    def width(self) -> int:
        return int(self.model.visual.transformer.width)

    @property
    def context_length(self) -> int:
        return int(self.model.context_length)

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        return {
            "size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "resize_mode": self.resize_mode,
            "antialias": True,
            "input_range": "[0,1] float RGB, NCHW",
        }

    def _build_fingerprint(self) -> str:
        pp = json.dumps(self.preprocess_cfg, sort_keys=True).encode()
        pp_hash = hashlib.sha256(pp).hexdigest()[:12]
        if self.spec.source == "hub":
            weights = f"tag={self.spec.weights}"
        else:
            weights = f"sha256={self.weights_sha256}"
        return (
            f"{self.spec.arch}|{weights}|open_clip={self.open_clip_version}"
            f"|pp={pp_hash}|enc=v{ENCODE_PIPELINE_VERSION}"
        )

    def record(self) -> dict[str, Any]:
        """Everything about the backbone that can change a number, for run records."""
        return {
            "name": self.name,
            "arch": self.spec.arch,
            "weights": self.spec.weights if self.spec.source == "hub" else str(self.weights_path),
            "source": self.spec.source,
            "weights_sha256": self.weights_sha256,
            "fingerprint": self.fingerprint,
            "open_clip_version": self.open_clip_version,
            "embed_dim": self.embed_dim,
            "preprocess": self.preprocess_cfg,
            **self.extra,
        }

    def __repr__(self) -> str:
        return f"Backbone({self.name!r}, image_size={self.image_size}, embed_dim={self.embed_dim}, device={self.device})"

    # ------------------------------------------------------------------ images
    def to(self, device: str | torch.device) -> Backbone:
        self.model.to(device)
        self.device = next(self.model.parameters()).device
        self._mean_t = self._mean_t.to(self.device)
        self._std_t = self._std_t.to(self.device)
        return self

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Float [0,1] RGB NCHW of any size -> normalised model input (N, 3, image_size, image_size).

        Resize as the weights' preprocessing says: 'shortest' side to image_size then centre crop
        ('squash' resizes both sides), with antialias; values clamped to [0,1] after bicubic overshoot.
        """
        if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise DfadError(f"backbone {self.name}: expected a float tensor (N,3,H,W) in [0,1], got {shape}")
        if not torch.is_floating_point(x):
            raise DfadError(
                f"backbone {self.name}: expected float pixels in [0,1], got dtype {x.dtype}; use preprocess_uint8 for uint8 NHWC arrays"
            )
        x = x.to(self.device, torch.float32)
        s = self.image_size
        h, w = x.shape[-2:]
        if (h, w) != (s, s):
            mode = self.interpolation if self.interpolation in ("bilinear", "bicubic") else "bilinear"
            if self.resize_mode == "squash" or h == w:
                size = (s, s)
            else:
                scale = s / min(h, w)
                size = (max(s, round(h * scale)), max(s, round(w * scale)))
            x = F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False).clamp_(0.0, 1.0)
            top, left = (x.shape[-2] - s) // 2, (x.shape[-1] - s) // 2
            x = x[..., top : top + s, left : left + s]
        return (x - self._mean_t) / self._std_t

    def preprocess_uint8(self, images: np.ndarray) -> torch.Tensor:
        """uint8 RGB NHWC (or one HWC image) -> normalised model input on the backbone's device."""
        arr = np.asarray(images)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise DfadError(
                f"backbone {self.name}: expected uint8 RGB images (N,H,W,3), got dtype {arr.dtype} shape {arr.shape}"
            )
        x = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device).permute(0, 3, 1, 2)
        return self.preprocess(x.float().div_(255.0))

    def encode_images(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Float [0,1] NCHW (any size) -> image embeddings (N, embed_dim), L2-normalised by default.

        Gradients flow to ``x`` (and to trainable parameters); wrap in ``torch.inference_mode()``
        for feature extraction.
        """
        return self.model.encode_image(self.preprocess(x), normalize=normalize)

    def encode_uint8(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 NHWC -> float32 normalised embeddings as numpy, in batches, without gradients."""
        out = []
        step = min(batch_size, CPU_FORWARD_BATCH) if self.device.type == "cpu" else batch_size
        with torch.inference_mode():
            for start in range(0, len(images), step):
                out.append(self.model.encode_image(self.preprocess_uint8(images[start : start + step]), normalize=True).float().cpu())
        if not out:
            return np.zeros((0, self.embed_dim), np.float32)
        return torch.cat(out).numpy()

    # ------------------------------------------------------------------ visual tokens / prompt tuning
    def _check_vit(self) -> Any:
        visual = self.model.visual
        needed = ("_embeds", "_pool", "transformer", "proj")
        if not all(hasattr(visual, a) for a in needed) or getattr(visual, "attn_pool", None) is not None:
            raise DfadError(
                f"backbone {self.name}: token access needs an open_clip VisionTransformer without attentional pooling, got {type(visual).__name__}"
            )
        return visual

    def visual_tokens(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Token sequence after the last transformer block, before pooling: (N, 1 + grid**2, width).

        Index 0 is the class token. ``normalize`` applies the final LayerNorm (``ln_post``) to every
        token, as the pooled output gets it.
        """
        visual = self._check_vit()
        tokens = visual.transformer(visual._embeds(self.preprocess(x)))
        return visual.ln_post(tokens) if normalize else tokens

    def encode_images_with_prompts(
        self, x: torch.Tensor, prompts: torch.Tensor, deep: bool = False, normalize: bool = True
    ) -> torch.Tensor:
        """Visual prompt tuning (VPT) through the image tower (frozen unless created trainable).

        Shallow (``deep=False``): ``prompts`` (P, width) or (N, P, width), inserted after the class
        token before block 0. Deep: (depth, P, width) or (N, depth, P, width) with depth == number of
        blocks; block i sees prompt set i (the previous block's outputs at those positions are
        dropped). Prompt tokens are removed before pooling, so P=0 gives ``encode_images``.
        """
        visual = self._check_vit()
        blocks = visual.transformer.resblocks
        h = visual._embeds(self.preprocess(x))
        n = h.shape[0]
        prompts = prompts.to(h.device, h.dtype)
        want = 3 if deep else 2
        if prompts.ndim == want:
            prompts = prompts.unsqueeze(0).expand(n, *prompts.shape)
        if prompts.ndim != want + 1 or prompts.shape[0] != n or prompts.shape[-1] != h.shape[-1]:
            layout = "(depth, P, width) or (N, depth, P, width)" if deep else "(P, width) or (N, P, width)"
            raise DfadError(
                f"backbone {self.name}: prompts must be {layout} with width {h.shape[-1]} for {n} images, got {tuple(prompts.shape)}"
            )
        if deep and prompts.shape[1] != len(blocks):
            raise DfadError(f"backbone {self.name}: deep prompts need depth {len(blocks)}, got {prompts.shape[1]}")
        first = prompts[:, 0] if deep else prompts
        n_prompt = first.shape[1]
        h = torch.cat([h[:, :1], first, h[:, 1:]], dim=1)
        for i, block in enumerate(blocks):
            if deep and i > 0:
                h = torch.cat([h[:, :1], prompts[:, i], h[:, 1 + n_prompt :]], dim=1)
            h = block(h)
        h = torch.cat([h[:, :1], h[:, 1 + n_prompt :]], dim=1)
        pooled, _ = visual._pool(h)
        if visual.proj is not None:
            pooled = pooled @ visual.proj
        return F.normalize(pooled, dim=-1) if normalize else pooled

    # ------------------------------------------------------------------ text
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """open_clip tokens (N, context_length) on the backbone's device."""
        if isinstance(texts, str):
            texts = [texts]
        return self.tokenizer(list(texts)).to(self.device)

    def encode_text(self, texts: Sequence[str], normalize: bool = True) -> torch.Tensor:
        """Strings -> text embeddings (N, embed_dim), L2-normalised by default."""
        return self.model.encode_text(self.tokenize(texts), normalize=normalize)

    def token_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids -> input embeddings (N, context_length, text width), e.g. to splice learned context (CoOp)."""
        return self.model.token_embedding(tokens)

    def encode_text_embeddings(self, embeddings: torch.Tensor, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Text tower from input embeddings; ``tokens`` (same shape minus width) only locate the pooled
        (end-of-text) position. ``encode_text_embeddings(token_embeddings(t), t) == model.encode_text(t)``.
        """
        from open_clip.transformer import text_global_pool

        m = self.model
        if not hasattr(m, "token_embedding"):
            raise DfadError(f"backbone {self.name}: embedding-level text access needs the standard open_clip text tower")
        cast = m.transformer.get_cast_dtype()
        h = embeddings.to(cast) + m.positional_embedding.to(cast)
        h = m.transformer(h, attn_mask=m.attn_mask)
        h = m.ln_final(h)
        h = text_global_pool(h, tokens, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        if m.text_projection is not None:
            h = m.text_projection(h) if isinstance(m.text_projection, torch.nn.Linear) else h @ m.text_projection
        return F.normalize(h, dim=-1) if normalize else h

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()


def _build_model(arch: str, pretrained_cfg: dict[str, Any], preprocess: dict[str, Any]) -> torch.nn.Module:
    import open_clip

    kwargs: dict[str, Any] = {}
    if pretrained_cfg.get("quick_gelu"):
        # open_clip only warns when a tag trained with QuickGELU is loaded into a GELU config
        # (e.g. ViT-B-16:openai); we build the activation the weights were trained with.
        kwargs["force_quick_gelu"] = True
    with _quiet_open_clip():
        return open_clip.create_model(arch, pretrained=None, force_preprocess_cfg=preprocess or None, **kwargs)


def create_backbone(name: str | BackboneSpec, device: str | torch.device = "cpu", trainable: bool = False) -> Backbone:
    """Build a backbone from ``arch:tag``, ``arch:/path/weights`` or ``clip-mini``.

    The model is in eval mode and, unless ``trainable``, every parameter has ``requires_grad=False``.
    Raises DfadError for unknown names, missing or mismatched weights, and hub weights that are not
    cached while offline (within ~1 s, never open_clip's long retries).
    """
    import open_clip

    spec = name if isinstance(name, BackboneSpec) else parse_backbone_name(name)
    register_project_configs()
    pretrained_cfg: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if spec.source == "hub":
        ckpt = resolve_hub_checkpoint(spec.arch, spec.weights)
        pretrained_cfg = ckpt.pretrained_cfg
        weights_path = ckpt.path
        extra["weights_origin"] = ckpt.origin
        preprocess = {k: pretrained_cfg[k] for k in _PREPROCESS_KEYS if k in pretrained_cfg}
    else:
        weights_path = check_weights_file(spec)
        sidecar = read_sidecar(weights_path)
        preprocess = {k: v for k, v in dict(sidecar.get("preprocess_cfg", {})).items() if k in _PREPROCESS_KEYS}
        if sidecar:
            extra["sidecar"] = {k: sidecar[k] for k in ("seed", "steps", "device", "retrieval") if k in sidecar}
    model = _build_model(spec.arch, pretrained_cfg, preprocess)
    load_weights_strict(model, weights_path, spec.name)
    model.eval()
    model.requires_grad_(bool(trainable))
    model.to(device)
    try:
        tokenizer = open_clip.get_tokenizer(spec.arch)
    except (OSError, ValueError, RuntimeError) as exc:
        raise DfadError(f"backbone {spec.name}: cannot create its tokenizer ({type(exc).__name__}: {exc})") from exc
    cfg = open_clip.get_model_config(spec.arch) or {}
    embed_dim = int(cfg.get("embed_dim") or model.visual.output_dim)
    sha = None if spec.source == "hub" else file_sha256(weights_path)
    return Backbone(
        spec=spec,
        model=model,
        tokenizer=tokenizer,
        preprocess_cfg=dict(model.visual.preprocess_cfg),
        embed_dim=embed_dim,
        weights_path=weights_path,
        weights_sha256=sha,
        extra=extra,
    )
