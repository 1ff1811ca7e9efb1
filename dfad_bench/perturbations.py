"""Test-time perturbations and versioned robustness sweeps (``dfad-bench robustness``).

A sweep is part of the protocol layer: a named, versioned list of :class:`Perturbation` specs
whose hash goes into the run record, so two robustness numbers are comparable only when their
sweep hashes agree. The harness applies a perturbation to decoded *test* images only, inside its
loader (:func:`dfad_bench.harness.images.make_loader_factory`); train and val are never touched.

Every perturbation is deterministic per image: its randomness (only ``noise`` draws any) is
seeded by the run seed, the perturbation's name and a stable per-sample key (the manifest sample
id), never by a label. JPEG and resampling go through PIL, which is deterministic for a given
input and version.

Sweep ``robustness-v1`` (version 1):

- ``jpeg``: re-encode as baseline JPEG at quality 95, 75, 50, 30 (4:2:0 chroma subsampling);
- ``blur``: Gaussian blur, sigma 1, 2, 4 pixels (PIL ``GaussianBlur(radius=sigma)``);
- ``resize``: downscale by 0.5 / 0.25 (bicubic, antialiased), upscale back to the original size;
- ``noise``: additive Gaussian noise, sigma 5, 10, 20 on the 0-255 scale, clipped;
- ``social``: a social-media-like chain: downscale 0.75 (bicubic), JPEG quality 75, then a mild
  unsharp mask (radius 1, 50 %, threshold 2) as feed apps sharpen after resizing. Its strength is 1.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

from dfad_bench.errors import DfadError

KINDS = ("jpeg", "blur", "resize", "noise", "social")


@dataclass(frozen=True)
class Perturbation:
    """One test-time perturbation: ``kind`` at ``strength`` (its unit depends on the kind:
    JPEG quality, blur sigma in pixels, resize factor, noise sigma on 0-255; social: 1)."""

    name: str
    kind: str
    strength: float
    version: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DfadError(f"perturbation {self.name!r}: unknown kind {self.kind!r}; expected one of {list(KINDS)}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def key(self) -> str:
        """Stable short key: part of feature-cache keys of perturbed images."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def apply(self, image: np.ndarray, seed: int, sample_key: str) -> np.ndarray:
        """The perturbed copy of one H x W x 3 uint8 image (same size)."""
        return _APPLY[self.kind](np.ascontiguousarray(image, dtype=np.uint8), self.strength,
                                 lambda: _rng(seed, self.name, sample_key))


@dataclass(frozen=True)
class Sweep:
    name: str
    version: int
    perturbations: tuple[Perturbation, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "perturbations": [p.to_dict() for p in self.perturbations]}

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _rng(seed: int, name: str, sample_key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{name}|{sample_key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _jpeg(img: np.ndarray, quality: float, _rng: Callable) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality), subsampling=2, optimize=False)
    buf.seek(0)
    with Image.open(buf) as out:
        return np.asarray(out.convert("RGB"), dtype=np.uint8)


def _blur(img: np.ndarray, sigma: float, _rng: Callable) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius=float(sigma))), dtype=np.uint8)


def _resize(img: np.ndarray, factor: float, _rng: Callable) -> np.ndarray:
    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.uint8)


def _noise(img: np.ndarray, sigma: float, rng: Callable) -> np.ndarray:
    noisy = img.astype(np.float32) + rng().normal(0.0, float(sigma), size=img.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _social(img: np.ndarray, _strength: float, rng: Callable) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.asarray(Image.fromarray(img).resize((max(1, round(w * 0.75)), max(1, round(h * 0.75))), Image.Resampling.BICUBIC))
    out = _jpeg(out, 75, rng)
    sharp = Image.fromarray(out).filter(ImageFilter.UnsharpMask(radius=1, percent=50, threshold=2))
    return np.asarray(sharp.resize((w, h), Image.Resampling.BICUBIC), dtype=np.uint8)  # back to the test size


_APPLY: dict[str, Callable[[np.ndarray, float, Callable], np.ndarray]] = {
    "jpeg": _jpeg, "blur": _blur, "resize": _resize, "noise": _noise, "social": _social,
}


def _sweep_v1() -> Sweep:
    items = [Perturbation(f"jpeg-{q}", "jpeg", q) for q in (95, 75, 50, 30)]
    items += [Perturbation(f"blur-{s}", "blur", s) for s in (1, 2, 4)]
    items += [Perturbation(f"resize-{f}", "resize", f) for f in (0.5, 0.25)]
    items += [Perturbation(f"noise-{s}", "noise", s) for s in (5, 10, 20)]
    items += [Perturbation("social", "social", 1)]
    return Sweep("robustness-v1", 1, tuple(items))


SWEEPS: dict[str, Sweep] = {"robustness-v1": _sweep_v1()}


def get_sweep(name: str) -> Sweep:
    if name not in SWEEPS:
        from dfad_bench.registry import did_you_mean

        raise DfadError(f"--sweep {name!r}: unknown robustness sweep{did_you_mean(name, SWEEPS) or ''}; known: {', '.join(SWEEPS)}")
    return SWEEPS[name]


@dataclass(frozen=True)
class BoundPerturbation:
    """``perturbation`` bound to a run: ``(image, opaque id) -> image``, seeded by the run seed and
    the manifest sample id behind the opaque id (a stable key that is no label)."""

    perturbation: Perturbation
    seed: int
    sample_key: dict[str, str]  # opaque id -> manifest sample id

    def __call__(self, image: np.ndarray, opaque_id: str) -> np.ndarray:
        return self.perturbation.apply(image, self.seed, self.sample_key[opaque_id])


def sweep_from_dict(obj: dict) -> Sweep:
    """A sweep as a record stores it (``robustness.spec``)."""
    items = tuple(Perturbation(str(p["name"]), str(p["kind"]), p["strength"], int(p.get("version", 1))) for p in obj["perturbations"])
    return Sweep(str(obj["name"]), int(obj["version"]), items)
