"""The one gaze interface: :class:`GazeOutput`, the :class:`GazeEncoder` protocol, the registry.

Convention (ETH-XGaze, shared with DFAD-Mini): angles in radians as (pitch, yaw); the 3D unit
gaze vector in camera coordinates (x right, y down, z forward into the scene) is
``(-cos(p) sin(y), -sin(p), -cos(p) cos(y))``: pitch > 0 looks up, yaw > 0 looks towards the
image's left, a gaze straight into the camera is (0, 0) -> (0, 0, -1).
"left"/"right" eye means the SUBJECT's left/right eye (the left eye appears on the image's right).

A face or eye that was not found is a reported state: ``valid`` is False, ``reason`` says why,
and every number of that row is NaN (never a silent zero).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dfad_bench.errors import DfadError
from dfad_bench.registry import GAZE_ENTRY_POINT_GROUP, Registry

# Fixed vocabulary, so caches and reports can store/count reasons as small integers.
INVALID_REASONS: tuple[str, ...] = (
    "ok",
    "no_face",  # the detector found no face
    "no_landmarks",  # a face box but no usable landmarks / mesh
    "pose_failed",  # head pose (solvePnP) failed or is degenerate
    "eyes_not_found",  # eye corners or irises could not be located
    "bad_image",  # wrong shape or empty image
)

ENTRY_POINT_GROUP = GAZE_ENTRY_POINT_GROUP


# --------------------------------------------------------------------------- geometry helpers


def pitchyaw_to_vector(pitch: np.ndarray | float, yaw: np.ndarray | float) -> np.ndarray:
    """(pitch, yaw) in radians -> unit gaze vectors, shape ``(..., 3)``."""
    p = np.asarray(pitch, dtype=np.float64)
    y = np.asarray(yaw, dtype=np.float64)
    return np.stack([-np.cos(p) * np.sin(y), -np.sin(p), -np.cos(p) * np.cos(y)], axis=-1)


def vector_to_pitchyaw(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaze vectors ``(..., 3)`` (any length) -> (pitch, yaw) in radians; the inverse of
    :func:`pitchyaw_to_vector` for pitch in [-pi/2, pi/2]."""
    v = np.asarray(vector, dtype=np.float64)
    if v.shape[-1] != 3:
        raise ValueError(f"vector_to_pitchyaw: expected shape (..., 3), got {v.shape}")
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = v / norm
    pitch = np.arcsin(np.clip(-v[..., 1], -1.0, 1.0))
    yaw = np.arctan2(-v[..., 0], -v[..., 2])
    return pitch, yaw


