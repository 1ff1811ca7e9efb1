#!/usr/bin/env bash
# Regenerate the DFAD-Mini leaderboard: run models x protocols x seeds, keep each run's
# record.json and predictions.parquet (zstd, with the ground truth joined, so `dfad-bench rescore`
# can recompute every number) under leaderboards/records/, render tables, rescore.
# Runs use --board: a dirty git tree is refused (commit first; ALLOW_DIRTY=1 passes --allow-dirty,
# which the records then say).
# Usage: bash scripts/run_mini_board.sh "model1 model2" "protocol1 protocol2" "0 1 2"
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${1:-"gazeclip clip-linear clip-zeroshot"}
PROTOCOLS=${2:-"unseen-flow"}
SEEDS=${3:-"0 1 2"}
RESULTS=${RESULTS:-results/mini}
BIN=${BIN:-.venv/bin/dfad-bench}
BOARD_FLAGS=(--board)
if [ "${ALLOW_DIRTY:-0}" = 1 ]; then BOARD_FLAGS+=(--allow-dirty); fi
for protocol in $PROTOCOLS; do
  for seed in $SEEDS; do
    for model in $MODELS; do
      if find "leaderboards/records/$protocol/$model" -path "*seed$seed-*" -name record.json 2>/dev/null | grep -q .; then
        continue  # already on the board
      fi
      echo "== $model $protocol seed $seed ($(date +%H:%M:%S))"
      out=$("$BIN" run --model "$model" --protocol "$protocol" --seed "$seed" --results "$RESULTS" --quiet "${BOARD_FLAGS[@]}" 2>&1) \
        || { echo "FAILED: $model $protocol $seed"; echo "$out" | tail -3; continue; }
      echo "$out" | tail -4
      # Copy exactly the run just made (the results folder may hold stale runs of other configs).
      rec=$(echo "$out" | sed -n 's/^record: //p' | tail -1)
      dest="leaderboards/records/$(dirname "${rec#"$RESULTS"/}")"
      mkdir -p "$dest" && cp "$(dirname "$rec")/predictions.parquet" "$rec" "$dest/"
    done
  done
done
"$BIN" leaderboard --results leaderboards/records --format md --output leaderboards/mini.md
"$BIN" leaderboard --results leaderboards/records --format html --output leaderboards/index.html
"$BIN" leaderboard --results leaderboards/records --format csv --output leaderboards/mini.csv
"$BIN" leaderboard --results leaderboards/records --format latex --output leaderboards/mini.tex
"$BIN" rescore leaderboards/records
.venv/bin/python scripts/results_table.py --update-docs
