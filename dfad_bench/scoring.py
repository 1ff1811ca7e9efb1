"""Score a predictions table against a protocol split: the one path to metrics.

Used by ``dfad-bench score`` for predictions made elsewhere and by the harness for its own runs,
so a stored record and an outside submission are computed by exactly the same code.

Predictions columns: ``sample_id``, ``fake_score`` (higher = more likely fake), optional
``prob_family.<class>`` / ``prob_generator.<class>`` (probabilities over the label space the
protocol hands out), optional ``embedding`` (list column) or ``emb_0..emb_{d-1}``. Rows for val
samples may be included: they are used only to calibrate the val threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.predictions import PROB_PREFIX, extract_embeddings, prob_columns, validate_table
from dfad_bench.splits import SplitResult

__all__ = ["PROB_PREFIX", "extract_embeddings", "join_labels", "prob_columns", "score_labelled", "score_predictions",
           "validate_predictions"]

def validate_predictions(pred: pd.DataFrame, split: SplitResult, where: str) -> pd.DataFrame:
    """The predictions table schema (:func:`dfad_bench.predictions.validate_table`) plus what only
    a split knows: every id is a val or test sample of the protocol, and every test sample has a
    row. Returns the predictions indexed by sample_id."""
    pred = validate_table(pred, where, {level: split.label_spaces[level].classes for level in PROB_PREFIX})
    roles = split.roles.set_index("sample_id")["role"]
    # get_indexer hashes the ids once (a manifest's sample_ids are unique); isin over string ids
    # was 35x slower at 300k rows.
    pos = roles.index.get_indexer(pred["sample_id"])
    unknown = pred.loc[pos < 0, "sample_id"]
    if len(unknown):
        raise DfadError(f"{where}: sample_id {unknown.iloc[0]!r} is not in the benchmark manifest")
    role_of = roles.to_numpy()[pos]
    wrong = pred.loc[~np.isin(role_of, ["test", "val"]), "sample_id"]
    if len(wrong):
        raise DfadError(f"{where}: sample_id {wrong.iloc[0]!r} is a {roles[wrong.iloc[0]]} sample of {split.protocol.ref}; only test (and val, for calibration) samples may be predicted")
    test_ids = split.ids("test")
    missing = test_ids.difference(pd.Index(pred["sample_id"]))
    if len(missing):
        raise DfadError(f"{where}: missing predictions for {len(missing)} test samples of {split.protocol.ref} (e.g. {missing[0]!r})")
    return pred.set_index("sample_id")


def join_labels(pred: pd.DataFrame, split: SplitResult, where: str = "predictions") -> pd.DataFrame:
    """Validated predictions (val and test rows, in their order) with the harness's ground-truth
    columns (:data:`~dfad_bench.records.LABEL_COLUMNS`) beside the model outputs.

    This is the table a run stores as ``predictions.parquet``: it scores without the benchmark
    (``dfad-bench rescore``). A ``role`` column already present is replaced by the split's.
    """
    from dfad_bench.records import LABEL_COLUMNS

    valid = validate_predictions(pred.drop(columns=[c for c in LABEL_COLUMNS if c in pred.columns]), split, where)
    roles = split.roles.set_index("sample_id")
    labels = roles.loc[valid.index, list(LABEL_COLUMNS)]
    out = pd.concat([labels, valid], axis=1).reset_index()
    out["is_fake"] = out["is_fake"].astype(bool)
    for col in ("generator_seen", "family_seen"):
        out[col] = out[col].astype(bool)
    return out


def score_labelled(
    frame: pd.DataFrame,
    label_spaces: dict[str, Any],
    *,
    groups: tuple[str, ...] | list[str] | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    fixed_threshold: float = 0.5,
    where: str = "predictions",
) -> dict[str, Any]:
    """Metrics JSON of a labelled predictions table (:func:`join_labels` output, or a stored
    ``predictions.parquet``): test rows are scored, val rows only calibrate the val threshold."""
    from dfad_bench.metrics import calibrate_threshold, compute_run_metrics
    from dfad_bench.records import LABEL_COLUMNS

    missing = [c for c in ("sample_id", "fake_score", *LABEL_COLUMNS) if c not in frame.columns]
    if missing:
        raise DfadError(f"{where}: missing column {missing[0]!r}; a labelled predictions table has {['sample_id', 'fake_score', *LABEL_COLUMNS]}")
    # Test rows in sample_id order (the split's order): bootstrap resamples index rows, so the
    # same predictions give the same intervals however the stored table is ordered.
    test = frame[frame["role"] == "test"].sort_values("sample_id", kind="mergesort").reset_index(drop=True)
    val = frame[frame["role"] == "val"]
    val_threshold = None
    if len(val):
        yv = val["is_fake"].to_numpy().astype(int)
        if yv.min() != yv.max():
            val_threshold = float(calibrate_threshold(yv, val["fake_score"].to_numpy(dtype=np.float64)))
    probs: dict[str, pd.DataFrame | None] = {}
    for level, prefix in PROB_PREFIX.items():
        cols = prob_columns(test, level)
        if cols:
            p = test[cols].astype(np.float64)
            p.columns = [c[len(prefix):] for c in cols]
            probs[level] = p
        else:
            probs[level] = None
    table = test[["sample_id", "generator", "family", "forgery_type", "is_fake", "generator_seen", "family_seen", "fake_score"]]
    return compute_run_metrics(
        table,
        label_spaces,
        family_probs=probs["family"],
        generator_probs=probs["generator"],
        embeddings=extract_embeddings(test, where),
        val_threshold=val_threshold,
        fixed_threshold=fixed_threshold,
        n_bootstrap=n_bootstrap,
        seed=seed,
        groups=groups,
    )


def score_predictions(
    pred: pd.DataFrame,
    split: SplitResult,
    where: str = "predictions",
    n_bootstrap: int = 200,
    fixed_threshold: float = 0.5,
) -> dict[str, Any]:
    """Metrics JSON (docs/METRICS.md) for predictions under a protocol split; the protocol's
    ``metrics`` groups decide what is computed."""
    return score_labelled(
        join_labels(pred, split, where), split.label_spaces, groups=split.protocol.metrics, n_bootstrap=n_bootstrap,
        seed=split.seed, fixed_threshold=fixed_threshold, where=where,
    )
