"""Training one generator (or its autoencoder stage) from a checkpoint to a step count or a time
budget, on :class:`dfad_mini.budget.BudgetedTrainer`."""

from __future__ import annotations

import json
import math
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfad_bench.atomic import write_with_atomic
from dfad_bench.errors import DfadError
from dfad_mini.budget import BudgetedTrainer
from dfad_mini.generators import (
    MiniGeneratorSpec,
    get_mini_spec,
)
from dfad_mini.generators.common import Trainer, images_to_tensor
from dfad_mini.generators.latent import is_latent
from dfad_mini.zoo.data import load_training_images

CKPT_FORMAT = "dfad-mini-train-ckpt/1"
AE_SUFFIX = ":autoencoder"


@dataclass(frozen=True)
class TrainResult:
    name: str
    steps: int
    train_seconds: float
    stopped_by: str  # "steps", "time" or "done" (checkpoint already at the target step)
    checkpoint: Path
    final_losses: Mapping[str, float]
    curve: Sequence[Mapping[str, float]]
    weights: Path | None = None
    components: tuple[TrainResult, ...] = field(default_factory=tuple)


def create_trainer(spec: MiniGeneratorSpec, device: str, amp: bool, component: str = "") -> Trainer:
    from dfad_mini.generators.diffusion import (
        AutoEncoderTrainer,
        DiffusionTrainer,
        LatentDiffusionTrainer,
    )
    from dfad_mini.generators.flow import FlowTrainer, LatentFlowTrainer
    from dfad_mini.generators.gan import GanTrainer

    if component == "autoencoder":
        return AutoEncoderTrainer(spec, device, amp)
    table: Mapping[str, Any] = {
        "dcgan": GanTrainer, "resgan": GanTrainer, "ddpm": DiffusionTrainer, "ldm": LatentDiffusionTrainer,
        "fm-unet": FlowTrainer, "fm-dit": FlowTrainer,
    }
    if is_latent(spec.arch_config):
        table = {**table, "ddpm": LatentDiffusionTrainer, "fm-unet": LatentFlowTrainer, "fm-dit": LatentFlowTrainer}
    if spec.kind not in table:
        raise DfadError(f"{spec.name} is a manipulation built from {spec.base_generator}; it is not trained on its own")
    return table[spec.kind](spec, device, amp)


def _component_seed(seed: int, component: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(component.encode())) % (2**31 - 1)


def _default_out_dir() -> Path:
    from dfad_bench.paths import cache_dir  # platformdirs: imported only when no --out is given

    return cache_dir("mini-train")


def _resolve_amp(device: str, amp: bool | None) -> bool:
    return str(device).startswith("cuda") if amp is None else bool(amp)


