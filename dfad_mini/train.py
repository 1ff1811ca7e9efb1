"""Train the DFAD-Mini generator zoo on rendered training faces, checkpoint/resume, export weights.

    python -m dfad_mini.train --device cuda --all --total-time-s 420 --out /tmp/mini-zoo --bundle $OUT
    python -m dfad_mini.train --only mini-ddpm --time-budget-s 600          # CPU, slow

Every generator trains from the same in-memory training set (renders of the training identity
pool, never the benchmark's identities), held on the device as uint8. Checkpoints hold the full
state (models, optimisers, EMA, step, RNG, loss curve), so an interrupted run resumes where it
stopped and a resumed run equals an uninterrupted one. Exported weights are fp16 safetensors
with a JSON sidecar (config, seed, steps, device, versions, exact command, loss curve).

This module imports nothing outside torch/numpy/PIL (+ the renderer) at import time; its command
line (:mod:`dfad_mini.cli`) adds typer and rich, so the GPU machine, which lacks some of the
project's dependencies, can run it from a plain checkout with those two.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tarfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_mini.generators import (
    MiniGeneratorSpec,
    get_mini_spec,
    load_mini_generator,
    trainable_generators,
)
from dfad_mini.generators.common import Trainer, count_params, images_to_tensor
from dfad_mini.generators.latent import is_latent
from dfad_mini.generators.weightfile import save_weights

CKPT_FORMAT = "dfad-mini-train-ckpt/1"
AE_SUFFIX = ":autoencoder"
#: Seconds kept back per generator in ``train_all`` for export, a sample grid and bookkeeping.
EXPORT_RESERVE_S = {"cuda": 6.0, "cpu": 20.0}


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


# ----------------------------------------------------------------------------- training data


def render_training_images(n: int, seed: int, workers: int = 1, ids_per_task: int = 64) -> np.ndarray:
    """``render_training_set(n, seed).images``; with ``workers`` > 1 the identities are rendered in
    parallel processes (each image's RNG is keyed by identity and view, so the result is the same;
    a test checks it)."""
    from dfad_mini import renderer

    per_id = 4
    ids = renderer.sample_identities(math.ceil(n / per_id), seed, prefix="train-id")
    chunks = [ids[i:i + ids_per_task] for i in range(0, len(ids), ids_per_task)]
    if workers <= 1 or len(chunks) <= 1:
        return renderer.render_training_set(n, seed, images_per_identity=per_id).images
    import multiprocessing as mp

    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(workers) as pool:
        parts = pool.starmap(_render_chunk, [(c, per_id, seed) for c in chunks])
    return np.concatenate(parts)[:n]


def _render_chunk(ids: Sequence[Any], per_id: int, seed: int) -> np.ndarray:
    from dfad_mini import renderer

    return renderer.render_faces(ids, per_id, seed=seed).images


def load_training_images(n: int, seed: int, cache_dir: Path | None, workers: int = 1,
                         log: Callable[[str], None] = print) -> np.ndarray:
    """Rendered training images, cached as .npy in ``cache_dir`` keyed by (n, seed, renderer source hash)."""
    from dfad_mini import renderer

    here = Path(renderer.__file__)
    src = b"".join(p.read_bytes() for p in [here, *sorted(here.parent.glob("face_*.py"))])
    key = hashlib.sha256(src).hexdigest()[:12]
    path = cache_dir / f"train-images-n{n}-seed{seed}-{key}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        images = np.load(path)
        log(f"[data] {len(images)} training images from {path}")
        return images
    t0 = time.perf_counter()
    images = render_training_images(n, seed, workers)
    log(f"[data] rendered {len(images)} training images in {time.perf_counter() - t0:.1f} s ({workers} workers)")
    if path is not None:
        write_with_atomic(path, lambda tmp: np.save(tmp.open("wb"), images))
    return images


# ----------------------------------------------------------------------------- trainers


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


def _run_loop(
    *, component: str, spec: MiniGeneratorSpec, trainer: Trainer, data: torch.Tensor, is_pixels: bool,
    steps: int, batch_size: int, ckpt_path: Path, seed: int, resume: bool, log_every: int, ckpt_every: int,
    time_budget_s: float | None, device: str, extra_meta: Mapping[str, Any], log: Callable[[str], None],
    prepare: Callable[[], torch.Tensor] | None = None,
) -> TrainResult:
    """The shared loop: sample a batch (uint8 pixels -> [-1, 1], or prepared float data), one
    trainer step, log, checkpoint; stop at ``steps`` or when ``time_budget_s`` is spent."""
    gen = torch.Generator(device=device).manual_seed(_component_seed(seed, component))
    step, curve, seconds_before = 0, [], 0.0
    if resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        trainer.load_state_dict(ckpt["trainer"])
        gen.set_state(ckpt["gen_state"])
        step, curve, seconds_before = int(ckpt["step"]), list(ckpt["curve"]), float(ckpt["train_seconds"])
        log(f"[{component}] resumed from {ckpt_path} at step {step}")
    if prepare is not None:
        data = prepare()
        is_pixels = False

    t_start = time.perf_counter()

    def checkpoint() -> None:
        seconds = seconds_before + (time.perf_counter() - t_start)
        _save_ckpt(ckpt_path, {
            "format": CKPT_FORMAT, "name": spec.name, "component": component, "step": step,
            "trainer": trainer.state_dict(), "gen_state": gen.get_state(), "curve": curve,
            "train_seconds": seconds, "seed": seed, "device": str(device), "batch_size": batch_size,
            "meta": json.dumps(dict(extra_meta), sort_keys=True),
        })

    if step >= steps:
        log(f"[{component}] checkpoint already at step {step} >= {steps}: nothing to train")
        return TrainResult(component, step, seconds_before, "done", ckpt_path, curve[-1] if curve else {}, curve)

    n = data.shape[0]
    sums: dict[str, torch.Tensor] = {}
    count = 0
    t_start = time.perf_counter()
    t_log = t_start
    stopped_by = "steps"
    while step < steps:
        idx = torch.randint(n, (batch_size,), device=data.device, generator=gen)
        x = images_to_tensor(data[idx], device) if is_pixels else data[idx]
        losses = trainer.train_step(x, gen)
        step += 1
        count += 1
        for k, v in losses.items():
            v = v.detach() if isinstance(v, torch.Tensor) else torch.tensor(float(v))
            sums[k] = sums[k] + v if k in sums else v
        elapsed = time.perf_counter() - t_start
        out_of_time = time_budget_s is not None and elapsed >= time_budget_s
        if step % log_every == 0 or step >= steps or out_of_time:
            point = {"step": float(step), **{k: float(v) / count for k, v in sums.items()}}
            if not all(math.isfinite(v) for v in point.values()):
                raise DfadError(f"[{component}] non-finite loss at step {step}: {point}; lower the learning rate")
            curve.append(point)
            now = time.perf_counter()
            rate = count / max(now - t_log, 1e-9)
            log(f"[{component}] step {step} " + " ".join(f"{k}={v:.4f}" for k, v in point.items() if k != "step")
                + f" ({rate:.1f} it/s, {elapsed:.0f} s)")
            sums, count, t_log = {}, 0, now
        if out_of_time:
            stopped_by = "time"
            break
        if step % ckpt_every == 0 and step < steps:
            checkpoint()
    checkpoint()
    seconds = seconds_before + (time.perf_counter() - t_start)
    return TrainResult(component, step, seconds, stopped_by, ckpt_path, curve[-1] if curve else {}, curve)


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


# ----------------------------------------------------------------------------- export


def _subsample(curve: Sequence[Mapping[str, float]], max_points: int = 200) -> list[dict[str, float]]:
    if len(curve) <= max_points:
        return [dict(p) for p in curve]
    idx = np.unique(np.linspace(0, len(curve) - 1, max_points).round().astype(int))
    return [dict(curve[i]) for i in idx]


def export_weights(name: str, ckpt: str | os.PathLike[str], weights_dir: str | os.PathLike[str], *,
                   command: str | None = None, device: str = "cpu") -> Path:
    """Write ``<weights_dir>/<name>.safetensors`` (fp16, sampling weights only: EMA where trained
    with one, BatchNorm recalibrated for GANs) and its JSON sidecar, from a training checkpoint."""
    spec = get_mini_spec(name)
    ckpt_path = Path(ckpt)
    state = load_checkpoint(ckpt_path)
    if state["name"] != name or state["component"] != name:
        raise DfadError(f"{ckpt_path}: checkpoint is for {state['component']!r}, expected {name!r}")
    torch.manual_seed(0)
    trainer = create_trainer(spec, device, amp=False)
    trainer.load_state_dict(state["trainer"])
    tensors, config = trainer.export()
    meta = json.loads(state["meta"])
    components = {}
    ae_ckpt = ckpt_path.with_name("autoencoder.pt")
    source = spec.train_config.extra.get("autoencoder_from") if spec.train_config else None
    if source:
        components["autoencoder"] = {"from": source}
    elif is_latent(spec.arch_config) and ae_ckpt.is_file():
        ae = load_checkpoint(ae_ckpt)
        components["autoencoder"] = {"steps": ae["step"], "train_seconds": ae["train_seconds"],
                                     "loss_curve": _subsample(ae["curve"])}
    n_params = sum(int(v.numel()) for v in tensors.values() if v.is_floating_point())
    sidecar = {
        "name": name, "family": spec.family, "forgery_type": spec.forgery_type, "kind": spec.kind,
        "description": spec.description, "reference": spec.reference,
        "train_config": _jsonable(asdict(spec.train_config)) if spec.train_config else None,
        "sampler_config": dict(spec.sampler_config), "seed": state["seed"], "steps": state["step"],
        "batch_size": state["batch_size"], "device": state["device"], "device_name": meta.get("device_name"),
        "torch_version": torch.__version__, "command": command or meta.get("command"),
        "train_seconds": round(float(state["train_seconds"]) + sum(c.get("train_seconds", 0.0) for c in components.values()), 2),
        "training_data": {"renderer": "dfad_mini.renderer.render_training_set", "n": meta.get("n_train"),
                          "seed": meta.get("data_seed"), "identity_pool": "train-id"},
        "amp_bf16": meta.get("amp_bf16"), "n_params": n_params, "loss_curve": _subsample(state["curve"]),
        "components": components,
        "exported_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return save_weights(Path(weights_dir) / str(spec.weights_file), tensors, config, sidecar)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: dict(o) if isinstance(o, Mapping) else str(o)))


def save_grid(images: np.ndarray, path: Path, cols: int = 8, scale: int = 2) -> Path:
    from PIL import Image

    n = len(images)
    rows = math.ceil(n / cols)
    canvas = np.full((rows * 64, cols * 64, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64] = img
    pil = Image.fromarray(canvas)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    write_with_atomic(path, lambda tmp: pil.save(tmp, format="PNG"))
    return path


def save_curve_plot(curves: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        pts = curves[name]
        for key in sorted({k for p in pts for k in p if k != "step"}):
            ax.plot([p["step"] for p in pts if key in p], [p[key] for p in pts if key in p], label=key, lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_with_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- the zoo


def train_all(
    names: Sequence[str] | None = None,
    *,
    device: str = "cpu",
    steps: int | None = None,
    batch_size: int | None = None,
    time_budget_s: float | None = None,
    total_time_s: float | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    resume: bool = True,
    log_every: int = 100,
    ckpt_every: int = 1000,
    n_train: int | None = None,
    data_seed: int = 1000,
    workers: int = 1,
    amp: bool | None = None,
    grid_samples: int = 64,
    command: str | None = None,
    images: np.ndarray | None = None,
    keep_going: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, TrainResult]:
    """Train ``names`` (default: all six) in sequence, export each, write sample grids and a summary.

    ``total_time_s`` bounds the whole call (rendering and exports included): after the data is
    ready, each generator gets the remaining time times its ``time_share`` over the remaining
    shares, minus a fixed export reserve; ``time_budget_s`` instead gives each the same budget.
    ``keep_going``: a generator that fails is recorded in the summary and the others still train
    (a DfadError listing the failures is raised at the end).
    """
    t0 = time.perf_counter()
    names = list(names) if names else trainable_generators()
    specs = [get_mini_spec(n) for n in names]
    for s in specs:
        if s.manipulation:
            raise DfadError(f"{s.name} is a manipulation built from {s.base_generator}; it has no weights to train")
    out = Path(out_dir) if out_dir is not None else _default_out_dir()
    wdir = Path(weights_dir) if weights_dir is not None else out / "weights"
    grid_dir = out / "grids"
    if images is None:
        n_train = n_train or (30000 if str(device).startswith("cuda") else 4000)
        images = load_training_images(n_train, data_seed, out / "data", workers=workers, log=log)
    if grid_samples > 0:
        save_grid(images[:grid_samples], grid_dir / "real.png")
    device_name = torch.cuda.get_device_name(0) if str(device).startswith("cuda") and torch.cuda.is_available() else "cpu"
    reserve = EXPORT_RESERVE_S["cuda" if str(device).startswith("cuda") else "cpu"]

    results: dict[str, TrainResult] = {}
    summary: dict[str, Any] = {"device": device, "device_name": device_name, "torch_version": torch.__version__,
                               "command": command, "n_train": int(len(images)), "generators": {}}
    failures: dict[str, str] = {}
    for i, spec in enumerate(specs):
        budget = time_budget_s
        if total_time_s is not None:
            left = total_time_s - (time.perf_counter() - t0) - reserve * (len(specs) - i) - 2.0
            shares = [s.train_config.time_share for s in specs[i:]]  # type: ignore[union-attr]
            budget = max(5.0, left * shares[0] / sum(shares))
            log(f"[zoo] {spec.name}: time budget {budget:.0f} s ({time.perf_counter() - t0:.0f} s elapsed)")
        try:
            results[spec.name], summary["generators"][spec.name] = _train_export_one(
                spec, device=device, steps=steps, batch_size=batch_size, out=out, wdir=wdir, grid_dir=grid_dir,
                seed=seed, resume=resume, log_every=log_every, ckpt_every=ckpt_every, budget=budget, images=images,
                data_seed=data_seed, amp=amp, grid_samples=grid_samples, command=command, device_name=device_name,
                log=log,
            )
        except (DfadError, RuntimeError, ValueError, OSError) as exc:
            if not keep_going:
                raise
            failures[spec.name] = f"{type(exc).__name__}: {exc}"
            summary["generators"][spec.name] = {"error": failures[spec.name]}
            log(f"[zoo] {spec.name} FAILED ({failures[spec.name]}); going on with the next generator")
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    curves = {n: r.curve for n, r in results.items()}
    for r in results.values():
        for c in r.components:
            curves[c.name.replace(AE_SUFFIX, "-ae")] = c.curve
    save_curve_plot(curves, grid_dir / "loss_curves.png")
    write_json_atomic(out / "summary.json", summary)
    if failures:
        raise DfadError(f"{len(failures)} generator(s) failed: " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    return results


def _train_export_one(
    spec: MiniGeneratorSpec, *, device: str, steps: int | None, batch_size: int | None, out: Path, wdir: Path,
    grid_dir: Path, seed: int, resume: bool, log_every: int, ckpt_every: int, budget: float | None,
    images: np.ndarray, data_seed: int, amp: bool | None, grid_samples: int, command: str | None,
    device_name: str, log: Callable[[str], None],
) -> tuple[TrainResult, dict[str, Any]]:
    """Train one generator, export its weights, sample a grid from the exported file."""
    res = train_generator(
        spec.name, device=device, steps=steps, batch_size=batch_size, out_dir=out, seed=seed, resume=resume,
        log_every=log_every, ckpt_every=ckpt_every, time_budget_s=budget, images=images, data_seed=data_seed,
        amp=amp, log=log,
    )
    _stamp_meta(res.checkpoint, {"command": command, "device_name": device_name})
    t_exp = time.perf_counter()
    wpath = export_weights(spec.name, res.checkpoint, wdir, command=command, device=device)
    gen = load_mini_generator(spec.name, device=device, weights_dir=wdir)
    sample_s = None
    if grid_samples > 0:  # --grid-samples 0: no sample grids
        t_s = time.perf_counter()
        samples = gen.sample(grid_samples, seed=0)
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        sample_s = time.perf_counter() - t_s
        save_grid(samples, grid_dir / f"{spec.name}.png")
    result = TrainResult(res.name, res.steps, res.train_seconds, res.stopped_by, res.checkpoint,
                         res.final_losses, res.curve, wpath, res.components)
    entry = {
        "steps": res.steps, "train_seconds": round(res.train_seconds, 1), "stopped_by": res.stopped_by,
        "final_losses": dict(res.final_losses), "weights": wpath.name, "weights_bytes": wpath.stat().st_size,
        "n_params": int(sum(count_params(m) for m in _sampler_modules(gen))),
        "sample_seconds_per_image": None if sample_s is None else round(sample_s / grid_samples, 5),
        "export_seconds": round(time.perf_counter() - t_exp, 1),
        "components": {c.name: {"steps": c.steps, "train_seconds": round(c.train_seconds, 1),
                                "final_losses": dict(c.final_losses)} for c in res.components},
    }
    log(f"[zoo] {spec.name}: {res.steps} steps in {res.train_seconds:.0f} s, weights {wpath} "
        f"({wpath.stat().st_size / 1e6:.2f} MB), losses {dict(res.final_losses)}")
    return result, entry


def _sampler_modules(gen: Any) -> list[torch.nn.Module]:
    return [v for v in vars(gen).values() if isinstance(v, torch.nn.Module)]


def _stamp_meta(ckpt_path: Path, extra: Mapping[str, Any]) -> None:
    """Record run-level facts (command, device name) in the checkpoint's metadata for the sidecar."""
    ckpt = load_checkpoint(ckpt_path)
    meta = json.loads(ckpt["meta"])
    meta.update({k: v for k, v in extra.items() if v is not None})
    ckpt["meta"] = json.dumps(meta, sort_keys=True)
    _save_ckpt(ckpt_path, ckpt)


