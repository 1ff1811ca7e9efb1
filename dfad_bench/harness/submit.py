"""``dfad-bench submit``: check an outside plug-in against the contract, run it on the whole
protocol suite, and write a submission bundle (records + a leaderboard table).

Every run of a submission, the contract check included, is sealed: the plug-in's fit/predict run
in a sandboxed child over a staged, anonymised copy (:mod:`dfad_bench.harness.sealed`)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfad_bench.atomic import write_json_atomic, write_text_atomic
from dfad_bench.contract import ModelCard
from dfad_bench.errors import DfadError
from dfad_bench.registry import MODELS, _import_ref


@dataclass
class ContractReport:
    model: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)


def resolve_submission(target: str) -> str:
    """A registered model name, or ``module:attr`` naming a ModelCard / a class with ``.card``."""
    if ":" in target:
        try:
            obj = _import_ref(target)
        except (ImportError, AttributeError) as exc:
            raise DfadError(f"submit {target!r}: cannot import ({type(exc).__name__}: {exc})") from exc
        card = getattr(obj, "card", obj)
        if not isinstance(card, ModelCard):
            raise DfadError(f"submit {target!r}: not a ModelCard or a class with a .card ModelCard")
        if card.name not in MODELS.names():
            MODELS.register(card, source=f"submit ({target})")
        return card.name
    MODELS.card(target)  # raises with a did-you-mean for unknown names
    return target


def run_sealed(opts: Any, salt: bytes | None = None) -> tuple[Any, Path]:
    """``run`` with the plug-in in the sealed child (plan, claim, execute sealed, record, write)."""
    from dfad_bench.harness.runner import (
        build_record,
        claim_run_dir,
        execute_model,
        label_predictions,
        plan_run,
        write_run,
    )

    plan = plan_run(opts)
    with claim_run_dir(plan) as run_dir:
        outcome = execute_model(plan, sealed=True, salt=salt)
        labelled = label_predictions(plan, outcome)  # stored with the ground truth: rescoreable
        record = build_record(plan, outcome, labelled)
        write_run(run_dir, record, labelled)
        return record, run_dir


def check_contract(model: str, overrides: dict[str, Any] | None = None, device: str = "cpu") -> ContractReport:
    """Run the model twice with one seed on a tiny generated benchmark, sealed like a submission,
    and check the contract: predictions validate (shapes, ranges, label space), scores lie in
    [0, 1], identical under the same seed (and the same opaque ids: both runs share one salt)."""
    import secrets

    from dfad_bench.harness.runner import RunOptions
    from dfad_bench.testing import toy_manifest, write_toy_images

    report = ContractReport(model)
    card = MODELS.card(model)
    report.add("card", True, f"inputs={list(card.inputs)} open_vocabulary={card.open_vocabulary}")
    with tempfile.TemporaryDirectory(prefix="dfad-submit-") as tmp:
        root = Path(tmp)
        table = toy_manifest(n_identities=30, images_per_identity=2, fakes_per_generator=16, seed=1)
        write_toy_images(table, root / "bench", size=32)
        table.to_parquet(root / "bench" / "manifest.parquet", index=False)
        records = []
        salt = secrets.token_bytes(32)
        for attempt in range(2):
            try:
                rec, run_dir = run_sealed(RunOptions(model=model, protocol="unseen-flow", benchmark=str(root / "bench" / "manifest.parquet"),
                                              seed=3, results_dir=root / f"r{attempt}", overrides=dict(overrides or {}), device=device,
                                              quiet=True, n_bootstrap=10), salt=salt)
            except DfadError as exc:
                report.add("runs on a tiny benchmark and honours the prediction contract", False, str(exc))
                return report
            records.append((rec, run_dir))
        report.add("runs on a tiny benchmark and honours the prediction contract", True)
        isolation = getattr(records[0][0], "isolation", None) or json.loads((records[0][1] / "record.json").read_text()).get("isolation")
        report.add("isolation", True, str(isolation or "sealed path (isolation not recorded)"))
        import pandas as pd

        preds = [pd.read_parquet(d / "predictions.parquet") for _, d in records]
        scores = preds[0]["fake_score"].to_numpy()
        report.add("fake_score within [0, 1]", bool(((scores >= 0) & (scores <= 1)).all()), f"min {scores.min():.4f} max {scores.max():.4f}")
        same = preds[0].drop(columns=["embedding"], errors="ignore").equals(preds[1].drop(columns=["embedding"], errors="ignore"))
        report.add("deterministic under a seed", same, "" if same else "two runs with seed 3 gave different predictions")
        fam_cols = [c for c in preds[0].columns if c.startswith("prob_family.")]
        if card.open_vocabulary:
            report.add("open-vocabulary model scores unseen classes", "prob_family.flow" in fam_cols, f"family columns: {fam_cols}")
        else:
            report.add("closed-set model scores seen classes only", "prob_family.flow" not in fam_cols, f"family columns: {fam_cols}")
        emb = preds[0]["embedding"] if "embedding" in preds[0] else None
        report.add("embedding (optional)", True, "present" if emb is not None else "absent: clustering metrics will be empty")
    return report


def submit(target: str, benchmark: str | None, output: Path, seeds: list[int], overrides: dict[str, Any] | None = None,
           device: str | None = None, protocols: list[str] | None = None, n_bootstrap: int = 200) -> dict[str, Any]:
    from dfad_bench.harness.runner import RunOptions, default_device
    from dfad_bench.protocol import list_protocols

    model = resolve_submission(target)
    device = device or default_device()
    report = check_contract(model, overrides, device)
    output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output / "contract_check.json", {"model": model, "ok": report.ok, "checks": report.checks})
    if not report.ok:
        failed = next(c for c in report.checks if not c["ok"])
        raise DfadError(f"submit {model}: contract check failed: {failed['check']} ({failed['detail']}); see {output / 'contract_check.json'}")
    names = protocols or [p.name for p in list_protocols(include_superseded=False)]
    runs = []
    for proto in names:
        for seed in seeds:
            rec, run_dir = run_sealed(RunOptions(model=model, protocol=proto, benchmark=benchmark, seed=seed, results_dir=output / "results",
                                          overrides=dict(overrides or {}), device=device, quiet=True, n_bootstrap=n_bootstrap))
            runs.append({"protocol": proto, "seed": seed, "run_dir": str(run_dir.relative_to(output)),
                         "detection_auc_mean_unseen": rec.metrics.get("detection_auc_mean_unseen"),
                         "attribution_acc_family": rec.metrics.get("attribution_acc_family")})
    summary = {"model": model, "benchmark": benchmark or "mini", "seeds": seeds, "runs": runs}
    try:
        from dfad_bench.tables import leaderboard

        write_text_atomic(output / "leaderboard.md", leaderboard(output / "results", None, "md", None))
    except ImportError:  # pragma: no cover - tables ship with the package
        pass
    write_json_atomic(output / "submission.json", summary)
    return json.loads(json.dumps(summary))
