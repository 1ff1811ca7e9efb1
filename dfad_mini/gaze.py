"""``gaze-mini``: a small CNN that regresses per-eye gaze from 64x64 DFAD-Mini faces.

Trained by this project's code (:func:`dfad_mini.gaze_train.pretrain_gaze_mini`) on pristine renders of the mini
world's TRAINING identity pool (``render_training_set``), whose ground truth holds each eye's
(pitch, yaw). The network (452k parameters) outputs (left pitch, left yaw, right pitch,
right yaw) in radians; the overall gaze is the mean of the two eyes' angles; the 128-d
penultimate activation is the feature vector.

It has no face detector: it assumes DFAD-Mini-style face-centred images (other sizes are
area-resized to 64x64), so every output is marked valid. Use ``eth-xgaze`` or ``landmark`` on
photographs.

Training (:mod:`dfad_mini.gaze_train`, not imported here: sealed model runs import this module
while the training code is hidden from them): ``dfad-bench mini pretrain-gaze --device cuda
--time-budget-s 60 --out DIR``, or ``python -m dfad_mini.gaze`` with the same options.
bf16 autocast on CUDA only; checkpoints every ``ckpt_every`` steps and resumes from them; exports
fp16 safetensors ``DIR/gaze-mini.safetensors`` + sidecar ``DIR/gaze-mini.json`` (config, seed,
steps, device, command, loss curve, held-out angular error in degrees measured on the exported
fp16 weights).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256
from dfad_bench.perception.gaze.base import GazeOutput, check_images

FORMAT = "dfad-mini-gaze/1"
CODE_VERSION = "gaze-mini-v1"
SIZE = 64
LABEL_COLUMNS = ("gaze_left_pitch", "gaze_left_yaw", "gaze_right_pitch", "gaze_right_yaw")
DEFAULT_CONFIG: dict[str, Any] = {"stem": 24, "stem_stride": 1, "widths": [32, 48, 64, 96], "feature_dim": 128}


def weights_dir() -> Path:
    from dfad_mini.plugin import weights_dir as mini_weights_dir

    return mini_weights_dir()


def default_weights_path() -> Path:
    return weights_dir() / "gaze-mini.safetensors"


# --------------------------------------------------------------------------- network


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class GazeMiniNet(nn.Module):
    """stem conv (stride 1 or 2) -> stages (stride-2 conv + conv) down to 4x4 -> flatten -> feature -> 4 angles.

    Flattening (not global pooling) keeps where things are: the two eyes sit at fixed places.
    """

    def __init__(self, stem: int = 24, stem_stride: int = 2, widths: Sequence[int] = (32, 48, 64),
                 feature_dim: int = 128) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv(3, stem, stem_stride)]
        cin = stem
        for w in widths:
            layers += [_conv(cin, w, 2), _conv(w, w, 1)]
            cin = w
        self.body = nn.Sequential(*layers)
        side = SIZE // (stem_stride * 2 ** len(widths))
        self.fc = nn.Linear(cin * side * side, feature_dim)
        self.head = nn.Linear(feature_dim, 4)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, 3, 64, 64) scaled by :func:`to_input`."""
        return F.relu(self.fc(self.body(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def to_input(images: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 NHWC -> float NCHW roughly in [-2, 2]."""
    t = torch.as_tensor(images, device=device).permute(0, 3, 1, 2).float()
    return (t / 255.0 - 0.5) / 0.25


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- weight files


def save_gaze_mini(path: Path, model: GazeMiniNet, config: dict[str, Any], sidecar: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    tensors = {
        k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    meta = {"format": FORMAT, "config": json.dumps(config, sort_keys=True)}
    write_with_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    side = dict(sidecar, weights_file=path.name, weights_sha256=sha256(path),
                format=FORMAT, config=config)
    write_json_atomic(path.with_suffix(".json"), side)
    return path


def load_gaze_mini(path: Path, device: torch.device | str = "cpu") -> tuple[GazeMiniNet, dict[str, Any]]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        raise DfadError(
            f"{path}: gaze-mini weights not found; train them with "
            f"`python -m dfad_mini.gaze --out {path.parent}`"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise DfadError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT or "config" not in meta:
        raise DfadError(f"{path}: metadata format is {meta.get('format')!r}, expected {FORMAT!r}")
    config = json.loads(meta["config"])
    model = GazeMiniNet(**config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DfadError(f"{path}: weights do not match GazeMiniNet{config}: {str(exc).splitlines()[0]}") from exc
    return model.to(device).eval(), config


# --------------------------------------------------------------------------- encoder


class GazeMiniEncoder:
    name = "gaze-mini"

    def __init__(self, device: str = "cpu", weights: Path | None = None, batch_size: int = 256) -> None:
        path = Path(weights) if weights is not None else default_weights_path()
        self.device = torch.device(device)
        self.model, self.config = load_gaze_mini(path, self.device)
        self.feature_dim = int(self.config["feature_dim"])
        self.batch_size = int(batch_size)
        self.fingerprint = f"{CODE_VERSION}:{sha256(path)[:12]}"

    @torch.inference_mode()
    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) angles (left pitch, left yaw, right pitch, right yaw) and (N, D) features."""
        images = check_images(images, self.name)
        if images.shape[1:3] != (SIZE, SIZE):
            import cv2

            images = np.stack([cv2.resize(im, (SIZE, SIZE), interpolation=cv2.INTER_AREA) for im in images])
        angles, feats = [], []
        for start in range(0, len(images), self.batch_size):
            f = self.model.forward_features(to_input(images[start : start + self.batch_size], self.device))
            angles.append(self.model.head(f).float().cpu().numpy())
            feats.append(f.float().cpu().numpy())
        if not angles:
            return np.zeros((0, 4)), np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(angles).astype(np.float64), np.concatenate(feats)

    def encode(self, images: np.ndarray) -> GazeOutput:
        angles, feats = self.predict(images)
        n = len(angles)
        return GazeOutput.build(angles[:, 0:2], angles[:, 2:4], feats, np.ones(n, bool), ["ok"] * n)



# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dfad_mini.gaze ARGS``: the same command as ``dfad-bench mini pretrain-gaze ARGS``."""
    from dfad_mini.cli import run_subcommand

    return run_subcommand("pretrain-gaze", argv, prog="python -m dfad_mini.gaze")


if __name__ == "__main__":
    raise SystemExit(main())
