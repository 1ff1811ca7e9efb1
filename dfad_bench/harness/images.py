"""Image loading through a torch DataLoader, plus a pre-scan that reports bad images.

Every image is decoded the same way (PIL -> RGB uint8); a file that cannot be read or decoded
is reported with its path and reason and left out of the run — never replaced by another image.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from dfad_bench.faults import fault_point
from dfad_bench.hashing import sha256
from dfad_bench.manifest import Manifest


@dataclass(frozen=True)
class BadInput:
    sample_id: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"sample_id": self.sample_id, "path": self.path, "reason": self.reason}


#: Images with more pixels than this are refused before decoding: a decompression bomb is a few
#: KB of PNG that decodes to gigabytes. 64 MP (8192 x 8192) is far above any face benchmark;
#: DFAD_BENCH_MAX_PIXELS overrides it.
MAX_PIXELS = 64 * 1024 * 1024


class BadImage(ValueError):
    """An image that cannot be used; the message is the reason the pre-scan records."""


def max_pixels() -> int:
    import os

    raw = os.environ.get("DFAD_BENCH_MAX_PIXELS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_PIXELS


def open_image(source: str | Path | io.BytesIO) -> Image.Image:
    """``Image.open`` with the pixel-count guard applied to the header, before any decoding."""
    import warnings

    limit = max_pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides, below
        try:
            img = Image.open(source)
        except Image.DecompressionBombError as exc:  # PIL's hard limit fired first (very large)
            raise BadImage(f"decompression bomb refused: {exc}") from None
    w, h = img.size
    if w * h > limit:
        img.close()
        raise BadImage(f"decompression bomb refused: {w}x{h} = {w * h} pixels, over the limit of {limit} (DFAD_BENCH_MAX_PIXELS)")
    if w < 1 or h < 1:
        img.close()
        raise BadImage(f"empty image ({w}x{h})")
    return img


def _scale_to_uint8(arr: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(arr.astype(np.float64) * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """H x W x 3 uint8 RGB of a PIL image in any mode, converted by what the mode means:

    - 16-bit grey (``I;16``, ``I;16B``, ``I;16L``) and 32-bit integer ``I`` are scaled from their
      range to 0..255 (PIL's own ``convert`` clips them, turning most 16-bit images white);
      an ``I`` image whose values fit 0..255 is taken as 8-bit;
    - float ``F`` is taken as 0..1 when its maximum is <= 1, else as 0..255 (clipped);
    - modes with alpha or transparency (``RGBA``, ``LA``, ``PA``, ``P`` with a transparent index,
      ``La``, ``RGBa``) are composited over black (``rgb * alpha``), so a transparent pixel is
      black whatever colour it happened to store;
    - ``CMYK``, ``YCbCr``, ``L``, ``1``, ``P`` go through PIL's conversion (Adobe-inverted CMYK
      JPEGs are handled by PIL's decoder).
    """
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            grey = _scale_to_uint8(arr, 65535.0)
        elif mode == "I":
            peak = int(arr.max()) if arr.size else 0
            grey = _scale_to_uint8(arr, 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else 4294967295.0)
        else:
            finite = arr[np.isfinite(arr)]
            peak = float(finite.max()) if finite.size else 0.0
            grey = _scale_to_uint8(np.nan_to_num(arr), 1.0 if peak <= 1.0 else 255.0)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
        rgb = rgba[:, :, :3] * (rgba[:, :, 3:4] / 255.0)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_rgb(data: bytes, image_size: int | None = None) -> np.ndarray:
    """Fully decode image bytes to H x W x 3 uint8 RGB (any mode, see :func:`to_rgb_array`),
    resized to ``image_size`` when given. Raises :class:`BadImage` or PIL's errors."""
    with open_image(io.BytesIO(data)) as img:
        img.load()  # a truncated file fails here, not later in a DataLoader worker
        arr = to_rgb_array(img)
    if image_size is not None and (arr.shape[1], arr.shape[0]) != (image_size, image_size):
        arr = np.asarray(Image.fromarray(arr).resize((image_size, image_size), Image.Resampling.BICUBIC), dtype=np.uint8)
    return arr


def _scan_one(args: tuple[str, str, str | None]) -> tuple[str | None, str | None]:
    """Return (content hash, error reason) for one file. The image is fully decoded (not just
    ``verify()``-ed, which passes truncated JPEGs), so the data loader never meets a bad file."""
    fault_point("prescan")  # crash-safety tests (dfad_bench/faults.py)
    path, _sid, expected = args
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"cannot read file ({exc.strerror or type(exc).__name__})"
    digest = sha256(data)
    if expected is not None and expected != digest:
        return digest, "content hash differs from the manifest's content_hash (file changed or corrupted)"
    try:
        decode_rgb(data)
    except BadImage as exc:
        return digest, str(exc)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if "truncated" in reason.lower():
            return digest, f"truncated image file ({reason})"
        return digest, f"not a decodable image ({type(exc).__name__}: {reason})"
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's problem, never fatal
        return digest, f"not a decodable image ({type(exc).__name__}: {' '.join(str(exc).split())})"
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
    from dfad_bench.progress import track

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(track(pool.map(_scan_one, jobs, chunksize=64), "pre-scan images", total=len(jobs)))
    hashes = [h for h, _ in results]
    bad = [BadInput(sid, path, reason) for (path, sid, _), (_, reason) in zip(jobs, results, strict=True) if reason]
    out = table.copy()
    out["content_hash"] = pd.array(hashes, dtype="string")
    if bad:
        out = out[~out["sample_id"].isin({b.sample_id for b in bad})].reset_index(drop=True)
    return out, bad


def _decode_source(source: str, target: tuple[int, int] | None) -> np.ndarray:
    """H×W×3 uint8 pixels of one image: an image file, or a staged ``.npy`` of decoded pixels
    (the sealed child's stage, where file formats and names carry nothing)."""
    if source.endswith(".npy"):
        arr = np.load(source, allow_pickle=False)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"{source}: staged image must be H×W×3 uint8, got {arr.dtype} {arr.shape}")
        if target is not None and (arr.shape[1], arr.shape[0]) != target:
            arr = np.asarray(Image.fromarray(arr).resize(target, Image.Resampling.BICUBIC), dtype=np.uint8)
        return arr
    # The pre-scan's conversion (any mode -> RGB by what it means, bomb guard), so the model sees
    # what the pre-scan checked: PIL's bare convert("RGB") turns 16-bit images white.
    with open_image(source) as img:
        arr = to_rgb_array(img)
    if target is not None and (arr.shape[1], arr.shape[0]) != target:
        arr = np.asarray(Image.fromarray(arr).resize(target, Image.Resampling.BICUBIC), dtype=np.uint8)
    return arr


