"""Export of a run's fitted model into its run folder, and loading it back (``dfad-bench predict``).

``RUN_DIR/model/weights.safetensors``: the model's :meth:`~dfad_bench.contract.BaseModel.export_state`
arrays (safetensors, no pickle), with the SHA-256 of the file in ``export.json``.
``RUN_DIR/model/export.json``: what is needed to rebuild the model and use it: model name and its
normalised (typed) config, the seen label spaces and the taxonomy rows of the seen generators (the
context ``fit`` was given), the decision threshold chosen on val, the training image size, the
run's provenance (run id, protocol, benchmark, samples hash). A model whose ``export_state``
returns None is not exported (the run is unaffected; ``load_exported`` then says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.contract import RunContext
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256
from dfad_bench.labels import LabelSpace
from dfad_bench.taxonomy import GeneratorInfo, Taxonomy

EXPORT_DIR = "model"
WEIGHTS_FILE = "weights.safetensors"
EXPORT_FILE = "export.json"
EXPORT_VERSION = 1


def _as_array(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; bfloat16 has no numpy type
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    arr = np.ascontiguousarray(np.asarray(value))
    if arr.dtype == object or arr.dtype.kind in "USO":
        raise DfadError(f"export_state: {name!r} is not a numeric array (dtype {arr.dtype}); store class names as positions")
    return arr


def export_model(run_dir: Path, model: Any, ctx: RunContext, info: dict[str, Any]) -> Path | None:
    """Write the model's exported state and ``export.json`` (``info`` + context); None when the
    model exports nothing."""
    from safetensors.numpy import save_file

    method = getattr(model, "export_state", None)
    state = method() if callable(method) else None
    if state is None:
        return None
    arrays = {str(k): _as_array(str(k), v) for k, v in state.items()}
    out = Path(run_dir) / EXPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_with_atomic(out / WEIGHTS_FILE, lambda p: save_file(arrays, str(p), metadata={"format": "dfad-bench-export", "version": str(EXPORT_VERSION)}))
    doc = {
        "export_version": EXPORT_VERSION,
        **info,
        "label_spaces": {k: v.to_dict() for k, v in ctx.label_spaces.items()},
        "taxonomy": [{"name": g.name, "family": g.family, "forgery_type": g.forgery_type, "description": g.description,
                      "reference": g.reference} for g in sorted(ctx.taxonomy.generators.values(), key=lambda g: g.name)],
        "weights": {"file": WEIGHTS_FILE, "sha256": sha256(out / WEIGHTS_FILE), "tensors": len(arrays)},
    }
    write_json_atomic(out / EXPORT_FILE, doc)
    return out


@dataclass(frozen=True)
class ExportedModel:
    """A loaded export: the ready model, its seen context and ``export.json``."""

    model: Any
    ctx: RunContext
    info: dict[str, Any]

    @property
    def threshold(self) -> tuple[float, str]:
        """(threshold, where it comes from): the val-chosen one, else the fixed 0.5."""
        t = self.info.get("threshold") or {}
        return (float(t["val"]), "val") if t.get("val") is not None else (float(t.get("fixed", 0.5)), "fixed")


def read_export_info(run_dir: Path) -> dict[str, Any]:
    import json

    path = Path(run_dir) / EXPORT_DIR / EXPORT_FILE
    if not path.is_file():
        hint = "" if (Path(run_dir) / "record.json").is_file() else " (and no record.json: is this a run folder?)"
        raise DfadError(f"{run_dir}: no exported model ({EXPORT_DIR}/{EXPORT_FILE}){hint}; runs export models that implement "
                        "export_state (gazeclip, clip-linear, spectrum), since this version; other models export nothing")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DfadError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    if info.get("export_version") != EXPORT_VERSION:
        raise DfadError(f"{path}: export_version {info.get('export_version')!r}; this dfad-bench reads {EXPORT_VERSION}")
    return info


def load_exported(run_dir: str | Path, device: str = "cpu", work_dir: Path | None = None) -> ExportedModel:
    """Rebuild the model of ``run_dir`` from its export (weights checked against their SHA-256)."""
    from safetensors.numpy import load_file

    from dfad_bench.registry import MODELS

    run_dir = Path(run_dir)
    info = read_export_info(run_dir)
    weights = run_dir / EXPORT_DIR / info["weights"]["file"]
    if not weights.is_file() or sha256(weights) != info["weights"]["sha256"]:
        raise DfadError(f"{weights}: missing or changed since export (SHA-256 differs from {EXPORT_FILE})")
    spaces = {k: LabelSpace(v["level"], tuple(v["classes"]), tuple(v["seen"]), tuple(v["unseen"])) for k, v in info["label_spaces"].items()}
    taxonomy = Taxonomy({g["name"]: GeneratorInfo(g["name"], g["family"], g["forgery_type"], g["description"], g.get("reference", ""))
                         for g in info["taxonomy"]})
    model = MODELS.create(info["model"], info["model_config"])
    ctx = RunContext(label_spaces=spaces, taxonomy=taxonomy, seed=int(info.get("seed", 0)), device=device,
                     work_dir=work_dir or run_dir / EXPORT_DIR, config=dict(info["model_config"]), log=lambda _m: None)
    model.load_state(load_file(str(weights)), ctx)
    return ExportedModel(model, ctx, info)