def write_bundle(out_dir: Path, bundle_dir: Path, weights_dir: Path | None = None,
                 max_bytes: int = 12 * 2**20) -> list[Path]:
    """Pack weights, sidecars, grids, the summary and the log into few tar files of at most
    ``max_bytes`` each (the GPU machine returns at most 8 files of 16 MiB)."""
    wdir = weights_dir if weights_dir is not None else out_dir / "weights"
    members = [(f, f"weights/{f.name}") for f in sorted(wdir.glob("*")) if f.is_file()]
    members += [(f, f"grids/{f.name}") for f in sorted((out_dir / "grids").glob("*")) if f.is_file()]
    members += [(out_dir / n, n) for n in ("summary.json", "train.log") if (out_dir / n).is_file()]
    bundles: list[list[tuple[Path, str]]] = [[]]
    size = 0
    for f, arcname in members:
        s = f.stat().st_size
        if bundles[-1] and size + s > max_bytes:
            bundles.append([])
            size = 0
        bundles[-1].append((f, arcname))
        size += s
    paths = []
    bundle_dir.mkdir(parents=True, exist_ok=True)
    for i, group in enumerate(bundles):
        path = bundle_dir / f"mini_zoo_{i}.tar"
        with tarfile.open(path, "w") as tar:
            for f, arcname in group:
                tar.add(f, arcname=arcname)
        paths.append(path)
    return paths


