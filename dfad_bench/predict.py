"""Use a trained detector on your own images: ``dfad-bench predict`` and :func:`load_detector`.

A run exports its fitted model into ``RUN_DIR/model/`` (:mod:`dfad_bench.harness.export`).
:class:`Detector` rebuilds it and scores images of any size: each image is decoded, its most
confident face found with MTCNN and cropped (square, 20 % margin) at the size the model trained
on; an image without a detected face is centre-cropped instead and says so (``face`` = ``not
found``), an unreadable file gets a row with its reason and no scores. Per image: the fake
probability, the decision at the threshold chosen on val, the top-k families and generators with
their probabilities, for open-vocabulary models the probability of each candidate generator the
user names (``NAME`` from the catalogue or the run's taxonomy, or ``NAME=FAMILY/FORGERY_TYPE``),
and the gaze estimate when the model uses a gaze encoder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.harness.export import ExportedModel, load_exported
from dfad_bench.labels import make_label_space
from dfad_bench.taxonomy import CATALOGUE, GeneratorInfo, Taxonomy, validate_family, validate_forgery_type

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
FACE_MARGIN = 0.2


@dataclass(frozen=True)
class _Input:
    name: str
    image: np.ndarray | None
    reason: str = ""


def collect_inputs(items: Iterable[str | Path | np.ndarray]) -> list[_Input]:
    """Files, folders (their images, recursively, sorted) and uint8 HxWx3 arrays, decoded."""
    from dfad_bench.harness.images import open_image, to_rgb_array

    out: list[_Input] = []
    for k, item in enumerate(items):
        if isinstance(item, np.ndarray):
            arr = np.asarray(item)
            ok = arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8
            out.append(_Input(f"array[{k}]", arr if ok else None, "" if ok else f"expected a uint8 HxWx3 array, got {arr.dtype} {arr.shape}"))
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DfadError(f"{path}: folder has no images ({', '.join(IMAGE_SUFFIXES)})")
        elif path.is_file():
            files = [path]
        else:
            raise DfadError(f"{path}: no such file or folder")
        for f in files:
            try:
                with open_image(f) as img:
                    out.append(_Input(str(f), to_rgb_array(img)))
            except Exception as exc:  # noqa: BLE001 - any decoder failure is this file's row, never fatal
                out.append(_Input(str(f), None, f"not a decodable image ({type(exc).__name__}: {' '.join(str(exc).split())})"))
    return out


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    crop = image[y : y + side, x : x + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)


def parse_candidates(spec: str | Sequence[str] | None, known: Taxonomy) -> list[GeneratorInfo]:
    """``"name1,name2=gan/efs"`` -> generator infos (run taxonomy, then catalogue, then the given family/type)."""
    if spec is None:
        return []
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    out: list[GeneratorInfo] = []
    for item in items:
        name, _, decl = item.partition("=")
        name = name.strip().lower()
        if decl:
            family, _, ftype = decl.partition("/")
            validate_family(family, f"--candidates {item!r}")
            validate_forgery_type(ftype, f"--candidates {item!r}")
            out.append(GeneratorInfo(name, family, ftype, f"{name}, a {family} model"))
        elif name in known:
            out.append(known[name])
        elif name in CATALOGUE:
            out.append(CATALOGUE[name])
        else:
            from dfad_bench.registry import did_you_mean

            raise DfadError(f"--candidates: unknown generator {name!r}{did_you_mean(name, set(CATALOGUE) | set(known.generators))}; "
                            f"name a catalogue generator (`dfad-bench list generators`) or give NAME=FAMILY/FORGERY_TYPE")
    return out


class Detector:
    """A run's exported model, ready to score images (see the module docstring)."""

    def __init__(self, exported: ExportedModel, device: str = "cpu", faces: bool = True) -> None:
        self.exported = exported
        self.device = device
        self.faces = faces
        self._detector: Any = None
        size = exported.info.get("train_image_size") or [None, None]
        self.image_size = int(size[0]) if size and size[0] else 224

    @property
    def open_vocabulary(self) -> bool:
        return bool(self.exported.info.get("open_vocabulary"))

    def _face_detector(self) -> Any:
        if self._detector is None:
            from dfad_bench.perception.faces import create_face_detector

            try:
                self._detector = create_face_detector("mtcnn", device=self.device)
            except DfadError as exc:
                raise DfadError(f"face detection (MTCNN) is unavailable: {exc}; pass --no-faces to centre-crop every image") from exc
        return self._detector

    def crops(self, inputs: list[_Input]) -> tuple[list[np.ndarray | None], list[str], list[float]]:
        from dfad_bench.perception.faces import crop_faces

        crops: list[np.ndarray | None] = []
        faces: list[str] = []
        probs: list[float] = []
        for item in inputs:
            if item.image is None:
                crops.append(None)
                faces.append("")
                probs.append(float("nan"))
                continue
            det = self._face_detector().detect([item.image])[0] if self.faces else None
            best = det.best() if det is not None else None
            if best is None:
                crops.append(centre_crop(item.image, self.image_size))
                faces.append("not found" if self.faces else "not searched")
                probs.append(float("nan"))
            else:
                crops.append(crop_faces([item.image], det.boxes[best : best + 1], margin=FACE_MARGIN, size=self.image_size)[0])
                faces.append("found")
                probs.append(float(det.probs[best]))
        return crops, faces, probs

    def _context(self, candidates: list[GeneratorInfo]):
        ctx = self.exported.ctx
        if not candidates:
            return ctx
        if not self.open_vocabulary:
            raise DfadError(f"{self.exported.info['model']} is closed-set: candidate generators need an open-vocabulary model (e.g. gazeclip)")
        gens = dict(ctx.taxonomy.generators)
        for c in candidates:
            gens.setdefault(c.name, c)
        seen_g, seen_f = ctx.label_spaces["generator"].seen, ctx.label_spaces["family"].seen
        new_g = [c.name for c in candidates if c.name not in seen_g]
        new_f = sorted({gens[g].family for g in new_g} - set(seen_f))
        spaces = dict(ctx.label_spaces)
        spaces["generator"] = make_label_space("generator", seen_g, new_g)
        spaces["family"] = make_label_space("family", seen_f, new_f)
        return replace(ctx, label_spaces=spaces, taxonomy=Taxonomy(gens))

    def predict(self, images: Iterable[str | Path | np.ndarray], candidates: str | Sequence[str] | None = None,
                top_k: int = 3) -> pd.DataFrame:
        """One row per image (files, folders' images, arrays); see the module docstring."""
        from PIL import Image

        from dfad_bench.contract import DataView
        from dfad_bench.harness.images import make_loader_factory
        from dfad_bench.hashing import sha256

        inputs = collect_inputs(images if not isinstance(images, str | Path | np.ndarray) else [images])
        cand = parse_candidates(candidates, self.exported.ctx.taxonomy)
        ctx = self._context(cand)
        crops, faces, face_probs = self.crops(inputs)
        ok = [i for i, c in enumerate(crops) if c is not None]
        threshold, source = self.exported.threshold
        rows = [{"input": it.name, "face": faces[i], "face_prob": face_probs[i], "error": it.reason} for i, it in enumerate(inputs)]
        if ok:
            with tempfile.TemporaryDirectory(prefix="dfad-predict-") as tmp:
                sources, keys = [], []
                for i in ok:
                    path = Path(tmp) / f"{i:07d}.png"
                    Image.fromarray(crops[i]).save(path)
                    sources.append(str(path))
                    keys.append(sha256(path))
                ids = [f"q{i:07d}" for i in ok]
                view = DataView(ids, "test", None, make_loader_factory(self.device, 0), sources=sources, cache_keys=keys,
                                input_size=getattr(self.exported.model.card, "input_size", None))
                preds = self.exported.model.predict(view, ctx)
                gaze = self._gaze(np.stack([crops[i] for i in ok]))
            by_id = {sid: j for j, sid in enumerate(preds.sample_ids)}
            for pos, i in enumerate(ok):
                j = by_id[ids[pos]]
                row = rows[i]
                p = float(preds.fake_score[j])
                row.update({"fake_prob": p, "decision": "fake" if p >= threshold else "real", "threshold": threshold,
                            "threshold_from": source})
                for level, classes, probs in (("family", preds.family_classes, preds.family_probs),
                                              ("generator", preds.generator_classes, preds.generator_probs)):
                    if probs is None or not len(classes):
                        continue
                    order = np.argsort(-probs[j], kind="stable")[:top_k]
                    for r, c in enumerate(order, 1):
                        row[f"{level}_{r}"], row[f"{level}_{r}_prob"] = classes[c], float(probs[j, c])
                    if level == "generator":
                        for c in cand:
                            row[f"candidate:{c.name}"] = float(probs[j, list(classes).index(c.name)])
                if gaze is not None:
                    row.update({"gaze_pitch": float(gaze["pitch"][pos]), "gaze_yaw": float(gaze["yaw"][pos]),
                                "gaze_valid": bool(gaze["valid"][pos])})
        return pd.DataFrame(rows)

    def _gaze(self, crops: np.ndarray) -> dict[str, np.ndarray] | None:
        """The gaze estimate of the encoder the model's card declares (config key -> "gaze"), if any."""
        card = self.exported.model.card
        keys = [k for k, kind in (card.encoders or {}).items() if kind == "gaze"]
        name = next((self.exported.info["model_config"].get(k) for k in keys if self.exported.info["model_config"].get(k)), None)
        if not name:
            return None
        from dfad_bench.perception.gaze import create_gaze_encoder

        out = create_gaze_encoder(str(name), device=self.device).encode(crops)
        return {"pitch": out.pitch, "yaw": out.yaw, "valid": out.valid}


def load_detector(run_dir: str | Path, device: str = "cpu", faces: bool = True) -> Detector:
    """The exported model of a run folder, ready for :meth:`Detector.predict`."""
    return Detector(load_exported(run_dir, device=device), device=device, faces=faces)


def write_predictions(frame: pd.DataFrame, output: Path) -> Path:
    """``.parquet``, ``.csv`` or ``.json`` (records), written atomically."""
    from dfad_bench.atomic import write_text_atomic, write_with_atomic

    suffix = output.suffix.lower()
    if suffix == ".parquet":
        write_with_atomic(output, lambda p: frame.to_parquet(p, index=False))
    elif suffix == ".csv":
        write_text_atomic(output, frame.to_csv(index=False))
    elif suffix == ".json":
        write_text_atomic(output, frame.to_json(orient="records", indent=1))
    else:
        raise DfadError(f"--output {output}: expected a .parquet, .csv or .json file")
    return output


__all__ = ["Detector", "load_detector", "write_predictions"]