def _source_size(source: str) -> tuple[int, int]:
    """(width, height) from the header only."""
    if source.endswith(".npy"):
        shape = np.load(source, mmap_mode="r", allow_pickle=False).shape
        return int(shape[1]), int(shape[0])
    with Image.open(source) as img:
        return img.size


def common_size(sources: list[str], workers: int = 4) -> tuple[int, int] | None:
    """None when every image has one size; else the most common (width, height), ties to the larger
    area: a mixed-size view is resized to it instead of failing to stack a batch."""
    if len(sources) < 2:
        return None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sizes = Counter(pool.map(_source_size, sources, chunksize=64))
    if len(sizes) == 1:
        return None
    return max(sizes.items(), key=lambda kv: (kv[1], kv[0][0] * kv[0][1], kv[0]))[0]


class ImageDataset:
    """Map-style dataset of (index, uint8 CHW tensor) over image sources (files or staged ``.npy``)."""

    def __init__(self, sources: list[str], target: tuple[int, int] | None,
                 perturb: Callable[[np.ndarray, int], np.ndarray] | None = None) -> None:
        self.sources = sources
        self.target = target
        self.perturb = perturb  # robustness sweeps: applied to the decoded image, before the resize

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int):
        import torch

        fault_point("decode")  # crash-safety tests (dfad_bench/faults.py)
        if self.perturb is None:
            arr = _decode_source(self.sources[i], self.target)
        else:  # perturb at the decoded size (as a re-shared file would be), then resize like any image
            arr = self.perturb(_decode_source(self.sources[i], None), i)
            if self.target is not None and (arr.shape[1], arr.shape[0]) != tuple(self.target):
                arr = np.asarray(Image.fromarray(arr).resize(self.target, Image.Resampling.BICUBIC), dtype=np.uint8)
        return i, torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def make_loader_factory(device: str, num_workers: int, perturb: Callable[[np.ndarray, str], np.ndarray] | None = None):
    """Factory bound to the run's device and worker count, used by every DataView.

    The view's image sources never leave the harness: the model gets its opaque ids and pixels.
    ``perturb(image, opaque_id)`` (robustness sweeps, dfad_bench/perturbations.py) changes each
    decoded image; the harness binds it only to perturbed copies of the test view.
    """

    def iter_images(view, batch_size: int = 64, shuffle: bool = False, seed: int = 0, image_size: int | None = None) -> Iterator:
        import torch
        from torch.utils.data import DataLoader

        ids = view.ids
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        loader = DataLoader(
            ImageDataset(list(view._sources), view.resize_target(image_size),
                         None if perturb is None else _PerturbById(perturb, ids)),
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


class _PerturbById:
    """``perturb(image, opaque id)`` as the dataset's ``perturb(image, index)`` (picklable for workers)."""

    def __init__(self, perturb: Callable[[np.ndarray, str], np.ndarray], ids: list[str]) -> None:
        self.perturb, self.ids = perturb, ids

    def __call__(self, image: np.ndarray, i: int) -> np.ndarray:
        return self.perturb(image, self.ids[i])
