"""Print the GazeCLIP ablation table (mean ± std over seeds) from stored run records.

    python scripts/ablation_table.py --protocol unseen-flow leaderboards/records leaderboards/ablations

Each row is one configuration, labelled by how it differs from the registered default
configuration (``default`` when it does not); records of other models or protocols are ignored.
Used to fill the ablation section of docs/GAZECLIP.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from dfad_bench.registry import MODELS


def cell(values: list[float | None]) -> str:
    if not values or any(v is None for v in values):
        return "—"
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f}" if len(v) == 1 else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def label(config: dict[str, Any], default: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        return json.dumps(v, separators=(",", ":")).replace('"', "")

    diff = [f"{k}={show(v)}" for k, v in sorted(config.items()) if k != "seed" and default.get(k) != v]
    return ", ".join(f"`{d}`" for d in diff) or "default"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", type=Path)
    ap.add_argument("--protocol", default="unseen-flow")
    ap.add_argument("--model", default="gazeclip")
    args = ap.parse_args()
    default = dict(MODELS.card(args.model).default_config)
    groups: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for root in args.roots:
        for path in sorted(root.rglob("record.json")):
            rec = json.loads(path.read_text())
            if rec["model"] == args.model and rec["protocol"] == args.protocol and rec.get("status") == "complete":
                groups[label(rec["model_config"], default)][int(rec["seed"])] = rec["metrics"]
    print("| configuration | seeds | det. AUC unseen | det. AUC seen | family ACC seen | family ACC unseen "
          "| generator ACC seen | generator ACC unseen | cluster ACC, unseen gens |")
    print("|---|---|---|---|---|---|---|---|---|")
    order = sorted(groups, key=lambda k: (k != "default", k))
    for name in order:
        ms = [groups[name][s] for s in sorted(groups[name])]
        fam = [m["attribution"]["family"] or {} for m in ms]
        gen = [m["attribution"]["generator"] or {} for m in ms]
        clu = [(m.get("clustering") or {}).get("generator") or {} for m in ms]
        print(
            f"| {name} | {' '.join(map(str, sorted(groups[name])))} | {cell([m['detection_auc_mean_unseen'] for m in ms])} | "
            f"{cell([m['detection_auc_mean_seen'] for m in ms])} | {cell([f.get('acc_seen') for f in fam])} | "
            f"{cell([f.get('acc_unseen') for f in fam])} | {cell([g.get('acc_seen') for g in gen])} | "
            f"{cell([g.get('acc_unseen') for g in gen])} | {cell([c.get('acc') for c in clu])} |"
        )


if __name__ == "__main__":
    main()
