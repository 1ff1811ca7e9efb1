"""Cold and warm ``dfad-bench run clip-linear`` against the plain peer script, as ratios.

    python benchmarks/bench_run_vs_plain.py                    # tiny toy benchmark, tiny random CLIP
    python benchmarks/bench_run_vs_plain.py --benchmark mini   # DFAD-Mini with clip-mini

Each of the three is a fresh process timed from outside (imports count, as for a user):
the plain script (benchmarks/plain_univfd.py), ``run`` with an empty feature cache (cold), and
``run`` again with that cache filled (warm). Ratios only: the machines are shared and noisy, so
the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Runs ``dfad-bench`` after registering an open_clip config (the tiny backbone lives only in a file).
CLI_WITH_CONFIG = "import sys, open_clip; open_clip.add_model_config(sys.argv.pop(1)); from dfad_bench.cli import main; main()"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return wall, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", help="benchmark name or manifest (default: a tiny toy benchmark made here)")
    ap.add_argument("--backbone", default="clip-mini", help="with --benchmark (default clip-mini)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dfad-run-vs-plain-"))
    env = {**os.environ, "DFAD_BENCH_CACHE": str(tmp / "cache")}
    config: list[str] = []
    if args.benchmark:
        from dfad_bench.benchmarks import resolve_benchmark

        _, manifest = resolve_benchmark(args.benchmark)
        manifest_path, backbone = Path(manifest.source), args.backbone
    else:
        from dfad_bench.testing import tiny_clip_backbone, toy_manifest, write_toy_images

        table = toy_manifest(n_identities=40, images_per_identity=2, fakes_per_generator=20)
        write_toy_images(table, tmp / "bench", size=32)
        manifest_path = tmp / "bench" / "manifest.csv"
        table.to_csv(manifest_path, index=False)
        backbone = tiny_clip_backbone(tmp / "clip", image_size=32)
        config = [str(tmp / "clip" / "dfad-tiny-clip.json")]
    run_cmd = [sys.executable, "-c", CLI_WITH_CONFIG, *config] if config else [sys.executable, "-m", "dfad_bench.cli"]
    plain_cmd = [sys.executable, str(HERE / "plain_univfd.py"), "--manifest", str(manifest_path), "--backbone", backbone,
                 "--device", args.device, *(["--open-clip-config", config[0]] if config else [])]

    def run(results: str) -> list[str]:
        return [*run_cmd, "run", "--model", "clip-linear", "--protocol", "unseen-flow", "--benchmark", str(manifest_path),
                "--results", str(tmp / results), "--set", f"backbone={backbone}", "--device", args.device, "--quiet"]

    plain, plain_out = timed(plain_cmd, env)
    cold, _ = timed(run("cold"), env)
    warm, _ = timed(run("warm"), env)
    record = next((tmp / "warm").rglob("record.json"))
    auc = json.loads(record.read_text())["metrics"].get("detection_auc_mean")
    print(plain_out.strip())
    print(f"run clip-linear: detection AUC (mean over generators) {auc}")
    print(f"walls (s): plain {plain:.2f}, run cold {cold:.2f}, run warm {warm:.2f}")
    print(f"run cold / plain = {cold / plain:.2f}   run warm / plain = {warm / plain:.2f}   (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
