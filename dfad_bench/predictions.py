"""The predictions table: one schema, one validator, used by ``run``, ``score`` and ``submit``.

A predictions table has one row per sample:

- ``sample_id`` (unique);
- ``fake_score``: a number in [0, 1], higher = more likely fake (NaN, infinite or out-of-range
  values are refused, each with its own message);
- optional ``prob_family.<class>`` / ``prob_generator.<class>``: probabilities over classes of the
  label space the model was handed, each in [0, 1], each row summing to 1 (within
  :data:`PROB_TOLERANCE`);
- optional ``embedding`` (equal-length numeric lists) or ``emb_0..emb_{d-1}``: finite numbers.

``Predictions.validate`` (what a model's ``predict`` returned, ``run`` and ``submit``), scoring's
``validate_predictions`` (a file for ``dfad-bench score``) and the metric report all apply these
rules through :func:`validate_table` and the ``check_*`` helpers below, so one rule has one
implementation and one message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError

PROB_PREFIX = {"family": "prob_family.", "generator": "prob_generator."}
#: Tolerance on "probabilities in [0, 1] summing to 1 per row" (float32 softmax is well within it).
PROB_TOLERANCE = 1e-3
_EMB_RE = re.compile(r"^emb_(\d+)$")


def prob_columns(df: pd.DataFrame, level: str) -> list[str]:
    return [c for c in df.columns if str(c).startswith(PROB_PREFIX[level])]


def check_fake_scores(values: Any, ids: Sequence[Any], where: str) -> np.ndarray:
    """``fake_score`` as float64; NaN, infinite, non-numeric and out-of-[0, 1] values are refused,
    each said plainly with the first sample it hits."""
    raw = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values.to_numpy(dtype=object))
    numeric = pd.to_numeric(raw, errors="coerce")
    ids = list(ids)
    not_number = numeric.isna() & raw.notna()  # a string or an object; NaN and None are "NaN"
    score = numeric.to_numpy(dtype=np.float64)
    for mask, what in (
        (not_number.to_numpy(), "not a number"),
        (np.isnan(score) & ~not_number.to_numpy(), "NaN"),
        (np.isinf(score), "infinite"),
    ):
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            raise DfadError(
                f"{where}: fake_score is {what} for {int(mask.sum())} sample(s) (first sample_id {ids[first]!r}: "
                f"{raw.iloc[first]!r}); expected a number in [0, 1]"
            )
    outside = (score < 0) | (score > 1)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise DfadError(
            f"{where}: fake_score {score[first]:.6g} for sample_id {ids[first]!r} is outside [0, 1] "
            f"({int(outside.sum())} sample(s), min {score.min():.4g}, max {score.max():.4g}); the contract is a probability-like score"
        )
    return score


def check_probabilities(
    values: Any, classes: Sequence[str], level: str, ids: Sequence[Any], where: str, allowed: Sequence[str] | None = None
) -> np.ndarray:
    """Probabilities (n × classes) as float64: known classes, each in [0, 1], rows summing to 1."""
    classes = [str(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise DfadError(f"{where}: duplicate {level} class columns {classes}; expected each class at most once")
    if allowed is not None:
        for c in classes:
            if c not in allowed:
                raise DfadError(
                    f"{where}: unknown class column '{c}' for {level} level (column '{PROB_PREFIX[level]}{c}'); "
                    f"expected a subset of {list(allowed)}"
                )
    x = pd.DataFrame(np.asarray(values, dtype=object)).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if x.shape != (len(ids), len(classes)):
        raise DfadError(f"{where}: {level} probabilities have shape {x.shape}; expected ({len(ids)}, {len(classes)})")
    if not np.isfinite(x).all():
        first = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise DfadError(f"{where}: {level} probabilities are NaN, infinite or not numbers (first sample_id {ids[first]!r}); expected values in [0, 1]")
    if (x < -PROB_TOLERANCE).any() or (x > 1 + PROB_TOLERANCE).any():
        first = int(np.flatnonzero(((x < -PROB_TOLERANCE) | (x > 1 + PROB_TOLERANCE)).any(axis=1))[0])
        raise DfadError(f"{where}: {level} probabilities outside [0, 1] (first sample_id {ids[first]!r}); expected values in [0, 1] summing to 1 per row")
    if len(x):
        sums = x.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > PROB_TOLERANCE)
        if off.size:
            raise DfadError(
                f"{where}: {level} probabilities of {off.size} row(s) do not sum to 1 (sample_id {ids[off[0]]!r} sums to "
                f"{sums[off[0]]:.6g}); expected probabilities over the class columns"
            )
    return x


def check_embeddings(values: Any, n: int, where: str) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DfadError(f"{where}: embeddings must be equal-length numeric vectors ({exc})") from None
    if x.ndim != 2 or x.shape[0] != n:
        raise DfadError(f"{where}: embeddings have shape {x.shape}; expected ({n}, d), one row per sample")
    if not np.isfinite(x).all():
        raise DfadError(f"{where}: embeddings contain NaN or infinite values; expected finite numbers")
    return x


def extract_embeddings(df: pd.DataFrame, where: str) -> np.ndarray | None:
    """The embedding matrix of a predictions table (``embedding`` list column or ``emb_i`` columns)."""
    if "embedding" in df.columns:
        try:
            emb = np.stack([np.asarray(v, dtype=np.float64) for v in df["embedding"]]) if len(df) else np.zeros((0, 0))
        except (ValueError, TypeError) as exc:
            raise DfadError(f"{where}: column 'embedding' must hold equal-length numeric lists ({exc})") from exc
    else:
        cols = sorted((c for c in df.columns if _EMB_RE.match(str(c))), key=lambda c: int(_EMB_RE.match(str(c))[1]))
        if not cols:
            return None
        emb = df[cols].to_numpy(dtype=np.float64)
    return check_embeddings(emb, len(df), where)


def validate_table(pred: pd.DataFrame, where: str, allowed: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Check a predictions table against the schema; return a copy with typed columns.

    ``allowed``: per level, the classes probability columns may name (the label space the model
    was handed for ``run``/``submit``; the protocol's classes for ``score``)."""
    if not isinstance(pred, pd.DataFrame):
        raise DfadError(f"{where}: expected a table (pandas DataFrame), got {type(pred).__name__}")
    for col in ("sample_id", "fake_score"):
        if col not in pred.columns:
            raise DfadError(f"{where}: missing required column {col!r}")
    out = pred.copy()
    out["sample_id"] = out["sample_id"].astype(str)
    dup = out["sample_id"].duplicated()
    if dup.any():
        raise DfadError(f"{where}: duplicate sample_id {out.loc[dup, 'sample_id'].iloc[0]!r}")
    ids = out["sample_id"].tolist()
    out["fake_score"] = check_fake_scores(out["fake_score"], ids, where)
    for level, prefix in PROB_PREFIX.items():
        cols = prob_columns(out, level)
        if cols:
            out[cols] = check_probabilities(out[cols].to_numpy(), [c[len(prefix):] for c in cols], level, ids, where, allowed.get(level))
    extract_embeddings(out, where)
    return out
