"""Benchmark metrics: detection, attribution, open-set, clustering, bootstrap CIs, and the run report.

Definitions are in docs/METRICS.md. Numpy / scikit-learn only (no torch), so scoring stored
predictions never needs a deep-learning stack.
"""

from dfad_bench.metrics.attribution import (
    accuracy,
    confusion,
    macro_f1,
    predict_from_probs,
    seen_unseen_accuracy,
)
from dfad_bench.metrics.bootstrap import (
    auc_batch,
    bootstrap_ci,
    bootstrap_indices,
    mean_auc_ci,
    percentile_interval,
)
from dfad_bench.metrics.clustering import KMEANS_N_INIT, cluster_accuracy, cluster_metrics, kmeans_labels
from dfad_bench.metrics.detection import (
    accuracy_at_threshold,
    auc,
    average_precision,
    calibrate_threshold,
    eer,
    oracle_accuracy,
    tpr_at_threshold,
)
from dfad_bench.metrics.openset import novel_auroc, oscr, oscr_curve
from dfad_bench.metrics.report import REQUIRED_COLUMNS, TOP_LEVEL_KEYS, compute_run_metrics

__all__ = [
    "KMEANS_N_INIT",
    "REQUIRED_COLUMNS",
    "TOP_LEVEL_KEYS",
    "accuracy",
    "accuracy_at_threshold",
    "auc",
    "auc_batch",
    "average_precision",
    "bootstrap_ci",
    "bootstrap_indices",
    "calibrate_threshold",
    "cluster_accuracy",
    "cluster_metrics",
    "compute_run_metrics",
    "confusion",
    "eer",
    "kmeans_labels",
    "macro_f1",
    "mean_auc_ci",
    "novel_auroc",
    "oracle_accuracy",
    "oscr",
    "oscr_curve",
    "percentile_interval",
    "predict_from_probs",
    "seen_unseen_accuracy",
    "tpr_at_threshold",
]
