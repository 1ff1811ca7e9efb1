"""``ref-stats``: a reference model that reads the fake score from image statistics.

A worked example of the contract (docs/ADDING_A_MODEL.md), not a serious detector: hand-made
colour/texture/frequency statistics + logistic regressions for detection and attribution.
"""

from dfad_bench.config import Float, Int
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="ref-stats",
    factory="baselines.ref_stats.model:ImageStatsModel",
    description="Reference model: logistic regression on global image statistics (colour moments, gradient energy, high-frequency spectrum share)",
    inputs=("pixels",),
    open_vocabulary=False,
    paper="(reference model, no paper)",
    config_schema={"C": Float(gt=0), "batch_size": Int(ge=1)},
    default_config={"C": 1.0, "batch_size": 256},
)
