"""``ref-cnn``: a small CNN trained from scratch by the harness's standard torch loop.

A worked example of :class:`dfad_bench.harness.torch_model.TorchModel` (docs/ADDING_A_MODEL.md):
val-only model selection, early stopping, resumable checkpoints, AMP on CUDA, DDP under torchrun.
"""

from dfad_bench.config import TRAIN_SCHEMA, Int
from dfad_bench.contract import ModelCard
from dfad_bench.harness.torch_model import TRAIN_DEFAULTS

CARD = ModelCard(
    name="ref-cnn",
    factory="baselines.ref_cnn.model:SmallCNN",
    description="Reference model: 4-block CNN with detection and family/generator attribution heads, trained end to end",
    inputs=("pixels",),
    open_vocabulary=False,
    paper="(reference model, no paper)",
    config_schema={**TRAIN_SCHEMA, "width": Int(ge=1)},
    default_config={**TRAIN_DEFAULTS, "epochs": 6, "width": 32, "lr": 2e-3},
)
