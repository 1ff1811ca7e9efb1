"""Bundles: a run's weights, grids, summary and log packed into few tar files (what comes back from
a lent GPU machine), and unpacked into the weights folder."""

from __future__ import annotations

import tarfile
from pathlib import Path

from dfad_bench.atomic import write_with_atomic


def write_bundle(out_dir: Path, bundle_dir: Path, weights_dir: Path | None = None,
                 max_bytes: int = 12 * 2**20) -> list[Path]:
    """Pack weights, sidecars, grids, the summary and the log into few tar files of at most
    ``max_bytes`` each (the GPU machine returns at most 8 files of 16 MiB)."""
    wdir = weights_dir if weights_dir is not None else out_dir / "weights"
    members = [(f, f"weights/{f.name}") for f in sorted(wdir.glob("*")) if f.is_file()]
    members += [(f, f"grids/{f.name}") for f in sorted((out_dir / "grids").glob("*")) if f.is_file()]
    members += [(out_dir / n, n) for n in ("summary.json", "train.log") if (out_dir / n).is_file()]
    bundles: list[list[tuple[Path, str]]] = [[]]
    size = 0
    for f, arcname in members:
        s = f.stat().st_size
        if bundles[-1] and size + s > max_bytes:
            bundles.append([])
            size = 0
        bundles[-1].append((f, arcname))
        size += s
    paths = []
    bundle_dir.mkdir(parents=True, exist_ok=True)
    for i, group in enumerate(bundles):
        path = bundle_dir / f"mini_zoo_{i}.tar"
        with tarfile.open(path, "w") as tar:
            for f, arcname in group:
                tar.add(f, arcname=arcname)
        paths.append(path)
    return paths


def install_bundle(bundle_dir: Path, weights_dir: Path, grids_dir: Path | None = None) -> list[Path]:
    """Unpack ``mini_zoo_*.tar`` from ``bundle_dir``: weights/ into ``weights_dir``, grids/ into
    ``grids_dir`` (if given)."""
    written = []
    for path in sorted(bundle_dir.glob("mini_zoo_*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 2 or ".." in parts:
                    continue
                dest = {"weights": weights_dir, "grids": grids_dir}.get(parts[0])
                if dest is None:
                    continue
                fobj = tar.extractfile(member)
                assert fobj is not None
                data = fobj.read()
                target = Path(dest) / parts[1]
                write_with_atomic(target, lambda tmp, data=data: tmp.write_bytes(data))
                written.append(target)
    return written
