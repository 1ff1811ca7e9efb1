"""One probe per feature group: fit on a protocol's train split, AUC on its test split.

The probe is a shallow gradient-boosted tree ensemble (scikit-learn's
HistGradientBoostingClassifier, depth 3), not a logistic regression: a shortcut is often a
non-monotone or conjunctive rule ("reals are JPEG at quality 70-95, fakes are either PNG or
quality 100"; "JPEG and 4:2:0"), which a linear model on standardised features misses and a
few shallow trees catch. Trees need no scaling, do not care whether a size enters as bytes
or log bytes, and take the one-hot format and mode columns as they are. Depth, iteration
count and learning rate are fixed (no early stopping, nothing tuned), so nothing is ever
selected on test data and the same seed gives the same probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from dfad_bench.metrics.bootstrap import auc_batch, bootstrap_ci, mean_auc_ci
from dfad_bench.metrics.detection import auc

REAL_POOL = "<real>"  # stratum / negative group name of the real test pool (any real source)
N_BOOTSTRAP = 1000
PROBE_PARAMS: dict[str, float | int] = {"max_depth": 3, "max_iter": 100, "learning_rate": 0.1, "min_samples_leaf": 10}


@dataclass(frozen=True)
class GroupScore:
    """AUC of one group's probe on one protocol's test split, with 95% bootstrap CIs."""

    group: str
    auc: float | None
    ci: tuple[float, float] | None
    per_generator: dict[str, dict]  # generator -> {"auc", "ci", "n"}

    def to_dict(self) -> dict:
        return {"group": self.group, "auc": self.auc, "ci": list(self.ci) if self.ci else None, "per_generator": self.per_generator}


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    probe = HistGradientBoostingClassifier(**PROBE_PARAMS, early_stopping=False, random_state=seed)
    return probe.fit(x_train, y_train.astype(int))


def _auc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    # stratified resampling keeps every row's class pattern equal to the first row's
    fake = y[0].astype(bool)
    return auc_batch(s[:, ~fake], s[:, fake])


def score_group(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    generator_test: np.ndarray,
    seed: int,
    n_bootstrap: int = N_BOOTSTRAP,
) -> GroupScore:
    """Fit the group's probe on train, score test: real-vs-fake AUC and each generator vs the real pool."""
    probe = fit_probe(x_train, y_train, seed)
    score = probe.predict_proba(x_test)[:, 1]
    y = y_test.astype(bool)
    strata = np.where(y, generator_test.astype(str), REAL_POOL)
    overall = auc(y, score)
    ci = bootstrap_ci(_auc_rows, y, score, n=n_bootstrap, seed=seed, strata=strata, vectorised=True) if overall is not None else None
    per_gen: dict[str, dict] = {}
    for gen in sorted(set(generator_test[y].astype(str))):
        keep = ~y | (strata == gen)
        per_gen[gen] = {
            "auc": auc(y[keep], score[keep]),
            "ci": _as_list(mean_auc_ci(score, strata, REAL_POOL, [gen], n=n_bootstrap, seed=seed)),
            "n": int((strata == gen).sum()),
        }
    return GroupScore(name, overall, ci, per_gen)


def _as_list(ci: tuple[float, float] | None) -> list[float] | None:
    return list(ci) if ci else None
