"""The metric table: one :class:`MetricSpec` per number a run reports, read by everything that shows one.

The run report (``metrics/report.py``), the boards (``tables/boards.py``), the run summary
(``runner.summarize``) and ``scripts/results_table.py`` all take a metric's record key, display
name, direction, scale and protocol group from here, so they cannot drift apart.

Adding a metric is one entry plus its function::

    def mean_fake_score(run: MetricInputs) -> float | None:
        return float(run.scores[run.is_fake].mean()) if run.is_fake.any() else None

    register_metric(MetricSpec("mean_fake_score", ("metrics", "mean_fake_score"), "Mean fake score",
                               higher_is_better=None, group="detection", compute=mean_fake_score))

``compute_run_metrics`` then stores it in every record whose protocol computes its group, and a
board shows it as a column. Outside packages register specs through the entry-point group
``dfad_bench.metrics`` (an entry point names a ``MetricSpec`` object).

Specs whose ``compute`` is ``None`` are the core numbers ``compute_run_metrics`` assembles itself
(AUC blocks, attribution, open-set, clustering, bootstrap); their entry still names them, so
every display reads the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.registry import METRIC_ENTRY_POINT_GROUP, Registry, instance_check

ENTRY_POINT_GROUP = METRIC_ENTRY_POINT_GROUP

#: Protocol metric groups (``metrics:`` in a protocol YAML) and what each one computes.
METRIC_GROUPS: dict[str, str] = {
    "detection": "real-vs-fake AUC/AP/EER/ACC overall, per generator, family and forgery type",
    "attribution": "family- and generator-level ACC, macro-F1, confusion, seen/unseen ACC",
    "open_set": "novel-class AUROC and OSCR of closed-set models (needs attribution)",
    "clustering": "Hungarian cluster ACC, NMI, ARI of embeddings on unseen classes",
    "bootstrap": "bootstrap confidence intervals of the headline numbers",
}
#: Not a protocol group: figures of the run itself (timings), shown but never ranked.
RUN_GROUP = "run"


@dataclass(frozen=True)
class MetricInputs:
    """What a metric function gets: the test predictions joined with their labels."""

    table: pd.DataFrame  # one row per test sample: labels (generator, family, ...) and fake_score
    is_fake: np.ndarray  # bool, per row
    scores: np.ndarray  # float, per row
    label_spaces: Mapping[str, Any]
    probs: Mapping[str, pd.DataFrame | None]  # per level, aligned with table, or None
    embeddings: np.ndarray | None
    val_threshold: float | None
    fixed_threshold: float
    seed: int


@dataclass(frozen=True)
class MetricSpec:
    """One reported number: where it lives in a record and how it is named, ranked and printed."""

    id: str  # stable short identifier (CSV header prefix, board column key)
    path: tuple[str, ...]  # key path inside the record, e.g. ("metrics", "attribution_acc_family")
    name: str  # display name on boards and tables
    higher_is_better: bool | None  # None: never ranked, never marked best
    group: str  # protocol metric group that computes it (or "run")
    long_name: str = ""  # label in the run summary (defaults to name)
    scale: float = 100.0  # display multiplier (100: percent)
    decimals: int = 1
    board: bool = True  # a column of the leaderboard
    summary: bool = True  # a line of the run summary
    optional: bool = False  # a board column only when some run on the board has a value (e.g. sweeps few runs have)
    compute: Callable[[MetricInputs], float | None] | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.group not in METRIC_GROUPS and self.group != RUN_GROUP:
            raise DfadError(f"metric {self.id!r}: unknown group {self.group!r}; expected one of {[*METRIC_GROUPS, RUN_GROUP]}")
        if self.compute is not None and (len(self.path) != 2 or self.path[0] != "metrics"):
            raise DfadError(f"metric {self.id!r}: a computed metric lives at ('metrics', <key>), got {self.path}")

    @property
    def key(self) -> str:
        return self.id

    @property
    def label(self) -> str:
        return self.long_name or self.name

    @property
    def ranked(self) -> bool:
        return self.higher_is_better is not None

    def rounded(self, value: float) -> float:
        """The value as displayed; best marking compares these, so a displayed tie is a tie."""
        return round(value * self.scale, self.decimals)

    def format(self, value: float) -> str:
        return f"{value * self.scale:.{self.decimals}f}"

    def lookup(self, record: Mapping[str, Any]) -> tuple[bool, float | None]:
        """(present, value) in a record dict: absent when its group was not computed; a null
        anywhere on the path is a present but undefined value."""
        value: Any = record
        for key in self.path:
            if value is None:
                return True, None
            if not isinstance(value, Mapping) or key not in value:
                return False, None
            value = value[key]
        return True, None if value is None else float(value)


#: The metric table: one strict registry (duplicate names raise, lazy ``module:attr`` targets,
#: entry-point group ``dfad_bench.metrics``, did-you-mean for unknown names).
METRICS: Registry[MetricSpec] = Registry("metric", METRIC_ENTRY_POINT_GROUP, check=instance_check(MetricSpec, key="id"))
#: Display order of the built-in metrics; plug-in metrics follow, by name.
_ORDER: list[str] = []


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric to the table; a name registered twice is an error, never an overwrite."""
    METRICS.register(spec.id, spec, source="register_metric()")
    return spec


