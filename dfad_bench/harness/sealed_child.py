"""The sealed child: ``python -m dfad_bench.harness.sealed_child STAGE OUT``.

Runs one plug-in's fit/predict over a stage written by :mod:`dfad_bench.harness.sealed` (in the
sandbox, the only data it can reach) and writes, under OUT: ``val.parquet`` and ``test.parquet``
(predictions keyed by the stage's opaque ids), ``result.json`` (timings, training state, selection
rule), or ``error.json`` (a model's one-line DfadError). The parent validates and scores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.contract import DataView, RunContext, training_summary
from dfad_bench.errors import DfadError
from dfad_bench.harness.views import fit_then_predict
from dfad_bench.labels import LabelSpace
from dfad_bench.taxonomy import GeneratorInfo, Taxonomy


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def load_stage(stage: Path) -> tuple[dict[str, Any], dict[str, DataView], RunContext]:
    from dfad_bench.harness.images import make_loader_factory

    context = json.loads((stage / "context.json").read_text(encoding="utf-8"))
    spaces = {k: LabelSpace(v["level"], tuple(v["classes"]), tuple(v["seen"]), tuple(v["unseen"])) for k, v in context["label_spaces"].items()}
    taxonomy = Taxonomy({r["name"]: GeneratorInfo(r["name"], r["family"], r["forgery_type"], r["description"], r["reference"])
                         for r in context["taxonomy"]})
    loader = make_loader_factory(context["device"], int(context["num_workers"]))
    views = {}
    for role in ("train", "val", "test"):
        frame = pd.read_parquet(stage / f"{role}.parquet")
        ids = frame["id"].astype(str).tolist()
        labels = frame.drop(columns=["id"]).reset_index(drop=True) if role != "test" else None
        # No content hashes here: the cache inside the stage is fresh and per run, keyed by opaque ids.
        views[role] = DataView(ids, role, labels, loader, sources=[str(stage / "images" / f"{i}.npy") for i in ids],
                               cache_keys=ids, input_size=context.get("input_size"))
    ctx = RunContext(label_spaces=spaces, taxonomy=taxonomy, seed=int(context["seed"]), device=context["device"],
                     work_dir=stage / "work", config=dict(context["config"]), num_workers=int(context["num_workers"]),
                     log=lambda m: print(m, file=sys.stderr))
    return context, views, ctx


def create_model(context: dict[str, Any]) -> Any:
    """The plug-in by its registered name; a card registered only in the parent (``submit module:attr``,
    tests) is re-registered here from its factory class's ``card``."""
    from dfad_bench.registry import MODELS, _import_ref

    name = context["model"]
    if name not in MODELS.names():
        cls = _import_ref(context["factory"])
        MODELS.register(cls.card, source=f"sealed child ({context['factory']})")
    return MODELS.create(name, context["config"])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dfad_bench.harness.sealed_child STAGE OUT", file=sys.stderr)
        return 2
    stage, out = Path(args[0]), Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    try:
        context, views, full = load_stage(stage)
        model = create_model(context)
        full.config = model.get_params()
        preds, fit_s, predict_s = fit_then_predict(model, views, full)
        for role, p in preds.items():
            frame = p.to_frame()
            write_with_atomic(out / f"{role}.parquet", lambda path, f=frame: f.to_parquet(path, index=False))
        training = training_summary(model)
        result = {"fit_seconds": fit_s, "predict_seconds": predict_s, "selection_rule": model.selection_rule,
                  "training": json.loads(json.dumps(training, default=_jsonable))}
        write_json_atomic(out / "result.json", result)
    except DfadError as exc:
        write_json_atomic(out / "error.json", {"error": str(exc)})
        return 1
    except Exception as exc:  # noqa: BLE001 - model code raised: the parent reports one line + error.log
        import traceback

        from dfad_bench.errors import model_phase

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        write_json_atomic(out / "error.json", {"error": f"{type(exc).__name__}: {exc}", "model_exception": {
            "phase": model_phase(exc), "type": type(exc).__name__, "message": str(exc), "traceback": text}})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
