"""Per-image audit features in four groups, extracted from the files with a thread pool.

Groups (docs/AUDIT.md):

* ``container``: format, dimensions, mode, EXIF/ICC/APP markers/PNG chunks (container.py);
* ``compression``: JPEG presence, the file's quantisation tables as an IJG quality, JPEG
  traces in the decoded pixels (lattice), double compression (jpeg.py);
* ``entangled``: byte size, bits per pixel, 8x8 blockiness. These mix the file's history
  with how smooth the content is, so they are reported without a threshold;
* ``content``: mean and std of each colour channel, a reference for what plain content gives.

Each image is read once (bytes), opened by Pillow directly (never through a model's loader,
which would resize and normalise the evidence away) and reduced to a few dozen floats; only
those are kept, so memory does not grow with image size or count beyond n x d floats.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from dfad_bench.audit import container, jpeg
from dfad_bench.errors import DfadError


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    features: tuple[str, ...]
    thresholded: bool  # file-level group: its AUC is held against AUDIT_THRESHOLD
    description: str


COMPRESSION_FEATURES: tuple[str, ...] = (
    "is_jpeg",
    "file_quality_luma",
    "file_quality_chroma",
    "quant_tables",
    "subsampling",
    "progressive",
    "pixel_lattice",
    "pixel_quality",
    "quality_gap",
    "double_compression",
)
ENTANGLED_FEATURES: tuple[str, ...] = ("log_bytes", "bits_per_pixel", "blockiness")
CONTENT_FEATURES: tuple[str, ...] = ("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b")

GROUPS: tuple[FeatureGroup, ...] = (
    FeatureGroup("container", container.FEATURES, True, "format, dimensions, mode, EXIF/ICC/APP markers, PNG text and ancillary chunks"),
    FeatureGroup("compression", COMPRESSION_FEATURES, True, "JPEG presence and quality (file tables), JPEG lattice left in the pixels, double compression"),
    FeatureGroup("entangled", ENTANGLED_FEATURES, False, "byte size, bits per pixel, 8x8 blockiness: file history mixed with content smoothness"),
    FeatureGroup("content", CONTENT_FEATURES, False, "mean and std of each colour channel: what trivial content statistics give"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f for g in GROUPS for f in g.features)
#: Subsampling codes from Pillow's get_sampling: 4:4:4, 4:2:2, 4:2:0; -1 = not a JPEG / unknown.
_SUBSAMPLING = {0: 0.0, 1: 1.0, 2: 2.0}


def group_columns(name: str) -> np.ndarray:
    """Column indices of group ``name`` in a feature matrix."""
    group = next(g for g in GROUPS if g.name == name)
    index = {f: i for i, f in enumerate(FEATURE_NAMES)}
    return np.array([index[f] for f in group.features])


def blockiness(y: np.ndarray) -> float:
    """Mean absolute step across 8x8 block borders over the mean step inside blocks (1 = none)."""
    ratios = []
    for d in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):  # horizontal, vertical
        if d.shape[1] < 16:
            continue
        border = (np.arange(d.shape[1]) % 8) == 7  # diff between column 8k+7 and 8k+8
        inside = d[:, ~border].mean()
        ratios.append(float(d[:, border].mean() / inside) if inside > 0 else 1.0)
    return float(np.mean(ratios)) if ratios else 1.0


def compression_features(img: Image.Image, y: np.ndarray) -> dict[str, float]:
    is_jpeg = (img.format or "").upper() == "JPEG"
    tables = (getattr(img, "quantization", None) or {}) if is_jpeg else {}
    q_luma = jpeg.estimate_quality(tables[0]) if 0 in tables else 100.0
    q_chroma = jpeg.estimate_quality(tables[1], chroma=True) if 1 in tables else 100.0
    coeffs = jpeg.block_dct(y)
    lattice, pixel_q = jpeg.pixel_lattice(coeffs)
    # the steps in force: the file's own table, else the lattice seen in the pixels (if any)
    if 0 in tables:
        steps_in_force = jpeg.steps_of(tables[0])
    else:
        steps_in_force = jpeg.steps_of(jpeg.ijg_table(int(pixel_q))) if pixel_q < 100 else {}
    sampling = JpegImagePlugin.get_sampling(img) if is_jpeg else -1
    return {
        "is_jpeg": float(is_jpeg),
        "file_quality_luma": q_luma,
        "file_quality_chroma": q_chroma,
        "quant_tables": float(len(tables)),
        "subsampling": _SUBSAMPLING.get(sampling, -1.0),
        "progressive": float(bool(img.info.get("progressive") or img.info.get("progression"))),
        "pixel_lattice": lattice,
        "pixel_quality": pixel_q,
        "quality_gap": abs(pixel_q - q_luma) if is_jpeg else 0.0,
        "double_compression": jpeg.double_compression(coeffs, steps_in_force),
    }


def image_features(path: Path) -> np.ndarray:
    """The FEATURE_NAMES vector of one image file (float64)."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        row = container.container_features(img, data)
        rgb = np.asarray(img.convert("RGB"))
        y = jpeg.luma(rgb)
        row.update(compression_features(img, y))
    h, w = rgb.shape[:2]
    pixels = max(h * w, 1)
    row.update(log_bytes=math.log(max(len(data), 1)), bits_per_pixel=8.0 * len(data) / pixels, blockiness=blockiness(y))
    flat = rgb.reshape(-1, 3).astype(np.float64) / 255.0
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    row.update(mean_r=mean[0], mean_g=mean[1], mean_b=mean[2], std_r=std[0], std_g=std[1], std_b=std[2])
    return np.array([row[f] for f in FEATURE_NAMES], dtype=np.float64)


def _one(item: tuple[str, Path]) -> np.ndarray:
    sample_id, path = item
    try:
        return image_features(path)
    except FileNotFoundError as exc:
        raise DfadError(f"image for sample_id {sample_id!r} not found: {path}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DfadError(f"image for sample_id {sample_id!r} ({path}) cannot be read as an image: {exc}") from exc


def extract_features(sample_ids: Sequence[str], paths: Sequence[Path], workers: int | None = None) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) float32 matrix, rows in input order.

    A thread pool overlaps file reads and decodes (Pillow and numpy release the GIL); at most
    ``workers`` images are decoded at a time and only their feature rows are kept.
    """
    n = len(paths)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, row in enumerate(pool.map(_one, zip(sample_ids, paths, strict=True), chunksize=16)):
            out[i] = row
    return out
