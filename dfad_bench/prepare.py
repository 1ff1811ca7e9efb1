"""``dfad-bench prepare --benchmark B``: check every file once, crop faces, warm the encoder caches.

Incremental and resumable: each stage keeps what it did, keyed so that only new or changed files
are processed again (a second prepare does no work; after 10 images are added it processes 10):

1. **validate**: every image is read and fully decoded (the run's own pre-scan check,
   :func:`dfad_bench.harness.images._scan_one`); results are kept in ``files.parquet`` by path,
   size and modification time. Bad files are listed by path and reason (``bad_inputs.csv``),
   together with the files a dataset adapter left out (e.g. an unknown generator).
2. **faces** (default on): MTCNN on each good image, the most confident face cropped (square,
   20 % margin, ``--crop-size``) into ``crops/<content hash>.png``; ``faces.parquet`` keeps, per
   content hash, whether a face was found, its probability and box. An image without a face is
   listed with ``found = False`` and gets no crop.
3. **gaze** (``--gaze NAME``) and **backbone** (``--backbone NAME``): the encoder's outputs for
   every good image go into the feature cache that runs read (keyed by content hash and encoder
   fingerprint: :mod:`dfad_bench.cache`), so a run on the benchmark encodes nothing. A run whose
   view mixes image sizes resizes them, which is another cache key: the warm-up helps fully on
   benchmarks of one image size.

The state lives in ``<cache>/prepared/<samples hash[:16]>/`` unless ``--output`` says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.atomic import write_text_atomic, write_with_atomic
from dfad_bench.manifest import Manifest

FILES = "files.parquet"
FACES = "faces.parquet"
BAD = "bad_inputs.csv"
CROPS = "crops"


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
        return int(st.st_size), int(st.st_mtime_ns)
    except OSError:
        return -1, -1


def validate_files(manifest: Manifest, out: Path, workers: int = 4, progress: Callable | None = None) -> tuple[pd.DataFrame, int]:
    """(one row per sample: sample_id, path, size, mtime_ns, content_hash, reason; files checked now)."""
    from dfad_bench.harness.images import _scan_one

    table = manifest.table
    paths = [str(manifest.image_path(p)) for p in table["path"]]
    stats = [_stat(Path(p)) for p in paths]
    current = pd.DataFrame({"sample_id": table["sample_id"].to_numpy(), "path": paths,
                            "size": [s[0] for s in stats], "mtime_ns": [s[1] for s in stats]})
    known = pd.read_parquet(out / FILES) if (out / FILES).is_file() else None
    merged = current.copy()
    merged["content_hash"], merged["reason"] = None, None
    todo = np.ones(len(current), bool)
    if known is not None:
        prev = known.set_index(["path", "size", "mtime_ns"])
        keys = list(zip(current["path"], current["size"], current["mtime_ns"], strict=True))
        hit = [k in prev.index for k in keys]
        for i in np.flatnonzero(hit):
            row = prev.loc[keys[i]]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
            merged.loc[i, ["content_hash", "reason"]] = [row["content_hash"], row["reason"]]
        todo = ~np.asarray(hit, bool)
    idx = np.flatnonzero(todo)
    expected = table["content_hash"] if "content_hash" in table.columns else pd.Series([None] * len(table))
    jobs = [(paths[i], str(table["sample_id"].iloc[i]), expected.iloc[i] if isinstance(expected.iloc[i], str) else None) for i in idx]
    advance = progress("prepare: validate files", len(jobs)) if progress and len(jobs) else None
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, (digest, reason) in zip(idx, pool.map(_scan_one, jobs), strict=True):
            merged.loc[i, ["content_hash", "reason"]] = [digest, reason]
            if advance:
                advance()
    merged["content_hash"] = merged["content_hash"].astype("string")
    merged["reason"] = merged["reason"].astype("string")
    write_with_atomic(out / FILES, lambda p: merged.to_parquet(p, index=False))
    return merged, len(jobs)


def crop_faces_incremental(files: pd.DataFrame, out: Path, crop_size: int, device: str, progress: Callable | None = None) -> int:
    """MTCNN crops of good images not cropped yet (by content hash); returns how many were processed."""
    from PIL import Image

    from dfad_bench.harness.images import open_image, to_rgb_array
    from dfad_bench.perception.faces import create_face_detector, crop_faces

    good = files[files["reason"].isna()].drop_duplicates("content_hash")
    known = pd.read_parquet(out / FACES) if (out / FACES).is_file() else pd.DataFrame(
        {"content_hash": pd.Series(dtype="string"), "found": pd.Series(dtype=bool), "prob": pd.Series(dtype=float),
         "x1": pd.Series(dtype=float), "y1": pd.Series(dtype=float), "x2": pd.Series(dtype=float), "y2": pd.Series(dtype=float)})
    todo = good[~good["content_hash"].isin(set(known["content_hash"]))]
    if not len(todo):
        return 0
    detector = create_face_detector("mtcnn", device=device)
    (out / CROPS).mkdir(parents=True, exist_ok=True)
    advance = progress("prepare: faces", len(todo)) if progress else None
    rows = []
    for path, digest in todo[["path", "content_hash"]].itertuples(index=False):
        with open_image(path) as img:
            arr = to_rgb_array(img)
        det = detector.detect([arr])[0]
        best = det.best()
        if best is None:
            rows.append({"content_hash": digest, "found": False, "prob": float("nan"), "x1": np.nan, "y1": np.nan, "x2": np.nan, "y2": np.nan})
        else:
            crop = crop_faces([arr], det.boxes[best : best + 1], margin=0.2, size=crop_size)[0]
            write_with_atomic(out / CROPS / f"{digest}.png", lambda p, c=crop: Image.fromarray(c).save(p, format="PNG"))
            x1, y1, x2, y2 = (float(v) for v in det.boxes[best])
            rows.append({"content_hash": digest, "found": True, "prob": float(det.probs[best]), "x1": x1, "y1": y1, "x2": x2, "y2": y2})
        if advance:
            advance()
    faces = pd.concat([known, pd.DataFrame(rows)], ignore_index=True)
    write_with_atomic(out / FACES, lambda p: faces.to_parquet(p, index=False))
    return len(rows)


def warm_encoder(manifest: Manifest, files: pd.DataFrame, kind: str, name: str, device: str) -> int:
    """Fill the feature cache for every good image with a gaze encoder or a CLIP backbone; returns
    how many images were encoded now (0 when the cache had them all)."""
    from dfad_bench.harness.frozen import clip_image_features, gaze_features
    from dfad_bench.harness.images import make_loader_factory
    from dfad_bench.harness.views import analysis_view

    good = files[files["reason"].isna()]
    table = manifest.table.set_index("sample_id").loc[good["sample_id"]].reset_index()
    table["content_hash"] = good["content_hash"].to_numpy()
    view = analysis_view(table, manifest.root, make_loader_factory(device, 0))
    counted = {"n": 0}
    if kind == "gaze":
        from dfad_bench.perception.gaze import create_gaze_encoder

        encoder = create_gaze_encoder(name, device=device)
        original = encoder.encode

        def encode(images: np.ndarray) -> Any:
            counted["n"] += len(images)
            return original(images)

        encoder.encode = encode  # type: ignore[method-assign]
        gaze_features(view, encoder)
    else:
        from dfad_bench.backbones import create_backbone

        backbone = create_backbone(name, device=device)
        original = backbone.encode_uint8

        def encode_uint8(images: np.ndarray, batch_size: int = 256) -> np.ndarray:
            counted["n"] += len(images)
            return original(images, batch_size)

        backbone.encode_uint8 = encode_uint8  # type: ignore[method-assign]
        clip_image_features(view, backbone)
    return counted["n"]


def prepare_benchmark(benchmark: str, output: Path | None = None, faces: bool = True, gaze: str | None = None,
                      backbone: str | None = None, crop_size: int = 224, device: str = "cpu", workers: int | None = None,
                      progress: Callable | None = None) -> dict[str, Any]:
    """Run the stages; returns counts of what was done now and where the state lives."""
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.paths import cache_dir

    name, manifest = resolve_benchmark(benchmark)
    out = Path(output) if output else cache_dir("prepared", manifest.samples_hash[:16])
    out.mkdir(parents=True, exist_ok=True)
    files, validated = validate_files(manifest, out, workers or min(8, os.cpu_count() or 1), progress)
    bad = files[files["reason"].notna()][["sample_id", "path", "reason"]]
    bad = pd.concat([pd.DataFrame(list(manifest.excluded), columns=["sample_id", "path", "reason"]), bad], ignore_index=True)
    write_text_atomic(out / BAD, bad.to_csv(index=False))
    summary: dict[str, Any] = {"benchmark": name, "output": str(out), "images": len(files), "bad": len(bad),
                               "validated_now": validated, "faces_now": 0, "gaze_encoded_now": 0, "backbone_encoded_now": 0}
    if faces:
        summary["faces_now"] = crop_faces_incremental(files, out, crop_size, device, progress)
        found = pd.read_parquet(out / FACES) if (out / FACES).is_file() else pd.DataFrame({"found": []})
        summary["faces_found"] = int(found["found"].sum())
    if gaze:
        summary["gaze_encoded_now"] = warm_encoder(manifest, files, "gaze", gaze, device)
    if backbone:
        summary["backbone_encoded_now"] = warm_encoder(manifest, files, "backbone", backbone, device)
    summary["bad_examples"] = bad.head(5).to_dict("records")
    return summary
