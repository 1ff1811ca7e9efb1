"""The generators' training set: renders of the training identity pool (never the benchmark's
identities), rendered in parallel and cached as ``.npy``."""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfad_bench.atomic import write_with_atomic


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
    from dfad_mini.parallel import map_chunks

    parts = map_chunks(_render_chunk, [(c, per_id, seed) for c in chunks], workers,
                       start_method="fork" if sys.platform.startswith("linux") else "spawn", star=True)
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
