"""JPEG compression history: quality from quantisation tables, and JPEG traces left in pixels.

Two sources of evidence, both cheap and vectorised:

* the file's own quantisation tables (JPEG files only), turned into an IJG quality estimate
  by matching them against the standard tables scaled for every quality 1..100;
* the decoded pixels. A JPEG decode leaves the 8x8 block-DCT coefficients of the luminance on
  a lattice: coefficient (u, v) sits near an integer multiple of the quantisation step
  Q[u, v]. That trace survives re-saving as PNG, so an image that went through a JPEG round
  trip before being stored losslessly still shows it. Every IJG quality 1..100 is tried as a
  hypothesis: its table's steps at the first 15 zig-zag AC positions are held against the
  coefficients (mean ``cos(2 pi c / step)``), pooled over positions and blocks, which works
  even on 64x64 images (64 blocks). The best-fitting quality and its fit are the features.

Double compression: after JPEG(q1) then JPEG(q2) the histogram of quantised coefficients
``round(c / q2)`` is no longer a smooth, decreasing Laplacian but has periodic holes and
peaks (Popescu & Farid 2004). The indicator is the share of histogram mass that breaks
monotonic decay over |n| = 1..N, pooled over the low-frequency coefficients; it is 0 for a
single compression and grows with the periodic artefacts.
"""

from __future__ import annotations

import numpy as np

#: IJG (libjpeg) standard luminance quantisation table, natural (row-major) order, quality 50.
STD_LUMA = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61,
        12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77,
        24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101,
        72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
)  # fmt: skip
#: IJG standard chrominance table, natural order, quality 50.
STD_CHROMA = np.array([17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                       24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=np.float64)

#: Zig-zag scan order of an 8x8 block, as (row, col).
ZIGZAG: tuple[tuple[int, int], ...] = tuple(
    sorted(((r, c) for r in range(8) for c in range(8)), key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 else p[0]))
)
#: AC positions used for the pixel lattice: the first 15 in zig-zag order. They carry energy in
#: natural and generated images alike; higher frequencies are mostly quantised to zero.
LATTICE_POSITIONS: tuple[tuple[int, int], ...] = ZIGZAG[1:16]
LATTICE_MAX_BLOCKS = 512  # evenly spaced blocks kept per image: bounds the cost on large images
LATTICE_MIN_COEFFS = 32  # fewer usable coefficients than this for a hypothesis: no fit
LATTICE_MIN_SCORE = 0.4  # below this best fit, no JPEG history is read from the pixels
MIN_COEFFS = 64  # double compression: fewer quantised coefficients than this are not judged
DOUBLE_BINS = 12  # |n| = 1..DOUBLE_BINS of the quantised-coefficient histogram


def ijg_table(quality: int, standard: np.ndarray = STD_LUMA) -> np.ndarray:
    """The table libjpeg writes for ``quality`` (1..100), baseline clamp to 1..255."""
    q = int(np.clip(quality, 1, 100))
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return np.clip(np.floor((standard * scale + 50.0) / 100.0), 1, 255)


_ALL_LUMA = np.stack([ijg_table(q, STD_LUMA) for q in range(1, 101)])  # (100, 64)
_ALL_CHROMA = np.stack([ijg_table(q, STD_CHROMA) for q in range(1, 101)])


def estimate_quality(table: np.ndarray | list[int], chroma: bool = False) -> float:
    """IJG quality (1..100) whose table is closest to ``table`` (64 values, natural order).

    Closeness is the mean absolute log ratio, so a non-IJG table (camera firmware, Photoshop)
    still maps to the quality of similar strength. Exact for libjpeg/Pillow tables.
    """
    t = np.asarray(table, dtype=np.float64).ravel()
    if t.size != 64:
        raise ValueError(f"a quantisation table has 64 entries, got {t.size}")
    ref = _ALL_CHROMA if chroma else _ALL_LUMA
    err = np.abs(np.log(ref) - np.log(np.maximum(t, 1.0))).mean(axis=1)
    return float(np.argmin(err) + 1)


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16.0) * np.sqrt(2.0 / 8.0)
    d[0] /= np.sqrt(2.0)
    return d  # orthonormal DCT-II: JPEG's FDCT coefficients equal these exactly


