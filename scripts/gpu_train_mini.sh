#!/usr/bin/env bash
# One prepared GPU job that trains every DFAD-Mini model: the six generators (one process, in
# sequence, time-shared) and clip-mini (a second process on the same GPU). Used once on a lent
# H200; the same commands run (slowly) on CPU. Outputs land in $OUT (weights bundle, sidecars, log).
set -uo pipefail
OUT=${OUT:-/tmp/mini_out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
ZOO_S=${ZOO_S:-280}
CLIP_S=${CLIP_S:-200}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, open_clip; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'open_clip', open_clip.__version__)" >> "$OUT/gpu.txt" 2>&1
( python3 -m dfad_mini.clip_pretrain --device cuda --time-budget-s "$CLIP_S" --batch-size 512 \
    --out "$OUT/clip" --work-dir /tmp/clipwork --workers 6 > "$OUT/clip.log" 2>&1; echo "clip rc=$?" >> "$OUT/clip.log" ) &
python3 -m dfad_mini.train --device cuda --all --total-time-s "$ZOO_S" --out /tmp/zoo --bundle "$OUT/zoo" --workers 10 \
    > "$OUT/zoo.log" 2>&1
echo "zoo rc=$?" >> "$OUT/zoo.log"
wait
cp "$OUT"/clip/clip-mini.* "$OUT"/ 2>/dev/null
rm -rf "$OUT/clip"
ls -la "$OUT" "$OUT/zoo" >> "$OUT/gpu.txt" 2>&1
