"""How close each generator's images are to the pristine ones: Fréchet distance in a CLIP space.

The Fréchet distance (FD) between Gaussians fitted to two sets of image embeddings is FID's
formula (Heusel et al., 2017) with a CLIP image encoder instead of Inception-v3, as Kynkäänniemi
et al. (ICLR 2023) recommend; on DFAD-Mini the encoder is clip-mini, which was trained on pristine
renders only, so its space knows what a rendered face looks like. Numbers are only comparable for
the same encoder and the same sample size (FD is biased upwards at small n), so every set is cut
to the same ``n`` and the table carries a floor: the FD between two disjoint random halves of
the pristine pool (what "as close as real data gets" is at this n).

Embeddings come from the harness's feature cache (same fingerprint as the CLIP baselines), so on a
benchmark the models already ran on this costs no encoding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from dfad_bench.errors import DfadError
from dfad_bench.taxonomy import REAL


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FD between Gaussians fitted to the rows of ``a`` and ``b`` (n_a, d) and (n_b, d)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise DfadError(f"frechet_distance: need two (n >= 2, d) arrays of equal d, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # singular product: regularise, as the reference FID code does
        eps = 1e-6 * np.eye(len(cov_a))
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)  # tiny imaginary parts are numerical noise
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


@dataclass(frozen=True)
class FidelityRow:
    generator: str
    family: str
    forgery_type: str
    n: int
    fd: float
    fd_over_floor: float  # fd / (real-vs-real FD at this n): 1 means indistinguishable at this n


def fidelity_table(manifest_table: pd.DataFrame, features: np.ndarray, n: int = 500, seed: int = 0) -> tuple[list[FidelityRow], float]:
    """FD of every generator's embeddings to a random half of the pristine pool, and the floor.

    ``features`` are the embeddings of ``manifest_table``'s rows, in order. The pristine pool is
    split into two disjoint random halves of ``n`` (the floor is their FD); every generator uses
    ``n`` of its images (all if it has fewer, noted in its row) against the first half.
    """
    if len(features) != len(manifest_table):
        raise DfadError(f"fidelity: {len(features)} embeddings for {len(manifest_table)} manifest rows")
    rng = np.random.default_rng(seed)
    real = np.flatnonzero((manifest_table["family"] == REAL).to_numpy())
    if len(real) < 2 * n:
        raise DfadError(f"fidelity: need at least 2 x n = {2 * n} pristine images for the floor, the benchmark has {len(real)}; lower --n")
    pick = rng.permutation(real)
    ref, other = features[pick[:n]], features[pick[n:2 * n]]
    floor = frechet_distance(ref, other)
    rows = []
    fakes = manifest_table[manifest_table["family"] != REAL]
    for gen, part in fakes.groupby("generator", sort=True):
        idx = rng.permutation(part.index.to_numpy())[:n]
        fd = frechet_distance(features[idx], ref)
        first = part.iloc[0]
        rows.append(FidelityRow(str(gen), str(first["family"]), str(first["forgery_type"]), len(idx), fd,
                                fd / floor if floor > 0 else float("inf")))
    return rows, floor


def run_fidelity(benchmark: str | None, backbone_name: str = "clip-mini", n: int = 500, seed: int = 0,
                 device: str = "cpu") -> dict:
    """Resolve the benchmark, embed every image (cached), return {"floor", "rows", ...} for a report."""
    from dfad_bench.backbones import create_backbone
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.harness.frozen import clip_image_features
    from dfad_bench.harness.images import make_loader_factory, prescan_images
    from dfad_bench.harness.views import analysis_view

    name, manifest = resolve_benchmark(benchmark)
    table, bad = prescan_images(manifest)
    table = table.reset_index(drop=True)
    backbone = create_backbone(backbone_name, device=device)
    view = analysis_view(table, manifest.root, make_loader_factory(device, 0))
    feats = clip_image_features(view, backbone)
    rows, floor = fidelity_table(table, feats, n=n, seed=seed)
    return {
        "benchmark": name, "samples_hash": manifest.samples_hash, "backbone": backbone_name,
        "encoder_fingerprint": backbone.fingerprint, "n": n, "seed": seed, "floor_fd_real_vs_real": floor,
        "bad_inputs": [b.to_dict() for b in bad], "rows": [asdict(r) for r in rows],
    }
