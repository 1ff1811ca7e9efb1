"""JPEG compression history: quality from quantisation tables, and JPEG traces left in pixels.

Two sources of evidence, both cheap and vectorised:

* the file's own quantisation tables (JPEG files only), turned into an IJG quality estimate
  by matching them against the standard tables scaled for every quality 1..100;
* the decoded pixels. A JPEG decode leaves the 8x8 block-DCT coefficients of the luminance on
  a lattice: coefficient (u, v) sits near an integer multiple of the quantisation step
  Q[u, v]. That trace survives re-saving as PNG, so an image that went through a JPEG round
  trip before being stored losslessly still shows it. The step of each low-frequency
  coefficient is estimated from the periodicity of its values (the largest step q whose
  phase ``exp(2 pi i c / q)`` is concentrated), and the steps are mapped back to a quality.

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

#: Low-frequency AC positions (row, col) whose steps are estimated from pixels: they carry
#: enough energy in natural and generated images alike for the lattice to be visible.
LATTICE_POSITIONS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1))
MAX_STEP = 40  # steps above this (quality < ~15) are not searched
MIN_COEFFS = 64  # fewer non-negligible coefficients than this: no estimate for that position
LATTICE_MIN_SCORE = 0.6  # phase concentration needed to call a step present
LATTICE_TIE = 0.05  # fits this close to a position's best fit count as ties (divisors of the step)
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


def quality_from_steps(steps: dict[tuple[int, int], float]) -> float:
    """Quality whose luminance table best matches a few estimated steps (median log ratio)."""
    if not steps:
        return 100.0
    idx = np.array([r * 8 + c for r, c in steps])
    val = np.log(np.array(list(steps.values()), dtype=np.float64))
    err = np.abs(np.log(_ALL_LUMA[:, idx]) - val).mean(axis=1)
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


def lattice_scores(values: np.ndarray) -> np.ndarray:
    """(n_positions, MAX_STEP) lattice fit of each column of ``values`` for steps q = 1..MAX_STEP.

    The fit is the mean of ``cos(2 pi c / q)``: near 1 when the values sit on multiples of q,
    near 0 when they are spread, negative when they crowd half-way between. Values with
    |c| < q/2 are left out for step q: a coefficient quantised to zero fits every step, and
    counting those would make large steps look present on smooth images. NaN where fewer
    than MIN_COEFFS values remain.
    """
    q = np.arange(1, MAX_STEP + 1, dtype=np.float64)
    c = values[:, :, None]  # (n, positions, 1)
    keep = np.abs(c) >= q / 2.0
    fit = np.where(keep, np.cos(2.0 * np.pi * c / q), 0.0).sum(axis=0)
    count = keep.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= MIN_COEFFS, fit / count, np.nan)


def pixel_lattice(coeffs: np.ndarray) -> tuple[float, dict[tuple[int, int], float]]:
    """(lattice score, estimated steps) from block-DCT coefficients of decoded pixels.

    The score is the median over LATTICE_POSITIONS of the best fit at any step q >= 2 (near
    1: quantised; near 0: not; q = 1 alone only says "integer-valued" and is too weak to tell
    from pixel rounding). A position's step is the largest q >= 2 whose fit reaches
    LATTICE_MIN_SCORE and ties the best fit: divisors of the true step fit as well as the step
    itself, multiples do not.
    """
    rows, cols = zip(*LATTICE_POSITIONS, strict=True)
    scores = lattice_scores(coeffs[:, list(rows), list(cols)])[:, 1:]  # q >= 2
    best, steps = [], {}
    for pos, s in zip(LATTICE_POSITIONS, scores, strict=True):
        if np.all(np.isnan(s)):
            continue
        top = float(np.nanmax(s))
        best.append(top)
        # steps just above the true one still fit the +-1 multiples fairly well (cos of a small
        # phase), so only steps within LATTICE_TIE of the best fit compete; the largest wins
        ok = np.flatnonzero(np.nan_to_num(s, nan=0.0) >= max(LATTICE_MIN_SCORE, top - LATTICE_TIE))
        if ok.size:
            steps[pos] = float(ok[-1] + 2)
    return (float(np.median(best)) if best else 0.0), steps


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
