"""Print a compact markdown comparison (mean ± std over seeds) from stored run records.

    python scripts/results_table.py leaderboards/records gazeclip clip-linear clip-zeroshot

Used to fill the results sections of docs/GAZECLIP.md and docs/BASELINES.md; the full tables are
`dfad-bench leaderboard --results leaderboards/records`.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def cell(values: list[float | None]) -> str:
    if not values or any(v is None for v in values):
        return "—"
    v = np.asarray(values, dtype=float) * 100
    return f"{v.mean():.1f}" if len(v) == 1 else f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"


def main() -> None:
    root, models = Path(sys.argv[1]), sys.argv[2:]
    rows: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted(root.rglob("record.json")):
        rec = json.loads(path.read_text())
        if not models or rec["model"] in models:
            rows[(rec["protocol"], rec["model"])].append(rec)
    print("| protocol | model | seeds | mean unseen AUC | family ACC (all) | family ACC unseen | generator ACC | ACC @ val thr. |")
    print("|---|---|---|---|---|---|---|---|")
    for (protocol, model), recs in sorted(rows.items(), key=lambda kv: (kv[0][0], (models or [kv[0][1]]).index(kv[0][1]) if kv[0][1] in models else 0)):
        m = [r["metrics"] for r in recs]
        fam = [x["attribution"]["family"] or {} for x in m]
        print(
            f"| {protocol} | {model} | {len(recs)} | {cell([x['detection_auc_mean_unseen'] for x in m])} | "
            f"{cell([x['attribution_acc_family'] for x in m])} | {cell([f.get('acc_unseen') for f in fam])} | "
            f"{cell([x['attribution_acc_generator'] for x in m])} | {cell([x['detection']['acc_val_threshold'] for x in m])} |"
        )


if __name__ == "__main__":
    main()
