"""An outside model: dfad-bench finds it through the ``dfad_bench.models`` entry point only."""

from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="example-colour",
    factory="dfad_example_model.model:ColourPrior",
    description="Example outside plug-in: nearest-centroid on mean colour and contrast",
    inputs=("pixels",),
    open_vocabulary=False,
    paper="(example)",
    default_config={"batch_size": 128},
)
