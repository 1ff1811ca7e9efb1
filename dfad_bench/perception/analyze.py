"""Gaze analysis report: do fakes look where real faces look?

The paper's core observation, measured: for pristine images vs each family and each generator,
the distributions of gaze pitch and yaw and of the left/right-eye inconsistency (angle between
the two eyes' gaze directions), compared with two-sample Kolmogorov-Smirnov tests and energy
distances (``scipy.stats``, 1-D per variable; Holm-adjusted p-values over all tests are given
too, since many groups are tested); and, for manipulations that name a ``source_id``, gaze
preservation: the angle between the manipulated image's gaze and its source's, per generator,
beside a chance level (the same angle for randomly re-paired pristine images).

Angles in the report are in degrees. Images the encoder could not read a face from are counted
per reason and left out of the statistics (never replaced by numbers).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from dfad_bench.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.perception.gaze.base import GazeEncoder, GazeOutput, angular_error_deg
from dfad_bench.perception.gaze.cached import encode_images

REQUIRED = ("sample_id", "path", "generator", "family")
VARIABLES = ("pitch_deg", "yaw_deg", "eye_inconsistency_deg")
PRISTINE_FAMILY = "real"
CHUNK = 256
MIN_N = 2  # fewer valid values than this in a group: no test


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image file to uint8 RGB (a bad file is an error naming the file, never skipped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DfadError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from exc


def encode_manifest(manifest: pd.DataFrame, image_root: Path, encoder: GazeEncoder,
                    progress: Callable[[int, int], None] | None = None) -> GazeOutput:
    """Gaze of every manifest row, in row order; uses ``encoder.encode_keys`` with the manifest's
    ``content_hash`` when the encoder is cached, so cached images are not even decoded."""
    paths = [Path(p) if Path(p).is_absolute() else Path(image_root) / p for p in manifest["path"].astype(str)]
    use_keys = hasattr(encoder, "encode_keys") and "content_hash" in manifest.columns and manifest["content_hash"].notna().all()
    parts = []
    for start in range(0, len(paths), CHUNK):
        chunk = paths[start : start + CHUNK]
        if use_keys:
            keys = manifest["content_hash"].iloc[start : start + CHUNK].astype(str).tolist()
            parts.append(encoder.encode_keys(keys, lambda pos, chunk=chunk: [load_rgb(chunk[p]) for p in pos]))  # type: ignore[attr-defined]
        else:
            parts.append(encode_images(encoder, [load_rgb(p) for p in chunk]))
        if progress:
            progress(min(start + CHUNK, len(paths)), len(paths))
    return GazeOutput.concat(parts) if parts else GazeOutput.empty(encoder.feature_dim)


def per_sample_table(manifest: pd.DataFrame, out: GazeOutput) -> pd.DataFrame:
    cols = [c for c in ("sample_id", "generator", "family", "forgery_type", "source_id") if c in manifest.columns]
    table = manifest[cols].reset_index(drop=True).copy()
    table["valid"] = out.valid
    table["reason"] = list(out.reason)
    table["pitch_deg"] = np.degrees(out.pitch)
    table["yaw_deg"] = np.degrees(out.yaw)
    table["left_pitch_deg"], table["left_yaw_deg"] = np.degrees(out.left[:, 0]), np.degrees(out.left[:, 1])
    table["right_pitch_deg"], table["right_yaw_deg"] = np.degrees(out.right[:, 0]), np.degrees(out.right[:, 1])
    table["eye_inconsistency_deg"] = out.eye_inconsistency_deg
    return table


def _describe(values: np.ndarray) -> dict[str, float | None]:
    v = values[np.isfinite(values)]
    if not len(v):
        return {"mean": None, "std": None, "median": None}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "median": float(np.median(v))}


def _compare(group: np.ndarray, pristine: np.ndarray) -> dict[str, float | int | None]:
    g, p = group[np.isfinite(group)], pristine[np.isfinite(pristine)]
    if len(g) < MIN_N or len(p) < MIN_N:
        return {"n": int(len(g)), "ks_stat": None, "ks_p": None, "energy_distance": None}
    ks = stats.ks_2samp(g, p)
    return {"n": int(len(g)), "ks_stat": float(ks.statistic), "ks_p": float(ks.pvalue),
            "energy_distance": float(stats.energy_distance(g, p))}


def _holm(pvalues: Sequence[float]) -> list[float]:
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    adj = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def group_statistics(table: pd.DataFrame, level: str) -> dict[str, Any]:
    pristine = table[(table["family"] == PRISTINE_FAMILY) & table["valid"]]
    result: dict[str, Any] = {}
    for name, grp in table.groupby(level, sort=True):
        valid = grp[grp["valid"]]
        entry: dict[str, Any] = {
            "n": int(len(grp)), "n_valid": int(len(valid)),
            "invalid_reasons": {str(k): int(v) for k, v in grp.loc[~grp["valid"], "reason"].value_counts().items()},
            "describe": {var: _describe(valid[var].to_numpy(float)) for var in VARIABLES},
        }
        if not (grp["family"] == PRISTINE_FAMILY).all():
            entry["vs_pristine"] = {var: _compare(valid[var].to_numpy(float), pristine[var].to_numpy(float)) for var in VARIABLES}
        result[str(name)] = entry
    return result


def _add_holm(groups_by_level: dict[str, dict[str, Any]]) -> None:
    slots = [(entry["vs_pristine"][var], "ks_p") for level in groups_by_level.values() for entry in level.values()
             if "vs_pristine" in entry for var in VARIABLES if entry["vs_pristine"][var]["ks_p"] is not None]
    for (slot, _), adj in zip(slots, _holm([s["ks_p"] for s, _ in slots]), strict=True):
        slot["ks_p_holm"] = adj


def gaze_preservation(manifest: pd.DataFrame, out: GazeOutput, seed: int = 0) -> dict[str, Any]:
    """Per generator: angle between each manipulated image's gaze and its source's (degrees)."""
    if "source_id" not in manifest.columns:
        return {}
    ids = manifest["sample_id"].astype(str).reset_index(drop=True)
    pos = pd.Series(np.arange(len(ids)), index=ids)
    src = manifest["source_id"].reset_index(drop=True)
    has = src.notna() & src.astype(str).isin(pos.index)
    pristine = np.flatnonzero(((manifest["family"] == PRISTINE_FAMILY).to_numpy()) & out.valid)
    chance = None
    if len(pristine) >= 2:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(pristine)
        keep = perm != pristine
        chance = float(np.mean(angular_error_deg(out.vector[pristine[keep]], out.vector[perm[keep]])))
    result: dict[str, Any] = {}
    gens = manifest["generator"].astype(str).reset_index(drop=True)
    for gen in sorted(gens[has].unique()):
        rows = np.flatnonzero(has & (gens == gen))
        srcs = pos[src.iloc[rows].astype(str)].to_numpy()
        both = out.valid[rows] & out.valid[srcs]
        err = angular_error_deg(out.vector[rows[both]], out.vector[srcs[both]])
        result[gen] = {
            "n_pairs": int(len(rows)), "n_valid_pairs": int(both.sum()),
            "mean_deg": float(err.mean()) if len(err) else None,
            "median_deg": float(np.median(err)) if len(err) else None,
            "p90_deg": float(np.percentile(err, 90)) if len(err) else None,
            "chance_deg": chance,
            "errors_deg": err.tolist(),
        }
    return result


def pristine_accuracy(manifest: pd.DataFrame, out: GazeOutput) -> dict[str, Any] | None:
    """Encoder error against ground-truth gaze where the manifest has it (e.g. DFAD-Mini renders)."""
    if not {"gaze_pitch", "gaze_yaw"} <= set(manifest.columns):
        return None
    gt = manifest[["gaze_pitch", "gaze_yaw"]].to_numpy(float)
    ok = np.isfinite(gt).all(axis=1) & out.valid
    if not ok.any():
        return None
    err = angular_error_deg(np.stack([out.pitch, out.yaw], axis=1)[ok], gt[ok])
    return {"n": int(ok.sum()), "mean_deg": float(err.mean()), "median_deg": float(np.median(err))}


# --------------------------------------------------------------------------- plots


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def make_plots(table: pd.DataFrame, preservation: dict[str, Any]) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plots: dict[str, bytes] = {}
    valid = table[table["valid"]]
    pristine = valid[valid["family"] == PRISTINE_FAMILY]
    families = sorted(valid["family"].unique())
    if families:
        ncol = min(3, len(families))
        nrow = int(np.ceil(len(families) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.8 * nrow), squeeze=False, sharex=True, sharey=True)
        for ax, fam in zip(axes.ravel(), families, strict=False):
            grp = valid[valid["family"] == fam]
            if fam != PRISTINE_FAMILY and len(pristine):
                ax.scatter(pristine["yaw_deg"], pristine["pitch_deg"], s=4, c="0.75", label="pristine", rasterized=True)
            ax.scatter(grp["yaw_deg"], grp["pitch_deg"], s=5, alpha=0.6, label=fam, rasterized=True)
            if len(grp) >= 5 and grp[["yaw_deg", "pitch_deg"]].std().min() > 1e-6:
                _kde_contour(ax, grp["yaw_deg"].to_numpy(), grp["pitch_deg"].to_numpy())
            ax.set_title(f"{fam} (n={len(grp)})")
            ax.set_xlabel("yaw (deg, + = towards image left)")
            ax.set_ylabel("pitch (deg, + = up)")
            ax.legend(loc="upper right", fontsize=7)
        for ax in axes.ravel()[len(families) :]:
            ax.set_visible(False)
        plots["gaze_pitch_yaw_by_family.png"] = _png(fig)
        plt.close(fig)

    incons = valid.dropna(subset=["eye_inconsistency_deg"])
    if len(incons):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        bins = np.linspace(0, max(1.0, float(np.percentile(incons["eye_inconsistency_deg"], 99))), 40)
        for fam in sorted(incons["family"].unique()):
            vals = incons.loc[incons["family"] == fam, "eye_inconsistency_deg"]
            ax.hist(vals, bins=bins, density=True, histtype="step", linewidth=1.6, label=f"{fam} (n={len(vals)})")
        ax.set_xlabel("angle between left- and right-eye gaze (deg)")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
        plots["eye_inconsistency_by_family.png"] = _png(fig)
        plt.close(fig)

    kept = {g: v["errors_deg"] for g, v in preservation.items() if v["errors_deg"]}
    if kept:
        fig, ax = plt.subplots(figsize=(1.6 * len(kept) + 3, 4))
        ax.boxplot(list(kept.values()), showfliers=True)
        ax.set_xticks(range(1, len(kept) + 1), list(kept))
        chance = next(iter(preservation.values()))["chance_deg"]
        if chance is not None:
            ax.axhline(chance, color="0.4", linestyle="--", label="chance (random pristine pairs)")
            ax.legend(fontsize=8)
        ax.set_ylabel("gaze change vs source (deg)")
        plots["gaze_preservation_by_generator.png"] = _png(fig)
        plt.close(fig)
    return plots


def _kde_contour(ax: Any, x: np.ndarray, y: np.ndarray) -> None:
    try:
        kde = stats.gaussian_kde(np.vstack([x, y]))
    except np.linalg.LinAlgError:
        return  # singular covariance (e.g. collinear points): the scatter alone is shown
    xs = np.linspace(x.min(), x.max(), 60)
    ys = np.linspace(y.min(), y.max(), 60)
    gx, gy = np.meshgrid(xs, ys)
    ax.contour(gx, gy, kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape), levels=4, linewidths=0.8)


# --------------------------------------------------------------------------- report


def _clean(obj: Any) -> Any:
    """NaN/inf -> None so the JSON is strict."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _fmt(x: Any, digits: int = 2) -> str:
    return "-" if x is None else (f"{x:.{digits}g}" if isinstance(x, float) and abs(x) < 1e-2 else f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [
        "# Gaze analysis", "",
        f"Encoder `{summary['encoder']['name']}` (fingerprint `{summary['encoder']['fingerprint']}`), "
        f"{summary['n_samples']} samples, {summary['n_valid']} with a gaze estimate. Angles in degrees; "
        "KS = two-sample Kolmogorov-Smirnov vs pristine (p-values Holm-adjusted over all tests), "
        "ED = energy distance vs pristine.", "",
    ]
    if summary.get("pristine_vs_ground_truth"):
        acc = summary["pristine_vs_ground_truth"]
        lines += [f"Encoder error on pristine images with ground truth: mean {_fmt(acc['mean_deg'])}, "
                  f"median {_fmt(acc['median_deg'])} (n={acc['n']}).", ""]
    for level in ("family", "generator"):
        lines += [f"## By {level}", "",
                  "| group | n | valid | pitch mean (sd) | yaw mean (sd) | eye incons. median | "
                  "KS pitch (p_holm) | KS yaw (p_holm) | KS incons. (p_holm) | ED pitch | ED yaw | ED incons. |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, e in summary["groups"][level].items():
            d = e["describe"]
            row = [name, str(e["n"]), str(e["n_valid"]),
                   f"{_fmt(d['pitch_deg']['mean'])} ({_fmt(d['pitch_deg']['std'])})",
                   f"{_fmt(d['yaw_deg']['mean'])} ({_fmt(d['yaw_deg']['std'])})",
                   _fmt(d["eye_inconsistency_deg"]["median"])]
            vs = e.get("vs_pristine")
            for var in VARIABLES:
                c = vs[var] if vs else None
                row.append("-" if not c or c["ks_stat"] is None else f"{c['ks_stat']:.3f} ({_fmt(c.get('ks_p_holm'), 2)})")
            for var in VARIABLES:
                c = vs[var] if vs else None
                row.append("-" if not c or c["energy_distance"] is None else f"{c['energy_distance']:.3f}")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if summary["preservation"]:
        lines += ["## Gaze preservation (manipulated image vs its source)", "",
                  "| generator | pairs | valid pairs | mean | median | p90 | chance |", "|---|---|---|---|---|---|---|"]
        for gen, p in summary["preservation"].items():
            lines.append(f"| {gen} | {p['n_pairs']} | {p['n_valid_pairs']} | {_fmt(p['mean_deg'])} | "
                         f"{_fmt(p['median_deg'])} | {_fmt(p['p90_deg'])} | {_fmt(p['chance_deg'])} |")
        lines.append("")
    if summary["plots"]:
        lines += ["## Plots", ""] + [f"![{name}]({name})" for name in summary["plots"]] + [""]
    return "\n".join(lines)


def analyze_gaze(manifest: pd.DataFrame, image_root: Path, encoder: GazeEncoder, out_dir: Path,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``encoder`` on every image of ``manifest`` and write report.json, report.md, gaze.parquet
    and PNG plots into ``out_dir`` (each file atomically). Returns the summary (= report.json)."""
    missing = [c for c in REQUIRED if c not in manifest.columns]
    if missing:
        raise DfadError(f"analyze_gaze: manifest lacks columns {missing}; expected {list(REQUIRED)}")
    manifest = manifest.reset_index(drop=True)
    if not (manifest["family"] == PRISTINE_FAMILY).any():
        raise DfadError(f"analyze_gaze: manifest has no pristine samples (family '{PRISTINE_FAMILY}') to compare against")
    out = encode_manifest(manifest, Path(image_root), encoder, progress)
    table = per_sample_table(manifest, out)
    groups = {level: group_statistics(table, level) for level in ("family", "generator")}
    _add_holm(groups)
    preservation = gaze_preservation(manifest, out)
    plots = make_plots(table, preservation)
    summary = _clean({
        "encoder": {"name": encoder.name, "fingerprint": encoder.fingerprint},
        "n_samples": len(table), "n_valid": int(table["valid"].sum()),
        "invalid_reasons": {str(k): int(v) for k, v in table.loc[~table["valid"], "reason"].value_counts().items()},
        "pristine_vs_ground_truth": pristine_accuracy(manifest, out),
        "groups": groups,
        "preservation": {g: {k: v for k, v in p.items() if k != "errors_deg"} for g, p in preservation.items()},
        "plots": sorted(plots),
        "files": ["report.json", "report.md", "gaze.parquet", *sorted(plots)],
    })
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in plots.items():
        write_bytes_atomic(out_dir / name, data)
    write_with_atomic(out_dir / "gaze.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    write_text_atomic(out_dir / "report.md", render_markdown(summary))
    write_json_atomic(out_dir / "report.json", summary)
    return summary


def run_gaze_analysis(benchmark: str | None, gaze: str, output: Path, device: str = "cpu", use_cache: bool = True,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """What ``dfad-bench analyze gaze --benchmark B --gaze ENCODER --output DIR`` runs."""
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.perception.gaze.base import create_gaze_encoder
    from dfad_bench.perception.gaze.cached import CachedGazeEncoder

    _, manifest = resolve_benchmark(benchmark)
    encoder: GazeEncoder = create_gaze_encoder(gaze, device=device)
    if use_cache:
        encoder = CachedGazeEncoder(encoder)
    return analyze_gaze(manifest.table, manifest.root, encoder, Path(output), progress)