def unregister_metric(name: str) -> None:
    METRICS.unregister(name)


def metric_specs(groups: tuple[str, ...] | list[str] | None = None) -> list[MetricSpec]:
    """Every registered metric in table order, optionally only those of some protocol groups
    (run figures such as images/s are always kept). A broken plug-in metric raises (loudly)."""
    names = METRICS.names()
    ordered = [n for n in _ORDER if n in names] + [n for n in names if n not in _ORDER]
    specs = [METRICS.get(n) for n in ordered]
    if groups is None:
        return specs
    return [s for s in specs if s.group == RUN_GROUP or s.group in groups]


def get_metric(name: str) -> MetricSpec:
    return METRICS.get(name)


def iter_computed(groups: tuple[str, ...] | list[str]) -> Iterator[MetricSpec]:
    """Registered metrics with their own function, in the given protocol groups."""
    return (s for s in metric_specs(groups) if s.compute is not None)


for _spec in (
    MetricSpec(
        "auc_mean_unseen", ("metrics", "detection_auc_mean_unseen"), "Mean unseen AUC", True, "detection",
        long_name="detection AUC, mean unseen",
        help="unweighted mean of the unseen generators' AUC (each generator vs the real test pool)",
    ),
    MetricSpec(
        "auc_mean", ("metrics", "detection_auc_mean"), "Mean AUC", True, "detection", long_name="detection AUC, mean all",
        help="mean over all generators; the board uses it instead of the unseen mean when the protocol has no unseen generator",
    ),
    MetricSpec("auc_mean_seen", ("metrics", "detection_auc_mean_seen"), "Mean seen AUC", True, "detection",
               long_name="detection AUC, mean seen", board=False, summary=False),
    MetricSpec("acc_family", ("metrics", "attribution_acc_family"), "Family ACC", True, "attribution",
               long_name="attribution ACC (family)"),
    MetricSpec("f1_family", ("metrics", "attribution_macro_f1_family"), "Family macro-F1", True, "attribution",
               long_name="attribution macro-F1 (family)", summary=False),
    MetricSpec("acc_generator", ("metrics", "attribution_acc_generator"), "Generator ACC", True, "attribution",
               long_name="attribution ACC (generator)"),
    MetricSpec("acc_family_seen", ("metrics", "attribution", "family", "acc_seen"), "Family ACC seen", True, "attribution",
               board=False, summary=False),
    MetricSpec("acc_family_unseen", ("metrics", "attribution", "family", "acc_unseen"), "Family ACC unseen", True,
               "attribution", board=False, summary=False),
    MetricSpec("acc_generator_seen", ("metrics", "attribution", "generator", "acc_seen"), "Generator ACC seen", True,
               "attribution", board=False, summary=False),
    MetricSpec("acc_generator_unseen", ("metrics", "attribution", "generator", "acc_unseen"), "Generator ACC unseen", True,
               "attribution", board=False, summary=False),
    MetricSpec(
        "acc_val_threshold", ("metrics", "detection", "acc_val_threshold"), "ACC@val thr.", True, "detection",
        long_name="ACC @ val threshold", help="detection accuracy at the threshold calibrated on val",
    ),
    MetricSpec(
        "cluster_acc_generator", ("metrics", "clustering", "generator", "acc"), "Cluster ACC (unseen gen.)", True,
        "clustering", long_name="cluster ACC (unseen generators)",
        help="Hungarian-matched k-means accuracy of the embeddings on unseen generators (models with embeddings)",
    ),
    MetricSpec(
        "robustness_auc", ("robustness", "mean_auc"), "Robustness AUC", True, "detection",
        long_name="detection AUC, mean over the robustness sweep", optional=True, summary=False,
        help="mean test AUC over the perturbations of the record's robustness sweep (dfad-bench robustness); "
             "'—' for runs without one",
    ),
    MetricSpec(
        "images_per_second", ("timings", "predict_images_per_second"), "Images/s (machine-dependent)", None, RUN_GROUP,
        long_name="predict images/s", scale=1.0, decimals=1,
        help="prediction throughput on the machine named in the record: not comparable across machines, never ranked",
    ),
):
    METRICS.register(_spec.id, _spec, source="built-in")
    _ORDER.append(_spec.id)
