"""Spectral features of images, vectorised over the batch (numpy/scipy only).

* :func:`azimuthal_average`: the 1D power spectrum of Durall et al. (CVPR 2020): the log-magnitude
  of the centred 2D FFT averaged over rings of equal integer radius around the DC term, computed
  with one ``np.bincount`` for the whole batch (no Python loop over pixels).
* :func:`dct_log_features`: Frank et al. (ICML 2020): log |2D DCT-II| (orthonormal) of the image;
  averaged over a ``grid`` x ``grid`` partition of the coefficient plane so that the dimension
  stays fixed and small whatever the image size (Frank et al. keep every coefficient).

All features are of the grayscale image (ITU-R BT.601 luma), scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dctn

LOG_EPS = 1e-8  # keeps log finite on exact zeros (e.g. a constant image's AC terms)
FEATURE_KINDS = ("fft", "dct", "both")


def grayscale(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, H, W) float64 luma in [0, 1]."""
    x = np.asarray(images, dtype=np.float64) / 255.0
    return x @ np.array([0.299, 0.587, 0.114])


def radius_map(h: int, w: int) -> np.ndarray:
    """Integer ring index of each frequency of an fftshift-ed (h, w) spectrum (DC at (h//2, w//2))."""
    yy, xx = np.indices((h, w))
    return np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(np.int64)


def azimuthal_average(spectra: np.ndarray) -> np.ndarray:
    """(N, H, W) centred spectra -> (N, R) mean value per integer radius, R = max radius + 1."""
    n, h, w = spectra.shape
    r = radius_map(h, w).ravel()
    n_bins = int(r.max()) + 1
    counts = np.bincount(r, minlength=n_bins).astype(np.float64)
    index = (np.arange(n)[:, None] * n_bins + r[None, :]).ravel()
    sums = np.bincount(index, weights=spectra.reshape(n, -1).ravel(), minlength=n * n_bins)
    return sums.reshape(n, n_bins) / counts


def fft_radial_features(gray: np.ndarray, minmax: bool = True) -> np.ndarray:
    """Durall et al.'s 1D spectrum of (N, H, W) grayscale images.

    ``minmax`` rescales each image's curve to [0, 1] as in their released code, so that the
    classifier sees the spectrum's shape rather than the image's overall contrast.
    """
    mag = np.abs(np.fft.fftshift(np.fft.fft2(gray, axes=(1, 2)), axes=(1, 2)))
    curve = azimuthal_average(np.log(mag + LOG_EPS))
    if minmax:
        lo = curve.min(axis=1, keepdims=True)
        span = curve.max(axis=1, keepdims=True) - lo
        curve = (curve - lo) / np.where(span > 0, span, 1.0)
    return curve


def block_mean(maps: np.ndarray, grid: int) -> np.ndarray:
    """(N, H, W) -> (N, g*g) means over a g x g partition (g = min(grid, H, W)), rows then columns."""
    n, h, w = maps.shape
    g = max(1, min(grid, h, w))
    rows = (np.arange(h) * g) // h
    cols = (np.arange(w) * g) // w
    cell = (rows[:, None] * g + cols[None, :]).ravel()
    counts = np.bincount(cell, minlength=g * g).astype(np.float64)
    index = (np.arange(n)[:, None] * g * g + cell[None, :]).ravel()
    sums = np.bincount(index, weights=maps.reshape(n, -1).ravel(), minlength=n * g * g)
    return sums.reshape(n, g * g) / counts


def dct_log_features(gray: np.ndarray, grid: int) -> np.ndarray:
    """Frank et al.'s log |DCT-II| of (N, H, W) images, block-averaged onto a grid x grid plane."""
    coeffs = dctn(gray, type=2, norm="ortho", axes=(1, 2))
    return block_mean(np.log(np.abs(coeffs) + LOG_EPS), grid)


def spectral_features(images: np.ndarray, kind: str = "both", dct_grid: int = 32, radial_minmax: bool = True) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, d) float32: [FFT radial curve][, DCT grid] per ``kind``."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"spectrum: features must be one of {FEATURE_KINDS}, got {kind!r}")
    gray = grayscale(images)
    parts = []
    if kind in ("fft", "both"):
        parts.append(fft_radial_features(gray, radial_minmax))
    if kind in ("dct", "both"):
        parts.append(dct_log_features(gray, dct_grid))
    return np.concatenate(parts, axis=1).astype(np.float32)
