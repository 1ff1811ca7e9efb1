"""Result tables from stored run records (mean ± std over seeds), for the docs.

    python scripts/results_table.py leaderboards/records gazeclip clip-linear clip-zeroshot
    python scripts/results_table.py --update-docs          # rewrite every marked table in README.md, docs/*.md
    python scripts/results_table.py --check-docs           # exit 1 if a marked table differs from its records

Doc tables live between ``<!-- table:KIND ARGS -->`` and ``<!-- /table -->`` markers and are
rebuilt from the records the marker names (dfad_bench/tables/docs.py); columns, names and scales
come from the metric table (dfad_bench/metrics/table.py). The full boards are
``dfad-bench leaderboard --results leaderboards/records``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dfad_bench.tables.docs import results_table, update_docs

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, help="records folder")
    ap.add_argument("models", nargs="*", help="models, in row order (default: all)")
    ap.add_argument("--update-docs", action="store_true", help="regenerate the marked tables in README.md and docs/*.md")
    ap.add_argument("--check-docs", action="store_true", help="exit 1 if a marked table is out of date")
    args = ap.parse_args(argv)
    if args.update_docs or args.check_docs:
        changed = update_docs(REPO, check=args.check_docs)
        for path in changed:
            print(f"{'out of date' if args.check_docs else 'updated'}: {path.relative_to(REPO)}")
        return 1 if (args.check_docs and changed) else 0
    if args.root is None:
        ap.error("give a records folder, or --update-docs / --check-docs")
    sys.stdout.write(results_table(args.root, args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
