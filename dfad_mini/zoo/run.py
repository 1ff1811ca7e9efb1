"""The zoo run: train the generators in sequence under one time budget, export each, sample its
grid, write the summary; and what ``dfad-bench mini train-generators`` does with its options."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfad_bench.atomic import write_json_atomic
from dfad_bench.errors import DfadError
from dfad_mini.generators import (
    MiniGeneratorSpec,
    get_mini_spec,
    load_mini_generator,
    trainable_generators,
)
from dfad_mini.generators.common import count_params
from dfad_mini.zoo.bundle import install_bundle, write_bundle
from dfad_mini.zoo.data import load_training_images
from dfad_mini.zoo.export import export_weights
from dfad_mini.zoo.grids import save_curve_plot, save_grid
from dfad_mini.zoo.stage import (
    AE_SUFFIX,
    TrainResult,
    _default_out_dir,
    _save_ckpt,
    load_checkpoint,
    train_generator,
)

#: Seconds kept back per generator in ``train_all`` for export, a sample grid and bookkeeping.
EXPORT_RESERVE_S = {"cuda": 6.0, "cpu": 20.0}


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