def _configure_device(device: str) -> None:
    if str(device).startswith("cuda"):
        if not torch.cuda.is_available():
            raise DfadError("--device cuda was asked for but torch.cuda.is_available() is False")
        # No cudnn.benchmark: on the H200 each generator's first 100 steps ran 2-5x slower than the rest
        # (27 s for mini-resgan), most likely its per-shape autotuning; a large slice of a one-minute
        # budget, for small models that are launch-bound anyway.
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def _save_ckpt(path: Path, obj: Mapping[str, Any]) -> None:
    write_with_atomic(path, lambda tmp: torch.save(dict(obj), tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise DfadError(f"{path}: cannot load training checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise DfadError(f"{path}: not a mini-generator training checkpoint (format {CKPT_FORMAT!r} expected)")
    return ckpt


class GeneratorStage(BudgetedTrainer):
    """One component (a generator or its autoencoder) on the shared loop: sample a batch (uint8
    pixels -> [-1, 1], or prepared float data), one trainer step, log, checkpoint. Its budget is
    per invocation: a resumed run trains ``time_budget_s`` more."""

    budget_spans_resumes = False

    def __init__(
        self, *, component: str, spec: MiniGeneratorSpec, trainer: Trainer, data: torch.Tensor, is_pixels: bool,
        steps: int, batch_size: int, ckpt_path: Path, seed: int, log_every: int, ckpt_every: int,
        time_budget_s: float | None, device: str, extra_meta: Mapping[str, Any], log: Callable[[str], None],
    ) -> None:
        super().__init__(ckpt_path, steps=steps, time_budget_s=time_budget_s, checkpoint_every=ckpt_every, log=log)
        self.label = component
        self.component, self.spec, self.trainer, self.data, self.is_pixels = component, spec, trainer, data, is_pixels
        self.batch_size, self.seed, self.log_every, self.device, self.extra_meta = batch_size, seed, log_every, device, extra_meta
        self.gen = torch.Generator(device=device).manual_seed(_component_seed(seed, component))
        self.curve: list[dict[str, float]] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._t_log = 0.0

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return load_checkpoint(path)

    def state(self) -> dict[str, Any]:
        return {
            "format": CKPT_FORMAT, "name": self.spec.name, "component": self.component, "step": self.step,
            "trainer": self.trainer.state_dict(), "gen_state": self.gen.get_state(), "curve": self.curve,
            "train_seconds": self.trained_s, "seed": self.seed, "device": str(self.device), "batch_size": self.batch_size,
            "meta": json.dumps(dict(self.extra_meta), sort_keys=True),
        }

    def load_state(self, ckpt: Mapping[str, Any]) -> None:
        self.trainer.load_state_dict(ckpt["trainer"])
        self.gen.set_state(ckpt["gen_state"])
        self.step, self.curve, self.trained_s = int(ckpt["step"]), list(ckpt["curve"]), float(ckpt["train_seconds"])

    def train_step(self) -> None:
        if self._t_log == 0.0:  # the session's first step: the first rate counts from here
            self._t_log = time.perf_counter()
        idx = torch.randint(self.data.shape[0], (self.batch_size,), device=self.data.device, generator=self.gen)
        x = images_to_tensor(self.data[idx], self.device) if self.is_pixels else self.data[idx]
        for k, v in self.trainer.train_step(x, self.gen).items():
            v = v.detach() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
            self._sums[k] = self._sums[k] + v if k in self._sums else v
        self._count += 1

    def after_step(self, last: bool) -> None:
        if self.step % self.log_every and not last:
            return
        point = {"step": float(self.step), **{k: float(v) / self._count for k, v in self._sums.items()}}
        if not all(math.isfinite(v) for v in point.values()):
            raise DfadError(f"[{self.component}] non-finite loss at step {self.step}: {point}; lower the learning rate")
        self.curve.append(point)
        now = time.perf_counter()
        rate = self._count / max(now - self._t_log, 1e-9)
        self.log(f"[{self.component}] step {self.step} " + " ".join(f"{k}={v:.4f}" for k, v in point.items() if k != "step")
                 + f" ({rate:.1f} it/s, {self.session_seconds():.0f} s)")
        self._sums, self._count, self._t_log = {}, 0, now


def _run_loop(
    *, component: str, spec: MiniGeneratorSpec, trainer: Trainer, data: torch.Tensor, is_pixels: bool,
    steps: int, batch_size: int, ckpt_path: Path, seed: int, resume: bool, log_every: int, ckpt_every: int,
    time_budget_s: float | None, device: str, extra_meta: Mapping[str, Any], log: Callable[[str], None],
    prepare: Callable[[], torch.Tensor] | None = None,
) -> TrainResult:
    """Resume ``component`` from ``ckpt_path`` and train it to ``steps`` or ``time_budget_s``
    (:class:`GeneratorStage`); ``prepare`` (after the resume) turns the pixels into training data."""
    stage = GeneratorStage(
        component=component, spec=spec, trainer=trainer, data=data, is_pixels=is_pixels, steps=steps,
        batch_size=batch_size, ckpt_path=ckpt_path, seed=seed, log_every=log_every, ckpt_every=ckpt_every,
        time_budget_s=time_budget_s, device=device, extra_meta=extra_meta, log=log,
    )
    if resume:
        stage.resume()
    if prepare is not None:
        stage.data, stage.is_pixels = prepare(), False
    stopped_by = stage.fit()
    if stopped_by == "done":
        log(f"[{component}] checkpoint already at step {stage.step} >= {steps}: nothing to train")
    curve = stage.curve
    return TrainResult(component, stage.step, stage.trained_s, stopped_by, ckpt_path, curve[-1] if curve else {}, curve)


def train_generator(
    name: str,
    *,
    device: str = "cpu",
    steps: int | None = None,
    batch_size: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    resume: bool = True,
    log_every: int = 100,
    ckpt_every: int = 1000,
    time_budget_s: float | None = None,
    images: np.ndarray | None = None,
    n_train: int | None = None,
    data_seed: int = 1000,
    amp: bool | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``name`` (resuming from ``out_dir/<name>/ckpt.pt``); returns where the checkpoint is.

    ``images`` (uint8 (N,64,64,3)) overrides the rendered training set (tests, custom data);
    otherwise ``n_train`` renders of the training pool with ``data_seed`` are used (cached).
    A latent generator first gets its autoencoder (:func:`_autoencoder_stage`), then the denoiser
    trains on the encoded training set.
    """
    spec = get_mini_spec(name)
    if spec.manipulation or spec.train_config is None:
        raise DfadError(f"{name} is a manipulation built from {spec.base_generator}; train {spec.base_generator} instead")
    cfg = spec.train_config
    _configure_device(device)
    amp_on = _resolve_amp(device, amp)
    out = Path(out_dir) if out_dir is not None else _default_out_dir()
    steps = int(steps if steps is not None else cfg.default_steps(device))
    batch_size = int(batch_size if batch_size is not None else cfg.batch_size(device))
    if images is None:
        n_train = n_train or (30000 if str(device).startswith("cuda") else 4000)
        images = load_training_images(n_train, data_seed, out / "data", log=log)
    data = torch.as_tensor(np.ascontiguousarray(images)).to(device)
    meta = {"n_train": int(len(images)), "data_seed": data_seed, "amp_bf16": amp_on, "batch_size": batch_size}
    common = dict(spec=spec, steps=steps, batch_size=batch_size, seed=seed, resume=resume, log_every=log_every,
                  ckpt_every=ckpt_every, device=device, extra_meta=meta, log=log)
    run_dir = out / "ckpt" / name

    components: tuple[TrainResult, ...] = ()
    budget = time_budget_s
    prepare = None
    latent = is_latent(spec.arch_config)
    if latent:
        ae_state, ae_res = _autoencoder_stage(spec, run_dir, out, common, data, budget, amp_on, device, seed, log)
        if ae_res is not None:
            components = (ae_res,)
            if budget is not None:
                budget = max(0.0, budget - (ae_res.train_seconds if ae_res.stopped_by != "done" else 0.0))

    torch.manual_seed(_component_seed(seed, name))
    trainer = create_trainer(spec, device, amp_on)
    if latent:
        trainer.set_autoencoder(ae_state)  # type: ignore[attr-defined]
        prepare = lambda: trainer.prepare(data)  # type: ignore[attr-defined]  # noqa: E731
    res = _run_loop(**common, component=name, trainer=trainer, data=data, is_pixels=True,
                    ckpt_path=run_dir / "ckpt.pt", time_budget_s=budget, prepare=prepare)
    return TrainResult(res.name, res.steps, res.train_seconds + sum(c.train_seconds for c in components), res.stopped_by,
                       res.checkpoint, res.final_losses, res.curve, components=components)


def _autoencoder_stage(
    spec: MiniGeneratorSpec, run_dir: Path, out: Path, common: Mapping[str, Any], data: torch.Tensor,
    budget: float | None, amp_on: bool, device: str, seed: int, log: Callable[[str], None],
) -> tuple[Mapping[str, torch.Tensor], TrainResult | None]:
    """The first stage of a latent generator: train its autoencoder (``ae_steps_ratio`` of the
    steps, ``ae_share`` of the time budget), or, with ``extra.autoencoder_from``, take the one
    another generator trained (the two flow models share one, as a model family shares a VAE)."""
    cfg = spec.train_config
    assert cfg is not None
    source = cfg.extra.get("autoencoder_from")
    if source:
        src_spec = get_mini_spec(source)
        if dict(src_spec.arch_config.get("autoencoder", {})) != dict(spec.arch_config["autoencoder"]):
            raise DfadError(f"{spec.name}: autoencoder_from {source} has another autoencoder architecture")
        path = out / "ckpt" / source / "autoencoder.pt"
        if not path.is_file():
            raise DfadError(f"{spec.name} uses the autoencoder of {source}, but {path} does not exist; "
                            f"train {source} first (same --out)")
        ckpt = load_checkpoint(path)
        log(f"[{spec.name}] autoencoder from {path} (step {ckpt['step']})")
        return ckpt["trainer"]["ae"], None
    ae_path = run_dir / "autoencoder.pt"
    if common["resume"] and (run_dir / "ckpt.pt").is_file() and ae_path.is_file():
        # The denoiser has started on this autoencoder's latents: it stays frozen, or a resumed
        # run (e.g. with a new time budget) would train the denoiser on latents it never saw.
        ckpt = load_checkpoint(ae_path)
        log(f"[{spec.name}] autoencoder frozen at step {ckpt['step']} (the denoiser has started)")
        return ckpt["trainer"]["ae"], TrainResult(spec.name + AE_SUFFIX, int(ckpt["step"]), float(ckpt["train_seconds"]),
                                                 "done", ae_path, ckpt["curve"][-1] if ckpt["curve"] else {}, ckpt["curve"])
    steps = max(1, math.ceil(int(common["steps"]) * float(cfg.extra.get("ae_steps_ratio", 0.5))))
    ae_budget = None if budget is None else budget * float(cfg.extra.get("ae_share", 0.3))
    torch.manual_seed(_component_seed(seed, spec.name + AE_SUFFIX))
    ae_trainer = create_trainer(spec, device, amp_on, component="autoencoder")
    res = _run_loop(**{**common, "steps": steps}, component=spec.name + AE_SUFFIX, trainer=ae_trainer, data=data,
                    is_pixels=True, ckpt_path=ae_path, time_budget_s=ae_budget)
    return ae_trainer.state_dict()["ae"], res  # type: ignore[index]
