"""Clustering metrics on embeddings of unseen-class samples (novel class discovery view).

An embedding that separates generators the model never trained on should group their
samples into as many clusters as there are unseen classes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

#: KMeans restarts; fixed so a run record is reproducible from its seed alone.
KMEANS_N_INIT = 10


def cluster_accuracy(y_true: ArrayLike, y_cluster: ArrayLike) -> float | None:
    """Accuracy under the best one-to-one map from clusters to classes (Hungarian algorithm).

    With more clusters than classes (or fewer) the unmatched clusters (classes) count as wrong.
    None on empty input.
    """
    t = np.asarray(y_true, dtype=object).ravel()
    c = np.asarray(y_cluster).ravel()
    if t.shape != c.shape:
        raise ValueError(f"y_true has {t.size} labels but y_cluster has {c.size}")
    if t.size == 0:
        return None
    _, t_idx = np.unique(t.astype(str), return_inverse=True)
    _, c_idx = np.unique(c, return_inverse=True)
    counts = np.zeros((c_idx.max() + 1, t_idx.max() + 1), dtype=np.int64)
    np.add.at(counts, (c_idx, t_idx), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / t.size)


def kmeans_labels(embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Seeded KMeans (``n_init`` fixed) on the embeddings as given: no re-normalisation, the
    model decides its own geometry."""
    km = KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=seed)
    return km.fit_predict(np.asarray(embeddings, dtype=np.float64))


def cluster_metrics(embeddings: np.ndarray, y_true: ArrayLike, seed: int = 0) -> dict[str, object] | None:
    """KMeans with k = number of distinct classes in ``y_true``, then ACC (Hungarian), NMI, ARI.

    Pass only the unseen-class samples. None when fewer than 2 classes or fewer samples than k.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    t = np.asarray(y_true, dtype=object).ravel()
    if x.ndim != 2 or x.shape[0] != t.size:
        raise ValueError(f"embeddings shape {x.shape} does not match {t.size} labels")
    k = len(set(t.tolist()))
    if k < 2 or t.size < k:
        return None
    pred = kmeans_labels(x, k, seed)
    labels = t.astype(str)
    return {
        "acc": cluster_accuracy(labels, pred),
        "nmi": float(normalized_mutual_info_score(labels, pred)),
        "ari": float(adjusted_rand_score(labels, pred)),
        "k": k,
        "n": int(t.size),
    }
