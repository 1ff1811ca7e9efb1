"""The plain peer script a researcher would write for UnivFD: frozen CLIP image features, then
one logistic regression for real/fake, on the same split as ``dfad-bench run``.

    python benchmarks/plain_univfd.py --manifest BENCH/manifest.csv --backbone clip-mini

No harness: no feature cache, no image pre-scan, no val sweep, no record. It borrows from
dfad_bench only what makes the comparison fair: the protocol split (same train/test samples) and
the backbone loader (same weights and preprocessing, so the same features). Prints the test AUC
and its own wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler


def main() -> None:
    t0 = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True, type=Path)
    ap.add_argument("--backbone", default="clip-mini")
    ap.add_argument("--protocol", default="unseen-flow")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--open-clip-config", type=Path, help="register this open_clip model config first (tiny test backbones)")
    args = ap.parse_args()
    if args.open_clip_config:
        import open_clip

        open_clip.add_model_config(args.open_clip_config)

    from dfad_bench.backbones import create_backbone
    from dfad_bench.manifest import load_manifest
    from dfad_bench.protocol import get_protocol
    from dfad_bench.splits import split_manifest

    manifest = load_manifest(args.manifest)
    roles = split_manifest(manifest, get_protocol(args.protocol), args.seed).roles.set_index("sample_id")["role"]
    table = manifest.table.assign(role=manifest.table["sample_id"].map(roles))
    backbone = create_backbone(args.backbone, device=args.device)

    def features(rows: pd.DataFrame) -> np.ndarray:
        out = []
        for start in range(0, len(rows), args.batch_size):
            # decoded as uint8 RGB at their own size (the benchmarks' images share one size);
            # the backbone resizes and normalises as its weights expect
            batch = np.stack([np.asarray(Image.open(manifest.root / p).convert("RGB"))
                              for p in rows["path"].iloc[start : start + args.batch_size]])
            out.append(backbone.encode_uint8(batch, args.batch_size))
        return np.concatenate(out)

    train, test = table[table["role"] == "train"], table[table["role"] == "test"]
    x_tr, x_te = features(train), features(test)
    scaler = StandardScaler().fit(x_tr)
    clf = LogisticRegression(max_iter=1000).fit(scaler.transform(x_tr), train["generator"].ne("real").astype(int))
    score = clf.predict_proba(scaler.transform(x_te))[:, 1]
    auc = roc_auc_score(test["generator"].ne("real").astype(int), score)
    print(f"plain UnivFD: train {len(train)}, test {len(test)} images, test AUC {auc:.4f}, wall {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