def angular_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between gaze directions; each input is ``(..., 3)`` vectors or
    ``(..., 2)`` (pitch, yaw) pairs. NaN in -> NaN out."""

    def as_vec(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] == 2:
            return pitchyaw_to_vector(x[..., 0], x[..., 1])
        if x.shape[-1] == 3:
            return x / np.linalg.norm(x, axis=-1, keepdims=True)
        raise ValueError(f"angular_error_deg: expected (..., 2) pitch/yaw or (..., 3) vectors, got {x.shape}")

    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(as_vec(a) * as_vec(b), axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# --------------------------------------------------------------------------- output record


@dataclass(frozen=True)
class GazeOutput:
    """Gaze estimates for a batch of N images (numpy arrays, float64 unless stated).

    pitch, yaw: (N,) overall gaze; left, right: (N, 2) per-eye (pitch, yaw), NaN where the
    encoder has no per-eye estimate; vector: (N, 3) unit vectors of the overall gaze;
    features: (N, D) float32 feature vectors for fusion; valid: (N,) bool;
    reason: one entry of :data:`INVALID_REASONS` per image ("ok" where valid).
    """

    pitch: np.ndarray
    yaw: np.ndarray
    left: np.ndarray
    right: np.ndarray
    vector: np.ndarray
    features: np.ndarray
    valid: np.ndarray
    reason: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.valid)
        expect = {"pitch": (n,), "yaw": (n,), "left": (n, 2), "right": (n, 2), "vector": (n, 3)}
        for field, shape in expect.items():
            if np.shape(getattr(self, field)) != shape:
                raise ValueError(f"GazeOutput.{field}: expected shape {shape}, got {np.shape(getattr(self, field))}")
        if self.features.ndim != 2 or self.features.shape[0] != n:
            raise ValueError(f"GazeOutput.features: expected shape ({n}, D), got {self.features.shape}")
        if self.valid.dtype != np.bool_:
            raise ValueError(f"GazeOutput.valid: expected bool, got {self.valid.dtype}")
        if len(self.reason) != n:
            raise ValueError(f"GazeOutput.reason: expected {n} entries, got {len(self.reason)}")
        for i, (ok, why) in enumerate(zip(self.valid, self.reason, strict=True)):
            if why not in INVALID_REASONS:
                raise ValueError(f"GazeOutput.reason[{i}]={why!r}: expected one of {INVALID_REASONS}")
            if bool(ok) != (why == "ok"):
                raise ValueError(f"GazeOutput row {i}: valid={bool(ok)} but reason={why!r}")
        if n and np.isfinite(self.pitch[~self.valid]).any():
            raise ValueError("GazeOutput: invalid rows must carry NaN, not numbers")

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def eye_inconsistency_deg(self) -> np.ndarray:
        """Angle between the two eyes' gaze directions (degrees); NaN without per-eye estimates."""
        return angular_error_deg(self.left, self.right)

    @classmethod
    def build(
        cls,
        left: np.ndarray | None,
        right: np.ndarray | None,
        features: np.ndarray,
        valid: np.ndarray,
        reason: Sequence[str],
        overall: np.ndarray | None = None,
    ) -> GazeOutput:
        """Assemble an output; ``overall`` (N, 2) defaults to the mean of the eyes' (pitch, yaw).

        Invalid rows are set to NaN here, so encoders cannot leak placeholder numbers.
        """
        valid = np.asarray(valid, dtype=bool)
        n = len(valid)
        nan2 = np.full((n, 2), np.nan)
        left = nan2.copy() if left is None else np.array(left, dtype=np.float64).reshape(n, 2)
        right = nan2.copy() if right is None else np.array(right, dtype=np.float64).reshape(n, 2)
        if overall is None:
            overall = 0.5 * (left + right)
        overall = np.array(overall, dtype=np.float64).reshape(n, 2)
        features = np.array(features, dtype=np.float32).reshape(n, -1)
        for arr in (left, right, overall, features):
            arr[~valid] = np.nan
        return cls(
            pitch=overall[:, 0].copy(),
            yaw=overall[:, 1].copy(),
            left=left,
            right=right,
            vector=pitchyaw_to_vector(overall[:, 0], overall[:, 1]),
            features=features,
            valid=valid,
            reason=tuple(str(r) for r in reason),
        )

    @classmethod
    def empty(cls, feature_dim: int) -> GazeOutput:
        return cls.build(None, None, np.zeros((0, feature_dim)), np.zeros(0, bool), ())

    @classmethod
    def concat(cls, parts: Sequence[GazeOutput]) -> GazeOutput:
        if not parts:
            raise ValueError("GazeOutput.concat: nothing to concatenate")
        return cls(
            pitch=np.concatenate([p.pitch for p in parts]),
            yaw=np.concatenate([p.yaw for p in parts]),
            left=np.concatenate([p.left for p in parts]),
            right=np.concatenate([p.right for p in parts]),
            vector=np.concatenate([p.vector for p in parts]),
            features=np.concatenate([p.features for p in parts]),
            valid=np.concatenate([p.valid for p in parts]),
            reason=tuple(r for p in parts for r in p.reason),
        )

    def take(self, index: np.ndarray | Sequence[int]) -> GazeOutput:
        idx = np.asarray(index, dtype=np.int64)
        return GazeOutput(
            pitch=self.pitch[idx], yaw=self.yaw[idx], left=self.left[idx], right=self.right[idx],
            vector=self.vector[idx], features=self.features[idx], valid=self.valid[idx],
            reason=tuple(self.reason[i] for i in idx),
        )


# --------------------------------------------------------------------------- encoder protocol


@runtime_checkable
class GazeEncoder(Protocol):
    """What every gaze encoder provides. ``fingerprint`` changes whenever outputs could change
    (weights, preprocessing, code version); caches key on it."""

    name: str
    fingerprint: str
    feature_dim: int

    def encode(self, images: np.ndarray) -> GazeOutput:
        """``images``: uint8 array (N, H, W, 3), RGB."""
        ...


def check_images(images: np.ndarray, who: str) -> np.ndarray:
    """Validate an NHWC uint8 RGB batch (a single HWC image is promoted to a batch of one)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise DfadError(f"{who}.encode: expected uint8 images of shape (N, H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


# --------------------------------------------------------------------------- registry


def _check_factory(name: str, obj: Any) -> Callable[..., Any]:
    if not callable(obj):
        raise TypeError(f"target must be a class or factory called as attr(device=..., **kw), got {type(obj).__name__}")
    return obj


#: Gaze encoders by name -> a class or factory called as ``attr(device=..., **kw)``. Built-ins
#: below; DFAD-Mini's ``gaze-mini`` and outside encoders come through the entry-point group.
GAZE_ENCODERS: Registry[Callable[..., Any]] = Registry(
    "gaze encoder",
    ENTRY_POINT_GROUP,
    check=_check_factory,
    builtins={
        "eth-xgaze": "dfad_bench.perception.gaze.eth_xgaze:EthXGazeEncoder",
        "landmark": "dfad_bench.perception.gaze.landmark:LandmarkGazeEncoder",
    },
)


def register_gaze_encoder(name: str, target: str | Callable[..., Any]) -> None:
    """Register ``name`` -> ``"module:attr"`` (or the class itself); a taken name raises."""
    GAZE_ENCODERS.register(name, target)


def available_gaze_encoders() -> list[str]:
    return GAZE_ENCODERS.names()


def resolve_gaze_encoder(name: str) -> Callable[..., Any]:
    return GAZE_ENCODERS.get(name)


def create_gaze_encoder(name: str, device: str = "cpu", **kwargs: Any) -> GazeEncoder:
    """Build a registered gaze encoder (its module is imported only now)."""
    encoder = resolve_gaze_encoder(name)(device=device, **kwargs)
    if not isinstance(encoder, GazeEncoder):
        raise DfadError(f"gaze encoder {name!r} does not implement GazeEncoder (name, fingerprint, feature_dim, encode)")
    return encoder
