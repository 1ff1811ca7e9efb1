"""``clip-linear``: linear probes on frozen CLIP image features (UnivFD).

Follows Ojha, Li & Lee, "Towards Universal Fake Image Detectors that Generalize Across Generative
Models" (CVPR 2023): a frozen CLIP image encoder used as a fixed feature space and a single
linear layer on top, trained for real/fake.

Faithful: frozen CLIP image tower (features cached by content hash + encoder fingerprint); one
linear layer per task; detection = logistic regression on the CLIP feature.
Simplified / added: the linear layers are fitted with scikit-learn (L-BFGS, L2 penalty) on
standardised features instead of Adam on raw ones; two more linear heads (softmax over the SEEN
families and SEEN generators) for attribution; the L2 strength C of each head is chosen on the
VAL split from ``C_grid`` (detection by val AUC, attribution by val accuracy, ties by val
log-loss, then by the stronger penalty) and recorded. Closed set: probabilities over seen classes
only. Embedding = the CLIP feature (for clustering metrics on unseen classes). No nearest-neighbour
variant (UnivFD's other probe).
"""

from dfad_bench.config import Float, Int, ListOf, Str
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="clip-linear",
    factory="baselines.clip_linear.model:ClipLinear",
    description="UnivFD-style linear probes (detection, family, generator) on frozen CLIP image features; L2 chosen on val",
    inputs=("pixels",),
    open_vocabulary=False,
    paper="Ojha et al., Towards Universal Fake Image Detectors that Generalize Across Generative Models, CVPR 2023",
    config_schema={
        "backbone": Str(nonempty=True),
        "C_grid": ListOf(Float(gt=0)),
        "max_iter": Int(ge=1),
        "batch_size": Int(ge=1),
    },
    default_config={
        "backbone": "clip-mini",
        "C_grid": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0],
        "max_iter": 2000,
        "batch_size": 256,
    },
    encoders={"backbone": "backbone"},
)
