"""MTCNN face detector (Zhang et al. 2016) re-implemented in our code.

The three cascaded networks carry the layer names of ``facenet-pytorch`` (MIT), so its
weight files ``{p,r,o}net.pt`` -- plain state dicts, fetched from the wheel by
:mod:`dfad_bench.perception.assets`, never by installing the package -- load with
``torch.load(weights_only=True)`` and ``strict=True``. The detection cascade follows
facenet-pytorch's ``detect_face`` (image pyramid -> P-Net proposals -> R-Net refinement ->
O-Net boxes + 5 landmarks, with the same NMS thresholds), batched over equal-size images.

Landmark order (image coordinates, pixels): eye on the image's left, eye on the image's right,
nose tip, mouth corner on the image's left, mouth corner on the image's right. For a
non-mirrored frontal photo the image-left eye is the subject's RIGHT eye.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

from dfad_bench.errors import DfadError

LANDMARK_NAMES = ("eye_image_left", "eye_image_right", "nose", "mouth_image_left", "mouth_image_right")


class PNet(nn.Module):
    """Proposal network: fully convolutional, 12x12 receptive field, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement network on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The converted (Caffe/TF) dense weights expect (W, H, C) flattening order.
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output network on 48x48 crops: box regression, 5 landmarks, face probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