def install_bundle(bundle_dir: Path, weights_dir: Path, grids_dir: Path | None = None) -> list[Path]:
    """Unpack ``mini_zoo_*.tar`` from ``bundle_dir``: weights/ into ``weights_dir``, grids/ into
    ``grids_dir`` (if given)."""
    written = []
    for path in sorted(bundle_dir.glob("mini_zoo_*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 2 or ".." in parts:
                    continue
                dest = {"weights": weights_dir, "grids": grids_dir}.get(parts[0])
                if dest is None:
                    continue
                fobj = tar.extractfile(member)
                assert fobj is not None
                data = fobj.read()
                target = Path(dest) / parts[1]
                write_with_atomic(target, lambda tmp, data=data: tmp.write_bytes(data))
                written.append(target)
    return written


# ----------------------------------------------------------------------------- CLI


def run_command(
    only: Sequence[str] | None, *, device: str, steps: int | None, batch_size: int | None, time_budget_s: float | None,
    total_time_s: float | None, out: Path | None, weights_dir: Path | None, bundle: Path | None,
    install_bundle_dir: Path | None, grids_dir: Path | None, n_train: int | None, data_seed: int, seed: int,
    resume: bool, log_every: int, ckpt_every: int, workers: int | None, threads: int | None, grid_samples: int,
    keep_going: bool, amp: bool | None, command: str,
) -> int:
    """What ``dfad-bench mini train-generators`` does once its options are parsed
    (:mod:`dfad_mini.cli`): install a bundle, or train, log to OUT/train.log and bundle."""
    if install_bundle_dir is not None:
        from dfad_mini.generators import default_weights_dir

        written = install_bundle(install_bundle_dir, weights_dir or default_weights_dir(), grids_dir)
        print("\n".join(str(p) for p in written))
        return 0
    if threads:
        torch.set_num_threads(threads)
    workers = workers or min(16, os.cpu_count() or 1)
    for name in only or []:
        get_mini_spec(name)
    out = out or _default_out_dir()
    log_path = out / "train.log"
    out.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log_file:
        def log(msg: str) -> None:
            print(msg, flush=True)
            log_file.write(msg + "\n")
            log_file.flush()

        log(f"[zoo] {command}")
        try:
            train_all(
                only, device=device, steps=steps, batch_size=batch_size,
                time_budget_s=time_budget_s, total_time_s=total_time_s, out_dir=out,
                weights_dir=weights_dir, seed=seed, resume=resume, log_every=log_every,
                ckpt_every=ckpt_every, n_train=n_train, data_seed=data_seed, workers=workers,
                amp=amp, grid_samples=grid_samples, command=command, keep_going=keep_going, log=log,
            )
        finally:  # whatever was exported comes back, also after a failure
            if bundle is not None:
                for path in write_bundle(out, bundle, weights_dir):
                    log(f"[zoo] bundle {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dfad_mini.train ARGS``: the same command as ``dfad-bench mini train-generators ARGS``."""
    from dfad_mini.cli import run_subcommand

    return run_subcommand("train-generators", argv, prog="python -m dfad_mini.train")


if __name__ == "__main__":
    sys.exit(main())
