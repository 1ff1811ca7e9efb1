"""The clip-mini pretraining run on :class:`dfad_mini.budget.BudgetedTrainer`: renders and
captions in, fp16 weights, a sidecar and retrieval numbers out; resumable from the work folder."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from dfad_bench.backbones.spec import PROJECT_BACKBONES
from dfad_bench.errors import DfadError
from dfad_mini.budget import BudgetedTrainer
from dfad_mini.clip.data import CHUNK, EVAL_SEED, TRAIN_SEED_BASE, PretrainData, _cached_data, make_data
from dfad_mini.clip.model import (
    ARCH,
    _open_clip_version,
    _preprocess_cfg,
    create_clip_mini_model,
    export_weights,
)
from dfad_mini.clip.objective import _lr_factor, _param_groups, augment, contrastive_loss
from dfad_mini.clip.retrieval import zero_shot_retrieval
from dfad_mini.clip.text import build_text_table


@dataclass(frozen=True)
class PretrainConfig:
    device: str = "cpu"
    steps: int | None = None
    time_budget_s: float | None = None
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_frac: float = 0.05
    n_train: int = 24_000
    eval_n: int = 1024
    eval_candidates: int = 256
    seed: int = 0
    checkpoint_every: int = 250
    data: str = "render"  # 'render' (DFAD-Mini renders) or 'random' (smoke tests only)
    workers: int = 0  # render processes; 0 = min(16, cpu count)
    hard_negatives: bool = True  # each image also sees its caption with one attribute swapped


class ClipMiniTrainer(BudgetedTrainer):
    """One clip-mini run: the time budget counts training time across resumes; a checkpoint of
    another configuration (``fingerprint``) is not resumed."""

    label = "clip-mini"

    def __init__(self, cfg: PretrainConfig, train: PretrainData, ckpt_path: Path, *, out_dir: Path, render_s: float,
                 command: str | None) -> None:
        # clip-mini reads a zero step count or budget as "not given"
        super().__init__(ckpt_path, steps=cfg.steps or None, time_budget_s=cfg.time_budget_s or None,
                         checkpoint_every=cfg.checkpoint_every, log=lambda m: print(m, flush=True))
        self.cfg, self.out_dir, self.render_s, self.command = cfg, out_dir, render_s, command
        self.dev = dev = torch.device(cfg.device)
        self.model = create_clip_mini_model().to(dev)
        self.model.train()
        from open_clip import get_tokenizer

        tokenizer = get_tokenizer(ARCH)
        self.texts, caption_ids, swap_table = build_text_table(train.captions, cfg.hard_negatives)
        self.tokens = torch.cat([tokenizer(self.texts[i : i + 4096]) for i in range(0, len(self.texts), 4096)]).to(dev)
        self.cap_ids = torch.from_numpy(caption_ids).to(dev)
        self.swaps = torch.from_numpy(swap_table).to(dev)
        self.n_captions = len(set(train.captions))
        self.images = torch.from_numpy(train.images).to(dev)  # uint8 NHWC, ~12 KB per image
        self.mean = torch.tensor(self.model.visual.preprocess_cfg["mean"], device=dev).view(1, 3, 1, 1)
        self.std = torch.tensor(self.model.visual.preprocess_cfg["std"], device=dev).view(1, 3, 1, 1)
        self.opt = torch.optim.AdamW(_param_groups(self.model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(cfg.seed)
        self.curve: list[list[float]] = []
        self.fingerprint = {k: v for k, v in asdict(cfg).items()
                            if k not in ("steps", "time_budget_s", "workers", "eval_n", "checkpoint_every")}
        self.amp = dev.type == "cuda"
        self.ema: float | None = None
        self.value = 0.0

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return torch.load(path, map_location=self.dev, weights_only=True)

    def accepts(self, ckpt: Any) -> bool:
        return ckpt.get("config") == self.fingerprint

    def state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "generator": self.gen.get_state(),
                "step": self.step, "trained_s": self.trained_s, "curve": self.curve, "config": self.fingerprint}

    def load_state(self, ckpt: Any) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.gen.set_state(ckpt["generator"].cpu())
        self.step, self.trained_s, self.curve = int(ckpt["step"]), float(ckpt["trained_s"]), [list(x) for x in ckpt["curve"]]

    def train_step(self) -> None:
        cfg, model, gen, dev = self.cfg, self.model, self.gen, self.dev
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * _lr_factor(self.progress(), cfg.warmup_frac)
        idx = torch.randint(0, self.images.shape[0], (cfg.batch_size,), generator=gen, device=dev)
        x = self.images[idx].permute(0, 3, 1, 2).float().div_(255.0)
        x = (augment(x, gen) - self.mean) / self.std
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.amp):
            img = model.encode_image(x, normalize=True)
            ids = self.cap_ids[idx]
            txt = model.encode_text(self.tokens[ids], normalize=True)
            txt_neg = neg = None
            if cfg.hard_negatives:
                options = self.swaps[ids]  # (B, n_swaps), -1 = not applicable
                pick = (torch.rand(options.shape, generator=gen, device=dev) * (options >= 0)).argmax(dim=1)
                neg = options.gather(1, pick[:, None]).squeeze(1)
                neg = torch.where(neg >= 0, neg, ids)  # no swap applies: its own caption, a positive
                txt_neg = model.encode_text(self.tokens[neg], normalize=True).float()
            loss = contrastive_loss(img.float(), txt.float(), ids, model.logit_scale.exp().float(), txt_neg, neg)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        self.value = float(loss.detach())  # syncs the device, so the step time is real

    def after_step(self, last: bool) -> None:
        self.ema = self.value if self.ema is None else 0.95 * self.ema + 0.05 * self.value
        if self.step % 10 == 0 or self.step == 1:
            self.curve.append([self.step, round(self.trained_s, 2), round(self.ema, 4)])
        if self.step % 100 == 0:
            print(f"[clip-mini] step {self.step} loss {self.ema:.3f} T={1 / self.model.logit_scale.exp().item():.4f} "
                  f"{self.trained_s:.0f}s", flush=True)

    def export(self) -> dict[str, Any]:
        """fp16 weights + sidecar in ``out_dir``, then zero-shot retrieval of the exported file."""
        cfg, model = self.cfg, self.model
        model.eval()
        sidecar: dict[str, Any] = {
            "arch": ARCH,
            "config": json.loads(PROJECT_BACKBONES[ARCH].config.read_text()),
            "preprocess_cfg": _preprocess_cfg(model),
            "params": sum(p.numel() for p in model.parameters()),
            "seed": cfg.seed,
            "steps": self.step,
            "train_time_s": round(self.trained_s, 1),
            "render_time_s": round(self.render_s, 1),
            "images_per_s": round(self.step * cfg.batch_size / max(self.trained_s, 1e-9), 1),
            "device": torch.cuda.get_device_name(self.dev) if self.dev.type == "cuda" else "cpu",
            "amp": "bf16" if self.amp else "fp32",
            "command": self.command or "pretrain_clip_mini(...)",
            "hyperparameters": asdict(cfg),
            "data": {
                "kind": cfg.data,
                "source": "dfad_mini.renderer.render_training_set (pristine TRAINING identity pool only)",
                "n_images": cfg.n_train,
                "render_seeds": f"{TRAIN_SEED_BASE + 1000 * cfg.seed}..+{math.ceil(cfg.n_train / CHUNK) - 1} (chunks of {CHUNK})",
                "unique_captions": self.n_captions,
                "hard_negative_texts": len(self.texts) - self.n_captions,
            },
            "loss_curve": _thin(self.curve, 200),
            "versions": {"torch": torch.__version__, "open_clip": _open_clip_version(), "python": sys.version.split()[0]},
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target = export_weights(model, self.out_dir, sidecar)
        # evaluate the exported fp16 file exactly as users load it
        from dfad_bench.atomic import write_json_atomic
        from dfad_bench.backbones.factory import create_backbone

        backbone = create_backbone(f"{ARCH}:{target.resolve()}", device=cfg.device)
        eval_data = make_data(cfg.eval_n, EVAL_SEED, cfg.data, cfg.workers)
        retrieval = zero_shot_retrieval(backbone, data=eval_data, candidates=min(256, cfg.eval_n))
        sidecar = {**json.loads(target.with_suffix(".json").read_text()), "retrieval": retrieval}
        write_json_atomic(target.with_suffix(".json"), sidecar)
        print(f"[clip-mini] wrote {target} ({sidecar['size_bytes'] / 2**20:.2f} MiB); retrieval {json.dumps(retrieval)}", flush=True)
        return sidecar


def pretrain_clip_mini(
    device: str = "cpu",
    steps: int | None = None,
    time_budget_s: float | None = None,
    batch_size: int = 256,
    out_dir: str | Path = ".",
    seed: int = 0,
    resume: bool = True,
    work_dir: str | Path | None = None,
    n_train: int = 24_000,
    eval_n: int = 1024,
    lr: float = 1e-3,
    checkpoint_every: int = 250,
    data: str = "render",
    workers: int = 0,
    hard_negatives: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Train clip-mini until ``steps`` or ``time_budget_s`` (training time, summed over resumes),
    export fp16 weights + sidecar to ``out_dir``, and return the sidecar dict.

    ``work_dir`` (default ``.mini_train/clip-mini``) holds the render cache and ``ckpt.pt``;
    with ``resume`` a run continues from ``ckpt.pt`` when its config matches.
    """
    if steps is None and time_budget_s is None:
        raise DfadError("clip-mini pretraining: give steps or time_budget_s")
    cfg = PretrainConfig(
        device=device, steps=steps, time_budget_s=time_budget_s, batch_size=batch_size, lr=lr,
        n_train=n_train, eval_n=eval_n, seed=seed, checkpoint_every=checkpoint_every, data=data, workers=workers,
        hard_negatives=hard_negatives,
    )
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise DfadError("clip-mini pretraining: --device cuda but torch sees no CUDA device")
    work = Path(work_dir) if work_dir else Path(".mini_train") / ARCH
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    t_render = time.perf_counter()
    train = _cached_data(work, n_train, TRAIN_SEED_BASE + 1000 * seed, data, workers)
    render_s = time.perf_counter() - t_render
    trainer = ClipMiniTrainer(cfg, train, work / "ckpt.pt", out_dir=Path(out_dir), render_s=render_s, command=command)
    return trainer.run(resume=resume)


def _thin(curve: list[list[float]], keep: int) -> list[list[float]]:
    """At most ~``keep`` points, always including the last."""
    if not curve:
        return []
    thinned = curve[:: max(1, len(curve) // keep)]
    return thinned if thinned[-1] is curve[-1] else [*thinned, curve[-1]]
