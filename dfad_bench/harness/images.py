"""Image loading through a torch DataLoader, plus a pre-scan that reports bad images.

Every image is decoded the same way (PIL -> RGB uint8); a file that cannot be read or decoded
is reported with its path and reason and left out of the run — never replaced by another image.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from dfad_bench.manifest import Manifest


@dataclass(frozen=True)
class BadInput:
    sample_id: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"sample_id": self.sample_id, "path": self.path, "reason": self.reason}


def decode_rgb(data: bytes, image_size: int | None = None) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        if image_size is not None and img.size != (image_size, image_size):
            img = img.resize((image_size, image_size), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8)


def _scan_one(args: tuple[str, str, str | None]) -> tuple[str | None, str | None]:
    """Return (content hash, error reason) for one file."""
    path, _sid, expected = args
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"cannot read file ({exc.strerror or type(exc).__name__})"
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and expected != digest:
        return digest, "content hash differs from the manifest's content_hash (file changed or corrupted)"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return digest, f"not a decodable image ({type(exc).__name__}: {exc})"
    return digest, None


def prescan_images(manifest: Manifest, workers: int = 4) -> tuple[pd.DataFrame, list[BadInput]]:
    """Hash and verify every image once; return the table with ``content_hash`` filled and the
    bad inputs (dropped from the table)."""
    table = manifest.table
    has_hash = "content_hash" in table.columns
    jobs = [
        (str(manifest.image_path(rel)), sid, (h if has_hash and isinstance(h, str) else None))
        for sid, rel, h in zip(table["sample_id"], table["path"], table["content_hash"] if has_hash else [None] * len(table), strict=True)
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_scan_one, jobs, chunksize=64))
    hashes = [h for h, _ in results]
    bad = [BadInput(sid, path, reason) for (path, sid, _), (_, reason) in zip(jobs, results, strict=True) if reason]
    out = table.copy()
    out["content_hash"] = pd.array(hashes, dtype="string")
    if bad:
        out = out[~out["sample_id"].isin({b.sample_id for b in bad})].reset_index(drop=True)
    return out, bad


class ImageDataset:
    """Map-style dataset of (index, uint8 CHW tensor) over a view's files."""

    def __init__(self, paths: list[str], image_size: int | None) -> None:
        self.paths = paths
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torch

        arr = decode_rgb(Path(self.paths[i]).read_bytes(), self.image_size)
        return i, torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def make_loader_factory(device: str, num_workers: int):
    """Factory bound to the run's device and worker count, used by every DataView."""

    def iter_images(view, batch_size: int = 64, shuffle: bool = False, seed: int = 0, image_size: int | None = None) -> Iterator:
        import torch
        from torch.utils.data import DataLoader

        paths = [str(view.image_root / p) if not Path(p).is_absolute() else p for p in view.table["path"]]
        ids = view.table["sample_id"].tolist()
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        loader = DataLoader(
            ImageDataset(paths, image_size),
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=num_workers,
            pin_memory=device.startswith("cuda"),
            persistent_workers=False,
        )
        for idx, images in loader:
            yield [ids[i] for i in idx.tolist()], images

    return iter_images