_DCT = _dct_matrix()


def luma(rgb: np.ndarray) -> np.ndarray:
    """JPEG's Y channel (ITU-R BT.601, full range) of an (H, W, 3) uint8 image, as float."""
    x = rgb.astype(np.float32)
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def block_dct(y: np.ndarray) -> np.ndarray:
    """(n_blocks, 8, 8) DCT coefficients of the level-shifted luma on the 8x8 grid at (0, 0)."""
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    if h == 0 or w == 0:
        return np.zeros((0, 8, 8))
    blocks = (y[:h, :w].astype(np.float64) - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    return np.einsum("ij,njk,lk->nil", _DCT, blocks, _DCT, optimize=True)


_LATTICE_INDEX = np.array([r * 8 + c for r, c in LATTICE_POSITIONS])
_LATTICE_STEPS = _ALL_LUMA[:, _LATTICE_INDEX].astype(np.float32)  # (100 qualities, 15 positions)


def lattice_fit(coeffs: np.ndarray) -> np.ndarray:
    """(100,) fit of the coefficients to the lattice of each IJG quality 1..100 (NaN: too few).

    The fit is the mean of ``cos(2 pi c / step)``: near 1 when values sit on multiples of the
    step, near 0 when they are spread, negative when they crowd half-way between. Per
    hypothesis only values with |c| >= step/2 and steps >= 2 count: a coefficient quantised to
    zero fits every step, and a step of 1 only says "integer", which pixel rounding blurs.
    """
    v = coeffs.reshape(len(coeffs), 64)[:, _LATTICE_INDEX].astype(np.float32)
    if len(v) > LATTICE_MAX_BLOCKS:
        v = v[np.linspace(0, len(v) - 1, LATTICE_MAX_BLOCKS).astype(np.int64)]
    q = _LATTICE_STEPS[None]  # (1, 100, 15)
    c = v[:, None, :]  # (n, 1, 15)
    keep = (np.abs(c) >= q / 2.0) & (q >= 2.0)
    fit = np.where(keep, np.cos((2.0 * np.pi) * c / q), 0.0).sum(axis=(0, 2), dtype=np.float64)
    count = keep.sum(axis=(0, 2))
    return np.where(count >= LATTICE_MIN_COEFFS, fit / np.maximum(count, 1), np.nan)


def pixel_lattice(coeffs: np.ndarray) -> tuple[float, float]:
    """(best fit, quality) of the JPEG lattice in decoded pixels; quality 100 when none is seen.

    A never-compressed image fits no hypothesis (best fit near 0); a JPEG round trip at
    quality Q fits Q best. After two compressions the earlier, coarser lattice often still
    fits best (the later, finer quantisation barely moves the values): that is what
    ``quality_gap`` in the compression group reads.
    """
    fit = lattice_fit(coeffs)
    if not np.isfinite(fit).any():
        return 0.0, 100.0
    best = int(np.nanargmax(fit))
    score = float(fit[best])
    return score, (float(best + 1) if score >= LATTICE_MIN_SCORE else 100.0)


def steps_of(table: np.ndarray | list[int]) -> dict[tuple[int, int], float]:
    """Steps >= 2 of a 64-entry luminance table at LATTICE_POSITIONS (for double_compression)."""
    t = np.asarray(table, dtype=np.float64).reshape(8, 8)
    return {p: float(t[p]) for p in LATTICE_POSITIONS if t[p] >= 2}


def double_compression(coeffs: np.ndarray, steps: dict[tuple[int, int], float]) -> float:
    """Share of quantised-coefficient histogram mass that breaks monotonic decay (0 = none).

    ``steps`` are the quantisation steps in force (the file's table, or steps estimated from
    pixels); positions without a step are skipped.
    """
    violation = total = 0.0
    for (r, c), q in steps.items():
        n = np.abs(np.rint(coeffs[:, r, c] / q)).astype(np.int64)
        h = np.bincount(n[(n >= 1) & (n <= DOUBLE_BINS)], minlength=DOUBLE_BINS + 1)[1:].astype(np.float64)
        if h.sum() < MIN_COEFFS:
            continue
        violation += float(np.clip(np.diff(h), 0, None).sum())
        total += float(h.sum())
    return violation / total if total else 0.0
