"""clip-mini's training data: renders of the training identity pool with their captions (or
noise stand-ins for smoke tests), rendered in parallel chunks and cached in the work folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfad_bench.atomic import write_with_atomic
from dfad_bench.errors import DfadError
from dfad_mini.parallel import map_chunks

# Render seeds: training chunks use TRAIN_SEED_BASE + 1000 * seed + chunk; evaluation uses its
# own seed far away, so held-out renders share no RNG stream (hence no identity) with training.
TRAIN_SEED_BASE = 10_000
EVAL_SEED = 987_654
CHUNK = 500


@dataclass(frozen=True)
class PretrainData:
    images: np.ndarray  # uint8 (N, 64, 64, 3)
    captions: list[str]
    attributes: dict[str, np.ndarray]  # gaze_pitch, gaze_yaw, glasses, sex (for zero-shot checks)


def _render_chunk(n: int, seed: int) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    from dfad_mini.renderer import render_training_set

    batch = render_training_set(n, seed=seed)
    p = batch.params
    attrs = {
        "gaze_pitch": p["gaze_pitch"].to_numpy(np.float32),
        "gaze_yaw": p["gaze_yaw"].to_numpy(np.float32),
        "glasses": (p["glasses"].astype(str) != "none").to_numpy(),
        "sex": p["sex"].to_numpy(dtype=str),
    }
    return batch.images, [str(c) for c in p["caption"]], attrs


def _random_chunk(n: int, seed: int) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """Stand-in data with the renderer's shapes: noise images whose mean colour matches a word."""
    rng = np.random.default_rng(seed)
    colours = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200), "grey": (128, 128, 128)}
    names = list(colours)
    pick = rng.integers(0, len(names), n)
    base = np.array([colours[names[i]] for i in pick], np.float32)[:, None, None, :]
    images = np.clip(base + rng.normal(0, 40, (n, 64, 64, 3)), 0, 255).astype(np.uint8)
    pitch = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    yaw = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    attrs = {"gaze_pitch": pitch, "gaze_yaw": yaw, "glasses": rng.random(n) < 0.3, "sex": rng.choice(["woman", "man"], n)}
    return images, [f"a photo of a {names[i]} square" for i in pick], attrs


def make_data(n: int, first_seed: int, kind: str = "render", workers: int = 0) -> PretrainData:
    """``n`` renders in chunks of CHUNK (chunk i uses render seed ``first_seed + i``), in parallel."""
    if kind not in ("render", "random"):
        raise DfadError(f"clip-mini pretraining: data must be 'render' or 'random', got {kind!r}")
    sizes = [min(CHUNK, n - s) for s in range(0, n, CHUNK)]
    seeds = [first_seed + i for i in range(len(sizes))]
    fn = _render_chunk if kind == "render" else _random_chunk
    workers = workers or min(16, os.cpu_count() or 1)
    parts = map_chunks(fn, list(zip(sizes, seeds, strict=True)), workers if kind == "render" else 1, star=True)
    images = np.concatenate([p[0] for p in parts])
    captions = [c for p in parts for c in p[1]]
    attrs = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
    return PretrainData(images=images, captions=captions, attributes=attrs)


def _cached_data(work_dir: Path, n: int, first_seed: int, kind: str, workers: int) -> PretrainData:
    """Renders are deterministic: keep them in the work folder so a resumed run skips rendering."""
    path = work_dir / f"data-{kind}-{n}-{first_seed}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            attrs = {k[5:]: z[k] for k in z.files if k.startswith("attr_")}
            return PretrainData(images=z["images"], captions=[str(c) for c in z["captions"]], attributes=attrs)
    data = make_data(n, first_seed, kind, workers)
    arrays = {"images": data.images, "captions": np.array(data.captions)}
    # object arrays would need pickle to load: store text as fixed-width unicode
    arrays.update({f"attr_{k}": v.astype(str) if v.dtype == object else v for k, v in data.attributes.items()})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
            np.savez(fh, **arrays)

    write_with_atomic(path, write)
    return data
