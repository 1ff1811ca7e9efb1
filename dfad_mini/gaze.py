"""``gaze-mini``: a small CNN that regresses per-eye gaze from 64x64 DFAD-Mini faces.

Trained by this project's code (:func:`pretrain_gaze_mini`) on pristine renders of the mini
world's TRAINING identity pool (``render_training_set``), whose ground truth holds each eye's
(pitch, yaw). The network (452k parameters) outputs (left pitch, left yaw, right pitch,
right yaw) in radians; the overall gaze is the mean of the two eyes' angles; the 128-d
penultimate activation is the feature vector.

It has no face detector: it assumes DFAD-Mini-style face-centred images (other sizes are
area-resized to 64x64), so every output is marked valid. Use ``eth-xgaze`` or ``landmark`` on
photographs.

Training: ``python -m dfad_mini.gaze --device cuda --time-budget-s 60 --out DIR``.
bf16 autocast on CUDA only; checkpoints every ``ckpt_every`` steps and resumes from them; exports
fp16 safetensors ``DIR/gaze-mini.safetensors`` + sidecar ``DIR/gaze-mini.json`` (config, seed,
steps, device, command, loss curve, held-out angular error in degrees measured on the exported
fp16 weights).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256
from dfad_bench.paths import cache_dir
from dfad_bench.perception.gaze.base import GazeOutput, angular_error_deg, check_images

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


# --------------------------------------------------------------------------- data


def _render_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from dfad_mini.renderer import render_training_set

    n, seed = args
    batch = render_training_set(n, seed=seed)
    missing = [c for c in LABEL_COLUMNS if c not in batch.params.columns]
    if missing:
        raise DfadError(f"render_training_set: params lack gaze columns {missing}")
    labels = np.stack([batch.params[c].to_numpy(dtype=np.float32) for c in LABEL_COLUMNS], axis=1)
    return batch.images, labels


def render_pool(n: int, seed: int, workers: int = 1, chunk: int = 256, log: Callable[[str], None] = print) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training renders with per-eye labels, rendered in chunks (seeds ``seed*100003 + k``) and cached on disk."""
    path = cache_dir("gaze-mini") / f"pool-n{n}-s{seed}-c{chunk}.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["images"], data["labels"]
    jobs = [(min(chunk, n - start), seed * 100003 + k) for k, start in enumerate(range(0, n, chunk))]
    t0 = time.time()
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(_render_chunk, jobs))
    else:
        parts = [_render_chunk(j) for j in jobs]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    log(f"gaze-mini: rendered {n} faces (seed {seed}) in {time.time() - t0:.1f}s with {workers} worker(s)")

    def _save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, images=images, labels=labels)

    write_with_atomic(path, _save)
    return images, labels


