"""Training gaze-mini (:mod:`dfad_mini.gaze`) on pristine renders of the training identity pool,
on :class:`dfad_mini.budget.BudgetedTrainer`: ``dfad-bench mini pretrain-gaze`` (or
``python -m dfad_mini.gaze``). Kept apart from the encoder, which sealed model runs import while
this module, like the renderer, is hidden from them."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dfad_bench.atomic import write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.paths import cache_dir
from dfad_bench.perception.gaze.base import angular_error_deg
from dfad_mini.budget import BudgetedTrainer
from dfad_mini.gaze import (
    DEFAULT_CONFIG,
    LABEL_COLUMNS,
    SIZE,
    GazeMiniNet,
    count_params,
    save_gaze_mini,
    to_input,
    weights_dir,
)
from dfad_mini.parallel import map_chunks


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
    parts = map_chunks(_render_chunk, jobs, workers)
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


class GazeMiniTrainer(BudgetedTrainer):
    """One gaze-mini run: smooth L1 on the four angles, cosine learning rate over the step count or
    the time budget (training time summed over resumes), bf16 autocast on CUDA only."""

    label = "gaze-mini"

    def __init__(self, *, train_x: np.ndarray, train_y: np.ndarray, ckpt_path: Path, device: torch.device, seed: int,
                 steps: int, time_budget_s: float | None, batch_size: int, lr: float, ckpt_every: int,
                 config: dict[str, Any], log: Callable[[str], None]) -> None:
        super().__init__(ckpt_path, steps=steps, time_budget_s=time_budget_s, checkpoint_every=ckpt_every, log=log)
        self.train_x, self.train_y, self.dev, self.seed = train_x, train_y, device, seed
        self.batch_size, self.lr = batch_size, lr
        torch.manual_seed(seed)
        self.model = GazeMiniNet(**config).to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-4)
        self.curve: list[list[float]] = []
        self.running: list[float] = []
        self.use_amp = device.type == "cuda"
        self.model.train()

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return torch.load(path, map_location=self.dev, weights_only=True)

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
                "elapsed": self.trained_s, "curve": self.curve}

    def load_state(self, ckpt: Any) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
        self.step, self.trained_s, self.curve = int(ckpt["step"]), float(ckpt["elapsed"]), [list(x) for x in ckpt["curve"]]

    def train_step(self) -> None:
        rng = np.random.default_rng([self.seed, self.step])  # the batch depends on the step only: resumable
        idx = rng.integers(0, len(self.train_x), size=self.batch_size)
        xb, yb = augment(self.train_x[idx], self.train_y[idx], rng)
        x = to_input(xb, self.dev)
        y = torch.as_tensor(yb, device=self.dev)
        for group in self.opt.param_groups:
            group["lr"] = _lr_at(self.progress(), self.step, self.lr)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.use_amp):
            pred = self.model(x)
        loss = F.smooth_l1_loss(pred.float(), y, beta=0.05)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.running.append(float(loss.detach()))

    def after_step(self, last: bool) -> None:
        if self.step % 25 == 0 or self.step == self.max_steps:
            self.curve.append([self.step, float(np.mean(self.running))])
            self.running = []
        if self.step % 200 == 0:
            self.log(f"gaze-mini: step {self.step} loss {self.curve[-1][1]:.4f} ({self.trained_s:.0f}s)")

    def fit(self) -> str:
        stopped_by = super().fit()
        if self.running:  # the loss of the steps since the last curve point
            self.curve.append([self.step, float(np.mean(self.running))])
            self.running = []
        return stopped_by


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

    trainer = GazeMiniTrainer(
        train_x=train_x, train_y=train_y, ckpt_path=ckpt_path, device=dev, seed=seed,
        steps=int(steps) if steps is not None else 10**9, time_budget_s=time_budget_s, batch_size=batch_size, lr=lr,
        ckpt_every=ckpt_every, config=config, log=log,
    )
    if resume:
        trainer.resume()
    trainer.fit()
    model, step, curve = trainer.model, trainer.step, trainer.curve

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
        "amp": "bf16 autocast" if trainer.use_amp else "none (fp32)",
        "torch": torch.__version__,
        "command": command or " ".join([Path(sys.executable).name, *sys.argv]),
        "data": {
            "source": "dfad_mini.renderer.render_training_set (training identity pool)",
            "n_train": n_train, "n_val": n_val, "train_seed": seed, "val_seed": seed + 7919,
            "augmentation": "mirror with eye swap + yaw sign flip, +-3 px shift, colour gain",
        },
        "train_time_s": round(trainer.trained_s, 1),
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