def load_state_dict_strict(module: nn.Module, path: Path) -> nn.Module:
    """Load a plain state dict with ``weights_only=True`` and an exact key/shape match."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError) as exc:
        raise DfadError(f"{path}: cannot load as a weights-only torch state dict ({exc})") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise DfadError(f"{path}: expected a state dict, got {type(state).__name__}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise DfadError(f"{path}: state dict does not match {type(module).__name__}: {' '.join(first)}") from exc
    return module


class MTCNNDetector:
    """Batched MTCNN. ``detect(images)`` -> per image ``(boxes (K,4), probs (K,), landmarks (K,5,2))``.

    Defaults are facenet-pytorch's: minimum face 20 px, thresholds (0.6, 0.7, 0.7), pyramid
    factor 0.709. Boxes are ``x1, y1, x2, y2`` in pixels of the input image.
    """

    name = "mtcnn"

    def __init__(
        self,
        device: str = "cpu",
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        weights: dict[str, Path] | None = None,
    ) -> None:
        from dfad_bench.perception.assets import fetch_asset

        self.device = torch.device(device)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        paths = weights or {k: fetch_asset(f"mtcnn-{k}") for k in ("pnet", "rnet", "onet")}
        self.pnet = load_state_dict_strict(PNet(), paths["pnet"]).to(self.device).eval()
        self.rnet = load_state_dict_strict(RNet(), paths["rnet"]).to(self.device).eval()
        self.onet = load_state_dict_strict(ONet(), paths["onet"]).to(self.device).eval()
        digest = hashlib.sha256()
        for key in ("pnet", "rnet", "onet"):
            for tensor in getattr(self, key).state_dict().values():
                digest.update(tensor.detach().cpu().numpy().tobytes())
        self.fingerprint = (
            f"mtcnn-v1:{digest.hexdigest()[:12]}:min{self.min_face_size}:"
            f"t{','.join(f'{t:g}' for t in self.thresholds)}:f{self.factor:g}"
        )

    @torch.inference_mode()
    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Detect faces in RGB uint8 images (an NHWC array, or a list of HWC arrays of any sizes)."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            groups = {images.shape[1:3]: list(range(len(images)))}
            get = lambda i: images[i]  # noqa: E731
        else:
            seq = list(images)
            groups: dict[tuple[int, ...], list[int]] = {}
            for i, img in enumerate(seq):
                groups.setdefault(np.asarray(img).shape[:2], []).append(i)
            get = lambda i: np.asarray(seq[i])  # noqa: E731
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * sum(len(v) for v in groups.values())
        for idx in groups.values():
            batch = np.stack([get(i) for i in idx])
            if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
                raise DfadError(f"MTCNN: expected uint8 RGB images (H, W, 3), got {batch.dtype} {batch.shape[1:]}")
            for i, res in zip(idx, self._detect_batch(batch), strict=True):
                out[i] = res
        return out  # type: ignore[return-value]

    def _detect_batch(self, imgs_np: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        dev = self.device
        imgs = torch.as_tensor(imgs_np, device=dev).permute(0, 3, 1, 2).float()
        n, _, h, w = imgs.shape
        t1, t2, t3 = self.thresholds

        # Stage 1: P-Net over an image pyramid.
        m = 12.0 / self.min_face_size
        minl = min(h, w) * m
        scales: list[float] = []
        scale = m
        while minl >= 12:
            scales.append(scale)
            scale *= self.factor
            minl *= self.factor
        all_boxes, all_inds = [], []
        for s in scales:
            data = F.interpolate(imgs, size=(int(h * s + 1), int(w * s + 1)), mode="area")
            reg, probs = self.pnet((data - 127.5) * 0.0078125)
            boxes, inds = _generate_boxes(reg, probs[:, 1], s, t1)
            keep = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.5)
            all_boxes.append(boxes[keep])
            all_inds.append(inds[keep])
        empty = [(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))] * n
        if not all_boxes:
            return empty
        boxes, inds = torch.cat(all_boxes), torch.cat(all_inds)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes, inds = boxes[keep], inds[keep]
        if len(boxes) == 0:
            return empty
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        boxes = torch.stack(
            [boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
             boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]], dim=1,
        )
        boxes = _square(boxes)

        # Stage 2: R-Net on 24x24 crops.
        crops = _crop_resize(imgs, boxes, inds, 24, w, h)
        reg, probs = self.rnet((crops - 127.5) * 0.0078125)
        score = probs[:, 1]
        ok = score > t2
        boxes = torch.cat([boxes[ok, :4], score[ok, None]], dim=1)
        inds, reg = inds[ok], reg[ok]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes = _square(_bbreg(boxes[keep], reg[keep]))
        inds = inds[keep]
        if len(boxes) == 0:
            return empty

        # Stage 3: O-Net on 48x48 crops -> final boxes + landmarks.
        crops = _crop_resize(imgs, boxes, inds, 48, w, h)
        reg, pts, probs = self.onet((crops - 127.5) * 0.0078125)
        score = probs[:, 1]
        ok = score > t3
        boxes = torch.cat([boxes[ok, :4], score[ok, None]], dim=1)
        inds, reg, pts = inds[ok], reg[ok], pts[ok]
        bw = boxes[:, 2] - boxes[:, 0] + 1
        bh = boxes[:, 3] - boxes[:, 1] + 1
        px = bw[:, None] * pts[:, :5] + boxes[:, 0:1] - 1
        py = bh[:, None] * pts[:, 5:10] + boxes[:, 1:2] - 1
        points = torch.stack([px, py], dim=2)
        boxes = _bbreg(boxes, reg)
        keep = _nms_min(boxes[:, :4].cpu().numpy(), boxes[:, 4].cpu().numpy(), inds.cpu().numpy(), 0.7)
        boxes_np = boxes[keep].cpu().numpy().astype(np.float32)
        points_np = points[keep].cpu().numpy().astype(np.float32)
        inds_np = inds[keep].cpu().numpy()
        result = []
        for b in range(n):
            sel = np.flatnonzero(inds_np == b)
            sel = sel[np.argsort(-boxes_np[sel, 4], kind="stable")]  # most confident first
            result.append((boxes_np[sel, :4], boxes_np[sel, 4], points_np[sel]))
        return result


def _generate_boxes(reg: torch.Tensor, probs: torch.Tensor, scale: float, thresh: float) -> tuple[torch.Tensor, torch.Tensor]:
    stride, cell = 2, 12
    mask = probs >= thresh
    where = mask.nonzero()
    inds = where[:, 0]
    score = probs[mask]
    offsets = reg.permute(0, 2, 3, 1)[mask]
    xy = where[:, 1:].flip(1).to(reg.dtype)  # (row, col) -> (x, y)
    q1 = ((stride * xy + 1) / scale).floor()
    q2 = ((stride * xy + cell) / scale).floor()
    return torch.cat([q1, q2, score[:, None], offsets], dim=1), inds


def _bbreg(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.clone()
    out[:, 0] = boxes[:, 0] + reg[:, 0] * w
    out[:, 1] = boxes[:, 1] + reg[:, 1] * h
    out[:, 2] = boxes[:, 2] + reg[:, 2] * w
    out[:, 3] = boxes[:, 3] + reg[:, 3] * h
    return out


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (side = the longer side)."""
    out = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _crop_resize(imgs: torch.Tensor, boxes: torch.Tensor, inds: torch.Tensor, size: int, w: int, h: int) -> torch.Tensor:
    """Crop each box (clipped to the image, 1-based inclusive as in facenet-pytorch) to size x size."""
    b = boxes[:, :4].trunc().int().cpu().numpy()
    x1 = np.maximum(b[:, 0], 1)
    y1 = np.maximum(b[:, 1], 1)
    x2 = np.minimum(b[:, 2], w)
    y2 = np.minimum(b[:, 3], h)
    crops = torch.zeros((len(b), 3, size, size), device=imgs.device)
    for k in range(len(b)):
        if x2[k] > x1[k] - 1 and y2[k] > y1[k] - 1:
            patch = imgs[int(inds[k]), :, y1[k] - 1 : y2[k], x1[k] - 1 : x2[k]].unsqueeze(0)
            crops[k] = F.interpolate(patch, size=(size, size), mode="area")[0]
    return crops


def _nms_min(boxes: np.ndarray, scores: np.ndarray, inds: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS per image with overlap = intersection / smaller area (MTCNN's final 'Min' NMS)."""
    keep: list[int] = []
    for b in np.unique(inds):
        sel = np.flatnonzero(inds == b)
        x1, y1, x2, y2 = (boxes[sel, j] for j in range(4))
        area = (x2 - x1 + 1) * (y2 - y1 + 1)
        order = np.argsort(scores[sel])
        while order.size:
            i = order[-1]
            keep.append(int(sel[i]))
            rest = order[:-1]
            iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
            ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
            overlap = iw * ih / np.minimum(area[i], area[rest])
            order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)
