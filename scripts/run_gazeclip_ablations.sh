#!/usr/bin/env bash
# GazeCLIP ablations on DFAD-Mini: each module switched off in turn, 3 seeds, one protocol.
# Records go to leaderboards/ablations/<protocol>/gazeclip/<run>/{record.json,predictions.parquet}
# (predictions kept so `dfad-bench rescore leaderboards/ablations` can recompute them; the default
# configuration's runs are the leaderboard's own, under leaderboards/records/); then the table:
#   python scripts/ablation_table.py --protocol unseen-flow leaderboards/records leaderboards/ablations
# Usage: bash scripts/run_gazeclip_ablations.sh [protocol] ["0 1 2"]
set -euo pipefail
cd "$(dirname "$0")/.."
PROTOCOL=${1:-unseen-flow}
SEEDS=${2:-"0 1 2"}
BIN=${BIN:-.venv/bin/dfad-bench}
BOARD_FLAGS=(--board)  # committed results: a dirty tree is refused (ALLOW_DIRTY=1: allowed, recorded)
if [ "${ALLOW_DIRTY:-0}" = 1 ]; then BOARD_FLAGS+=(--allow-dirty); fi
RESULTS=${RESULTS:-results/ablations}
SWITCHES=("gaze=false" "gie=false" "vpe=false" "lre=false" "aws=false" "prompt_levels=[family,generator]")
for seed in $SEEDS; do
  for switch in "${SWITCHES[@]}"; do
    echo "== gazeclip --set $switch $PROTOCOL seed $seed ($(date +%H:%M:%S))"
    out=$("$BIN" run --model gazeclip --protocol "$PROTOCOL" --seed "$seed" --set "$switch" \
          --results "$RESULTS" --quiet "${BOARD_FLAGS[@]}" 2>&1) || { echo "FAILED: $switch seed $seed"; echo "$out" | tail -3; continue; }
    rec=$(echo "$out" | sed -n 's/^record: //p' | tail -1)
    dest="leaderboards/ablations/$(dirname "${rec#"$RESULTS"/}")"
    mkdir -p "$dest" && cp "$(dirname "$rec")/predictions.parquet" "$rec" "$dest/"   # exactly the run just made
  done
done
