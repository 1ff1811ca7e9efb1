"""Time ``score`` on N synthetic predictions, today's code against the code before the rewrite.

    python benchmarks/bench_score.py            # about 300k predictions
    python benchmarks/bench_score.py --n 1000000

Each side runs in its own process (so peak memory is its own): manifest load, ``unseen-flow``
split, ``score_predictions`` with the detection bootstrap CI and family attribution, and the
manifest hash the ``score`` command prints. "old" swaps in the implementations kept below
(re-ranking every bootstrap resample with ``rankdata``; the family CI over the full
(n, N) index matrix; ``isin`` over string ids; the hash
computed at load). Prints wall seconds, peak RSS and the new/old ratios, and checks that both
sides give identical metrics.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

GENERATORS = {  # name: (family, forgery type); unseen-flow holds the flow family out
    "g-gan-a": ("gan", "efs"), "g-gan-b": ("gan", "efs"), "g-diff-a": ("diffusion", "efs"),
    "g-diff-b": ("diffusion", "efs"), "g-flow-a": ("flow", "efs"), "g-flow-b": ("flow", "efs"),
}


#: Share of the synthetic manifest that unseen-flow makes test or val (measured: 8477 of 20000).
TEST_VAL_SHARE = 0.42


def write_inputs(n: int, folder: Path) -> tuple[Path, Path]:
    """A manifest of n rows (half real) and predictions for every sample, scores with ties."""
    rng = np.random.default_rng(0)
    n_real = n // 2
    gens = np.array(list(GENERATORS))[rng.integers(0, len(GENERATORS), size=n - n_real)]
    sid = np.concatenate([np.char.add("real-", np.arange(n_real).astype(str)), np.char.add(np.char.add(gens, "-"), np.arange(n - n_real).astype(str))])
    generator = np.concatenate([np.full(n_real, "real"), gens])
    family = np.array([GENERATORS[g][0] if g != "real" else "real" for g in generator])
    table = pd.DataFrame({
        "sample_id": sid, "path": np.char.add(np.char.add("images/", sid), ".png"), "generator": generator, "family": family,
        "forgery_type": np.where(generator == "real", "real", "efs"),
        "identity": np.char.add("id-", (np.arange(n) // 2).astype(str)),
    })
    manifest = folder / "manifest.parquet"
    table.to_parquet(manifest, index=False)
    fake = generator != "real"
    score = np.clip(np.round(rng.normal(0.4 + 0.2 * fake, 0.2), 3), 0, 1)  # 3 decimals: many ties
    pred = pd.DataFrame({"sample_id": sid, "fake_score": score})
    fams = ["diffusion", "gan", "real"]  # the families unseen-flow hands out
    p = rng.dirichlet(np.ones(len(fams)), size=n)
    for k, f in enumerate(fams):
        pred[f"prob_family.{f}"] = p[:, k]
    predictions = folder / "predictions.parquet"
    pred.to_parquet(predictions, index=False)
    return manifest, predictions


# ---- the implementations before the rewrite, kept here only to compare against --------------

def old_mean_auc_ci(score, group, negative, positives, n=200, seed=0, alpha=0.05):
    from dfad_bench.metrics.bootstrap import auc_batch, bootstrap_indices, percentile_interval

    s = np.asarray(score, dtype=np.float64).ravel()
    g = np.asarray(group).astype(str).ravel()
    neg_cols = np.flatnonzero(g == negative)
    pos_cols = [np.flatnonzero(g == p) for p in positives]
    if n <= 0 or neg_cols.size == 0 or not pos_cols or any(c.size == 0 for c in pos_cols):
        return None
    keep = np.concatenate([neg_cols, *pos_cols])
    s, g = s[keep], g[keep]
    resampled = s[bootstrap_indices(s.size, n, seed, strata=g)]
    n_neg = neg_cols.size
    aucs, start = [], n_neg
    for cols in pos_cols:
        aucs.append(auc_batch(resampled[:, :n_neg], resampled[:, start : start + cols.size]))
        start += cols.size
    return percentile_interval(np.mean(aucs, axis=0), alpha)


def old_share_ci(flags, strata, n=200, seed=0, alpha=0.05):
    from dfad_bench.metrics.bootstrap import bootstrap_ci

    return bootstrap_ci(lambda c: c.mean(axis=1), np.asarray(flags, dtype=np.float64), n=n, seed=seed, strata=strata, vectorised=True)


def old_validate_predictions(pred, split, where):
    from dfad_bench.errors import DfadError
    from dfad_bench.predictions import PROB_PREFIX, validate_table

    pred = validate_table(pred, where, {level: split.label_spaces[level].classes for level in PROB_PREFIX})
    roles = split.roles.set_index("sample_id")["role"]
    unknown = pred.loc[~pred["sample_id"].isin(roles.index), "sample_id"]
    if len(unknown):
        raise DfadError(f"{where}: sample_id {unknown.iloc[0]!r} is not in the benchmark manifest")
    role_of = roles.reindex(pred["sample_id"]).to_numpy()
    wrong = pred.loc[~np.isin(role_of, ["test", "val"]), "sample_id"]
    if len(wrong):
        raise DfadError(f"{where}: sample_id {wrong.iloc[0]!r} is not a test or val sample")
    missing = split.ids("test").difference(pd.Index(pred["sample_id"]))
    if len(missing):
        raise DfadError(f"{where}: missing predictions for {len(missing)} test samples")
    return pred.set_index("sample_id")


def run_side(impl: str, manifest: Path, predictions: Path, out: Path) -> None:
    import dfad_bench.metrics.report as report
    import dfad_bench.scoring as scoring
    from dfad_bench.manifest import load_manifest
    from dfad_bench.protocol import get_protocol
    from dfad_bench.splits import split_manifest

    t0 = time.perf_counter()
    m = load_manifest(manifest)
    if impl == "old":
        report.mean_auc_ci = old_mean_auc_ci
        report.share_ci = old_share_ci
        scoring.validate_predictions = old_validate_predictions
        _ = m.hash  # computed at load before
    t_load = time.perf_counter()
    split = split_manifest(m, get_protocol("unseen-flow"), 0)
    t_split = time.perf_counter()
    test_val = set(split.ids("test")) | set(split.ids("val"))
    pred = pd.read_parquet(predictions)
    pred = pred[pred["sample_id"].isin(test_val)].reset_index(drop=True)
    t_read = time.perf_counter()
    metrics = scoring.score_predictions(pred, split, where=str(predictions))
    _ = m.hash  # the score command prints it
    t_end = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.write_text(json.dumps({
        "load": t_load - t0, "split": t_split - t_load, "score": t_end - t_read, "total": t_end - t0 - (t_read - t_split),
        "peak_mib": peak_kib / 1024, "n_pred": len(pred), "metrics": json.dumps(metrics, sort_keys=True),
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300_000, help="about this many predictions (test and val samples of a manifest 2.4x as long)")
    ap.add_argument("--side", choices=["old", "new"], help=argparse.SUPPRESS)
    ap.add_argument("--inputs", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        run_side(args.side, Path(args.inputs[0]), Path(args.inputs[1]), Path(args.inputs[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest, predictions = write_inputs(int(args.n / TEST_VAL_SHARE), folder)
        res = {}
        for side in ("old", "new"):
            out = folder / f"{side}.json"
            subprocess.run([sys.executable, __file__, "--side", side, "--inputs", str(manifest), str(predictions), str(out)], check=True)
            res[side] = json.loads(out.read_text())
    old, new = res["old"], res["new"]
    print(f"manifest rows {int(args.n / TEST_VAL_SHARE)}, predictions scored {new['n_pred']}")
    for key in ("load", "split", "score", "total"):
        print(f"{key:>6}: old {old[key]:7.2f} s  new {new[key]:7.2f} s  new/old {new[key] / old[key]:.3f}")
    print(f"peak RSS: old {old['peak_mib']:.0f} MiB  new {new['peak_mib']:.0f} MiB  new/old {new['peak_mib'] / old['peak_mib']:.3f}")
    same = old["metrics"] == new["metrics"]
    print(f"metrics identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