def augment(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mirror half the batch (the eyes swap roles and yaws change sign), shift by up to 3 px, jitter colour."""
    images = images.copy()
    labels = labels.copy()
    flip = rng.random(len(images)) < 0.5
    images[flip] = images[flip, :, ::-1]
    swapped = labels[flip][:, [2, 3, 0, 1]]
    swapped[:, [1, 3]] *= -1.0
    labels[flip] = swapped
    pad = 3
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    dx, dy = rng.integers(0, 2 * pad + 1, size=(2, len(images)))
    for i in range(len(images)):
        images[i] = padded[i, dy[i] : dy[i] + SIZE, dx[i] : dx[i] + SIZE]
    gain = rng.uniform(0.8, 1.2, size=(len(images), 1, 1, 3)) * rng.uniform(0.85, 1.15, size=(len(images), 1, 1, 1))
    images = np.clip(images.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return images, labels


# --------------------------------------------------------------------------- training


def heldout_error(model: GazeMiniNet, images: np.ndarray, labels: np.ndarray, device: torch.device) -> dict[str, float]:
    """Angular errors in degrees on held-out renders: per eye, overall (mean angles), and median."""
    model.eval()
    preds = []
    with torch.inference_mode():
        for start in range(0, len(images), 512):
            preds.append(model(to_input(images[start : start + 512], device)).float().cpu().numpy())
    p = np.concatenate(preds).astype(np.float64)
    y = labels.astype(np.float64)
    left = angular_error_deg(p[:, 0:2], y[:, 0:2])
    right = angular_error_deg(p[:, 2:4], y[:, 2:4])
    overall = angular_error_deg(0.5 * (p[:, 0:2] + p[:, 2:4]), 0.5 * (y[:, 0:2] + y[:, 2:4]))
    # Baseline to judge against: always predicting the training mean direction.
    return {
        "left_mean": float(left.mean()), "right_mean": float(right.mean()),
        "overall_mean": float(overall.mean()), "overall_median": float(np.median(overall)),
        "n": len(y),
    }


def _lr_at(progress: float, step: int, base_lr: float, warmup: int = 50) -> float:
    warm = min(1.0, (step + 1) / warmup)
    return base_lr * warm * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def pretrain_gaze_mini(
    device: str = "cpu",
    steps: int | None = None,
    time_budget_s: float | None = None,
    batch_size: int = 128,
    out_path: str | Path | None = None,
    seed: int = 0,
    resume: bool = True,
    n_train: int = 8192,
    n_val: int = 1024,
    lr: float = 2e-3,
    ckpt_every: int = 200,
    ckpt_dir: str | Path | None = None,
    workers: int = 1,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train gaze-mini and export it; returns the sidecar dict.

    ``steps`` caps the number of optimiser steps, ``time_budget_s`` the training-loop wall time
    (accumulated over resumes; rendering the data pool, cached on disk, is not counted); at least
    one of them must be given (default: 2000 steps). ``out_path``: a folder (the file is then
    ``gaze-mini.safetensors`` in it) or a ``.safetensors`` path; default the package's mini weights.
    """
    if steps is None and time_budget_s is None:
        steps = 2000
    max_steps = int(steps) if steps is not None else 10**9
    budget = float(time_budget_s) if time_budget_s is not None else math.inf
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DfadError("pretrain_gaze_mini: device 'cuda' requested but CUDA is not available")
    out = Path(out_path) if out_path is not None else weights_dir()
    target = out if out.suffix == ".safetensors" else out / "gaze-mini.safetensors"
    config = dict(DEFAULT_CONFIG)
    ckpt_root = Path(ckpt_dir) if ckpt_dir is not None else cache_dir("checkpoints", "gaze-mini")
    ckpt_path = ckpt_root / f"gaze-mini-s{seed}-n{n_train}-b{batch_size}.pt"

    # Data first, before CUDA is touched (render workers are spawned processes).
    t_render = time.time()
    train_x, train_y = render_pool(n_train, seed=seed, workers=workers, log=log)
    val_x, val_y = render_pool(n_val, seed=seed + 7919, workers=workers, log=log)
    render_s = time.time() - t_render

    torch.manual_seed(seed)
    model = GazeMiniNet(**config).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    step, elapsed, curve = 0, 0.0, []
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed, curve = int(state["step"]), float(state["elapsed"]), [list(x) for x in state["curve"]]
        log(f"gaze-mini: resumed from {ckpt_path} at step {step} ({elapsed:.0f}s trained)")

    def save_ckpt() -> None:
        payload = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed, "curve": curve}
        write_with_atomic(ckpt_path, lambda tmp: torch.save(payload, tmp))

    use_amp = dev.type == "cuda"
    running, t_last = [], time.time()
    model.train()
    while step < max_steps and elapsed < budget:
        rng = np.random.default_rng([seed, step])
        idx = rng.integers(0, len(train_x), size=batch_size)
        xb, yb = augment(train_x[idx], train_y[idx], rng)
        x = to_input(xb, dev)
        y = torch.as_tensor(yb, device=dev)
        progress = max(step / max_steps, elapsed / budget if math.isfinite(budget) else 0.0)
        for group in opt.param_groups:
            group["lr"] = _lr_at(progress, step, lr)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            pred = model(x)
        loss = F.smooth_l1_loss(pred.float(), y, beta=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        running.append(float(loss.detach()))
        now = time.time()
        elapsed += now - t_last
        t_last = now
        if step % 25 == 0 or step == max_steps:
            curve.append([step, float(np.mean(running))])
            running = []
        if step % ckpt_every == 0:
            save_ckpt()
        if step % 200 == 0:
            log(f"gaze-mini: step {step} loss {curve[-1][1]:.4f} ({elapsed:.0f}s)")
    if running:
        curve.append([step, float(np.mean(running))])
    save_ckpt()

    # Held-out error of the weights as shipped (fp16 round trip).
    half = GazeMiniNet(**config)
    half.load_state_dict({k: (v.half().float() if v.is_floating_point() else v) for k, v in model.state_dict().items()})
    err = heldout_error(half.to(dev), val_x, val_y, dev)
    mean_dir = np.tile(train_y.mean(axis=0), (len(val_y), 1))
    baseline = angular_error_deg(0.5 * (mean_dir[:, 0:2] + mean_dir[:, 2:4]), 0.5 * (val_y[:, 0:2] + val_y[:, 2:4]))
    stride = max(1, len(curve) // 200)
    sidecar = {
        "model": "gaze-mini",
        "params": count_params(model),
        "seed": seed,
        "steps": step,
        "batch_size": batch_size,
        "lr": lr,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
        "amp": "bf16 autocast" if use_amp else "none (fp32)",
        "torch": torch.__version__,
        "command": command or " ".join([Path(sys.executable).name, *sys.argv]),
        "data": {
            "source": "dfad_mini.renderer.render_training_set (training identity pool)",
            "n_train": n_train, "n_val": n_val, "train_seed": seed, "val_seed": seed + 7919,
            "augmentation": "mirror with eye swap + yaw sign flip, +-3 px shift, colour gain",
        },
        "train_time_s": round(elapsed, 1),
        "render_time_s": round(render_s, 1),
        "loss": "smooth L1 (beta 0.05) on radians",
        "loss_curve": curve[::stride],
        "heldout_angular_error_deg": err,
        "heldout_baseline_mean_direction_deg": float(baseline.mean()),
    }
    save_gaze_mini(target, half.cpu(), config, sidecar)
    log(f"gaze-mini: {step} steps, held-out overall error {err['overall_mean']:.2f} deg "
        f"(mean-direction baseline {baseline.mean():.2f}) -> {target}")
    return sidecar


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dfad_mini.gaze ARGS``: the same command as ``dfad-bench mini pretrain-gaze ARGS``."""
    from dfad_mini.cli import run_subcommand

    return run_subcommand("pretrain-gaze", argv, prog="python -m dfad_mini.gaze")


if __name__ == "__main__":
    raise SystemExit(main())
