"""compute_run_metrics: every number of one run, from the per-sample test predictions.

This is the single entry point used by the harness and by ``dfad-bench score``. It validates
its inputs (a wrong column name or a NaN score is a user error, reported in one line), then
assembles detection, attribution, open-set, clustering and bootstrap numbers into one
JSON-serialisable dict with a fixed set of top-level keys. Undefined numbers are ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.labels import LEVELS, LabelSpace
from dfad_bench.metrics import attribution as attr
from dfad_bench.metrics import detection as det
from dfad_bench.metrics.bootstrap import mean_auc_ci, share_ci
from dfad_bench.metrics.clustering import cluster_metrics
from dfad_bench.metrics.openset import novel_auroc, oscr
from dfad_bench.metrics.table import METRIC_GROUPS, MetricInputs, iter_computed
from dfad_bench.predictions import PROB_TOLERANCE, check_embeddings, check_fake_scores, check_probabilities

REQUIRED_COLUMNS = (
    "sample_id",
    "generator",
    "family",
    "forgery_type",
    "is_fake",
    "generator_seen",
    "family_seen",
    "fake_score",
)

TOP_LEVEL_KEYS = (
    "detection_auc_mean_unseen",
    "detection_auc_mean_seen",
    "detection_auc_mean",
    "detection_auc_mean_unseen_ci",
    "attribution_acc_family",
    "attribution_acc_generator",
    "attribution_macro_f1_family",
    "attribution_macro_f1_generator",
    "attribution_acc_family_ci",
    "detection",
    "per_generator",
    "per_family",
    "per_forgery_type",
    "attribution",
    "clustering",
    "n_test",
)

#: Tolerance on "each probability row sums to 1" (the predictions table's, re-exported).
PROB_SUM_TOLERANCE = PROB_TOLERANCE

# Group name of the real pool in bootstrap strata; the NUL byte means it cannot clash with a generator.
_REAL_GROUP = "\x00real-pool"


# ----------------------------------------------------------------------------- validation


def _bool_column(table: pd.DataFrame, name: str) -> np.ndarray:
    col = table[name]
    if col.isna().any():
        raise DfadError(f"table: column '{name}' has missing values; expected True/False for every sample")
    if col.dtype == bool:
        return col.to_numpy(dtype=bool)
    values = set(col.unique().tolist())
    if not values <= {0, 1}:  # True == 1 and False == 0, so booleans pass too
        raise DfadError(f"table: column '{name}' holds {sorted(map(str, values))[:5]}; expected True/False")
    return col.astype(bool).to_numpy()


def _validate_table(table: Any) -> None:
    if not isinstance(table, pd.DataFrame):
        raise DfadError(f"table: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DfadError(f"table: missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
    if len(table) == 0:
        raise DfadError("table: no test samples; expected at least one row")
    if not table.index.is_unique:
        raise DfadError("table: index has duplicate labels; expected a unique index to align predictions")
    check_fake_scores(table["fake_score"], table["sample_id"].tolist(), "predictions")
    for name in ("generator", "family", "forgery_type"):
        if table[name].isna().any():
            raise DfadError(f"table: column '{name}' has missing values; expected a name for every sample")


def _validate_label_spaces(label_spaces: Any, table: pd.DataFrame) -> dict[str, LabelSpace]:
    if not isinstance(label_spaces, Mapping) or set(LEVELS) - set(label_spaces):
        got = sorted(label_spaces) if isinstance(label_spaces, Mapping) else type(label_spaces).__name__
        raise DfadError(f"label_spaces: expected keys {list(LEVELS)}, got {got}")
    spaces: dict[str, LabelSpace] = {}
    for level in LEVELS:
        space = label_spaces[level]
        if not isinstance(space, LabelSpace):
            raise DfadError(f"label_spaces['{level}']: expected a LabelSpace, got {type(space).__name__}")
        classes = set(space.classes)
        names = table[level].astype(str)
        unknown = sorted(set(names) - classes)
        if unknown:
            raise DfadError(
                f"table: {level} '{unknown[0]}' is not in the {level} label space; expected one of {list(space.classes)}"
            )
        flag = _bool_column(table, f"{level}_seen")
        expected = names.isin(list(space.seen)).to_numpy()
        wrong = np.flatnonzero(flag != expected)
        if wrong.size:
            name = names.iloc[int(wrong[0])]
            raise DfadError(
                f"table: {level}_seen is {bool(flag[wrong[0]])} for {level} '{name}' but the {level} label space "
                f"lists it as {'seen' if expected[wrong[0]] else 'unseen'}"
            )
        spaces[level] = space
    return spaces


def _validate_probs(probs: Any, table: pd.DataFrame, space: LabelSpace) -> pd.DataFrame | None:
    if probs is None:
        return None
    level = space.level
    what = f"predictions: {level}_probs"
    if not isinstance(probs, pd.DataFrame):
        raise DfadError(f"{what}: expected a pandas DataFrame, got {type(probs).__name__}")
    if len(probs) != len(table):
        raise DfadError(
            f"{what} has {len(probs)} rows but the test table has {len(table)}; expected one row per sample"
        )
    if not probs.index.equals(table.index):
        raise DfadError(
            f"{what}: index is not aligned with the test table index; expected the same index labels in order"
        )
    columns = [str(c) for c in probs.columns]
    if not columns:
        raise DfadError(f"{what}: no class columns; expected a subset of {list(space.classes)}")
    # Value rules are the predictions table's (dfad_bench.predictions): one rule, one message.
    values = check_probabilities(probs.to_numpy(), columns, level, table["sample_id"].tolist(), "predictions", space.classes)
    ordered = [c for c in space.classes if c in set(columns)]  # label-space order: stable argmax tie-break
    frame = pd.DataFrame(values, index=table.index, columns=columns)
    return frame[ordered]


def _validate_embeddings(embeddings: Any, n: int) -> np.ndarray | None:
    return None if embeddings is None else check_embeddings(embeddings, n, "predictions")


def _validate_threshold(name: str, value: Any, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DfadError(f"{name}: expected a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise DfadError(f"{name}: expected a finite number, got {value!r}")
    return v


# ----------------------------------------------------------------------------- detection


def _detection_block(y: np.ndarray, s: np.ndarray, fixed: float, val: float | None) -> dict[str, Any]:
    return {
        "auc": det.auc(y, s),
        "ap": det.average_precision(y, s),
        "eer": det.eer(y, s)[0],
        "acc_fixed": det.accuracy_at_threshold(y, s, fixed),
        "acc_val_threshold": None if val is None else det.accuracy_at_threshold(y, s, val),
        "tpr_fixed": det.tpr_at_threshold(y, s, fixed),
    }


def _overall_detection(y: np.ndarray, s: np.ndarray, fixed: float, val: float | None) -> dict[str, Any]:
    eer_value, eer_thr = det.eer(y, s)
    return {
        "auc": det.auc(y, s),
        "ap": det.average_precision(y, s),
        "eer": eer_value,
        "eer_threshold": eer_thr,
        "acc_fixed": det.accuracy_at_threshold(y, s, fixed),
        "fixed_threshold": fixed,
        "acc_val_threshold": None if val is None else det.accuracy_at_threshold(y, s, val),
        "val_threshold": val,
        "oracle_acc": det.oracle_accuracy(y, s),
        "n_real": int((~y).sum()),
        "n_fake": int(y.sum()),
    }


def _single_value(table: pd.DataFrame, mask: np.ndarray, column: str, key: str, name: str) -> str:
    values = sorted(set(table.loc[mask, column].astype(str)))
    if len(values) != 1:
        raise DfadError(f"table: {key} '{name}' has several {column} values {values}; expected exactly one")
    return values[0]


def _seen_flag(flags: np.ndarray) -> bool | None:
    """True if all seen, False if none, None when a group mixes seen and unseen generators."""
    if flags.all():
        return True
    if not flags.any():
        return False
    return None


def _per_group(
    table: pd.DataFrame, key: str, y: np.ndarray, s: np.ndarray, fixed: float, val: float | None
) -> dict[str, dict[str, Any]]:
    """Each fake group of column ``key`` against the whole real test pool."""
    real = ~y
    names = table[key].astype(str).to_numpy()
    gen_seen = table["generator_seen"].to_numpy(dtype=bool)
    fam_seen = table["family_seen"].to_numpy(dtype=bool)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(names[y])):
        fakes = y & (names == name)
        subset = real | fakes
        block: dict[str, Any] = {}
        if key == "generator":
            block["family"] = _single_value(table, fakes, "family", key, name)
            block["forgery_type"] = _single_value(table, fakes, "forgery_type", key, name)
            block["seen"] = bool(gen_seen[fakes].all())
        else:
            block["generators"] = sorted(set(table.loc[fakes, "generator"].astype(str)))
            block["seen"] = _seen_flag(fam_seen[fakes] if key == "family" else gen_seen[fakes])
        block["n_fake"] = int(fakes.sum())
        block.update(_detection_block(y[subset], s[subset], fixed, val))
        out[name] = block
    return out


def _mean(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


# ----------------------------------------------------------------------------- attribution


def _attribution_level(
    table: pd.DataFrame, space: LabelSpace, probs: pd.DataFrame
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    y_true = table[space.level].astype(str).to_numpy(dtype=object)
    columns = list(probs.columns)
    values = probs.to_numpy(dtype=np.float64)
    y_pred = attr.predict_from_probs(values, columns)
    unseen = set(space.unseen)
    is_unseen = np.fromiter((c in unseen for c in y_true), dtype=bool, count=y_true.size)
    open_vocabulary = any(c in unseen for c in columns)
    block: dict[str, Any] = {
        "acc": attr.accuracy(y_true, y_pred),
        "macro_f1": attr.macro_f1(y_true, y_pred),
        **attr.seen_unseen_accuracy(y_true, y_pred, space.seen),
        "confusion": attr.confusion(y_true, y_pred, space.classes),
        "open_vocabulary": open_vocabulary,
        "open_set": None,
    }
    if not open_vocabulary and is_unseen.any() and (~is_unseen).any():
        max_prob = values.max(axis=1)
        block["open_set"] = {
            "novel_auroc": novel_auroc(is_unseen, max_prob),
            "oscr": oscr(y_true == y_pred, max_prob, is_unseen),
        }
    return block, y_true, y_pred


def _clustering_level(
    table: pd.DataFrame, space: LabelSpace, embeddings: np.ndarray | None, seed: int
) -> dict[str, Any] | None:
    if embeddings is None:
        return None
    y_true = table[space.level].astype(str).to_numpy(dtype=object)
    unseen = set(space.unseen)
    mask = np.fromiter((c in unseen for c in y_true), dtype=bool, count=y_true.size)
    if len(set(y_true[mask].tolist())) < 2:
        return None
    return cluster_metrics(embeddings[mask], y_true[mask], seed=seed)


# ----------------------------------------------------------------------------- output


def _json_clean(value: Any) -> Any:
    """Plain Python types only; NaN/inf become None so json.dumps(allow_nan=False) always works."""
    if isinstance(value, dict):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_clean(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def compute_run_metrics(
    table: pd.DataFrame,
    label_spaces: dict[str, LabelSpace],
    family_probs: pd.DataFrame | None = None,
    generator_probs: pd.DataFrame | None = None,
    embeddings: np.ndarray | None = None,
    val_threshold: float | None = None,
    fixed_threshold: float = 0.5,
    n_bootstrap: int = 200,
    seed: int = 0,
    groups: tuple[str, ...] | list[str] | None = None,
) -> dict[str, Any]:
    """All metrics of one run on its TEST predictions; see docs/METRICS.md for every definition.

    ``groups`` are the protocol's metric groups (``metrics:`` in its YAML; None: all of
    :data:`~dfad_bench.metrics.table.METRIC_GROUPS`). A group left out is not computed and its
    keys are absent from the result (:func:`group_keys`). ``detection`` is always computed: boards
    rank by it. Metrics registered with their own function in :mod:`dfad_bench.metrics.table`
    are added under their key when their group is computed.

    ``table`` has one row per test sample (columns :data:`REQUIRED_COLUMNS`); the probability
    frames and ``embeddings`` are aligned with it. ``val_threshold`` must come from
    :func:`dfad_bench.metrics.detection.calibrate_threshold` on VAL data. Returns a dict with
    exactly the keys :data:`TOP_LEVEL_KEYS`.
    """
    groups = _validate_groups(groups)
    _validate_table(table)
    spaces = _validate_label_spaces(label_spaces, table)
    probs = {
        "family": _validate_probs(family_probs, table, spaces["family"]),
        "generator": _validate_probs(generator_probs, table, spaces["generator"]),
    }
    emb = _validate_embeddings(embeddings, len(table))
    val = _validate_threshold("val_threshold", val_threshold, allow_none=True)
    fixed = _validate_threshold("fixed_threshold", fixed_threshold, allow_none=False)
    if int(n_bootstrap) < 0:
        raise DfadError(f"n_bootstrap: expected a non-negative integer, got {n_bootstrap}")

    y = _bool_column(table, "is_fake")
    s = pd.to_numeric(table["fake_score"]).to_numpy(dtype=np.float64)

    per_generator = _per_group(table, "generator", y, s, fixed, val)
    unseen_gens = [g for g, b in per_generator.items() if not b["seen"]]
    seen_gens = [g for g, b in per_generator.items() if b["seen"]]

    unseen_ci = None
    defined_unseen = [g for g in unseen_gens if per_generator[g]["auc"] is not None]
    if defined_unseen and n_bootstrap > 0 and "bootstrap" in groups:
        group = np.where(y, table["generator"].astype(str).to_numpy(), _REAL_GROUP)
        unseen_ci = mean_auc_ci(s, group, _REAL_GROUP, defined_unseen, n=int(n_bootstrap), seed=seed)

    attribution: dict[str, Any] = {}
    correct_family: tuple[np.ndarray, np.ndarray] | None = None
    for level in ("family", "generator"):
        if probs[level] is None or "attribution" not in groups:
            attribution[level] = None
            continue
        block, y_true, y_pred = _attribution_level(table, spaces[level], probs[level])
        if "open_set" not in groups:
            del block["open_set"]
        attribution[level] = block
        if level == "family":
            correct_family = (y_true == y_pred, y_true)

    family_ci = None
    if correct_family is not None and n_bootstrap > 0 and "bootstrap" in groups:
        correct, strata = correct_family
        family_ci = share_ci(correct, strata, n=int(n_bootstrap), seed=seed)

    def level_value(level: str, key: str) -> float | None:
        return None if attribution[level] is None else attribution[level][key]

    result = {
        "detection_auc_mean_unseen": _mean([per_generator[g]["auc"] for g in unseen_gens])
        if unseen_gens
        else None,
        "detection_auc_mean_seen": _mean([per_generator[g]["auc"] for g in seen_gens]) if seen_gens else None,
        "detection_auc_mean": _mean([b["auc"] for b in per_generator.values()]),
        "detection_auc_mean_unseen_ci": None if unseen_ci is None else list(unseen_ci),
        "attribution_acc_family": level_value("family", "acc"),
        "attribution_acc_generator": level_value("generator", "acc"),
        "attribution_macro_f1_family": level_value("family", "macro_f1"),
        "attribution_macro_f1_generator": level_value("generator", "macro_f1"),
        "attribution_acc_family_ci": None if family_ci is None else list(family_ci),
        "detection": _overall_detection(y, s, fixed, val),
        "per_generator": per_generator,
        "per_family": _per_group(table, "family", y, s, fixed, val),
        "per_forgery_type": _per_group(table, "forgery_type", y, s, fixed, val),
        "attribution": attribution,
        "clustering": {
            level: _clustering_level(table, spaces[level], emb, seed) if "clustering" in groups else None
            for level in ("family", "generator")
        },
        "n_test": len(table),
    }
    assert tuple(result) == TOP_LEVEL_KEYS  # the record schema is a contract with tables and leaderboard
    result = {k: v for k, v in result.items() if k in group_keys(groups)}
    inputs = MetricInputs(
        table=table, is_fake=y, scores=s, label_spaces=spaces, probs=probs, embeddings=emb, val_threshold=val,
        fixed_threshold=fixed, seed=seed,
    )
    for spec in iter_computed(groups):
        if spec.path[1] in result:
            raise DfadError(f"metric {spec.id!r}: key metrics.{spec.path[1]} is a core key; choose another")
        result[spec.path[1]] = spec.compute(inputs)  # type: ignore[misc]  # iter_computed: compute is set
    return _json_clean(result)


#: Top-level keys each metric group contributes (``detection`` and ``n_test`` are always there).
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "detection": (
        "detection_auc_mean_unseen", "detection_auc_mean_seen", "detection_auc_mean", "detection", "per_generator",
        "per_family", "per_forgery_type", "n_test",
    ),
    "attribution": (
        "attribution_acc_family", "attribution_acc_generator", "attribution_macro_f1_family",
        "attribution_macro_f1_generator", "attribution",
    ),
    "open_set": (),  # attribution[level].open_set
    "clustering": ("clustering",),
    "bootstrap": ("detection_auc_mean_unseen_ci", "attribution_acc_family_ci"),
}


def group_keys(groups: tuple[str, ...] | list[str]) -> set[str]:
    keys = {k for g in groups for k in GROUP_KEYS[g]}
    if "attribution" not in groups:
        keys.discard("attribution_acc_family_ci")
    return keys


def _validate_groups(groups: Any) -> tuple[str, ...]:
    if groups is None:
        return tuple(METRIC_GROUPS)
    groups = tuple(groups)
    unknown = sorted(set(groups) - set(METRIC_GROUPS))
    if unknown:
        raise DfadError(f"metric groups: unknown group {unknown[0]!r}; expected from {list(METRIC_GROUPS)}")
    if "detection" not in groups:
        raise DfadError(f"metric groups {list(groups)}: 'detection' is required (boards rank by detection AUC)")
    return groups
