"""``coop``: Context Optimization — learned prompt context for the CLIP text tower.

Follows Zhou, Yang, Loy & Liu, "Learning to Prompt for Vision-Language Models" (IJCV 2022):
the prompt of class c is ``[V]_1 ... [V]_M [CLASS c].``, where the M context vectors live in the
word-embedding space of the frozen text tower and are the only trained parameters; logits =
CLIP logit scale * cos(image, text(c)); cross-entropy on labelled images.

Faithful: frozen CLIP (both towers); unified context (one context shared by all classes of a
level, CoOp's default — the class-specific variant, CSC, has no context for a class it never saw,
so it cannot score unseen classes and is not offered); random N(0, 0.02^2) initialisation; M = 16
by default; SGD with momentum and cosine decay; CLIP's own logit scale.
Simplified / added: "[CLASS c]" is the hierarchical class text of ``baselines.prompting``
(authenticity, forgery type, family, generator description) rather than a bare name; one context
per attribution level (family, generator), trained jointly (sum of the two cross-entropies, over
SEEN classes only: unseen names are never seen in training); image features are cached once
(the image tower is frozen), so an epoch is a pass over cached features; the epoch is chosen on
VAL (mean of val detection AUC, val family ACC, val generator ACC) with early stopping; no
checkpoint resume (training takes seconds). Open vocabulary: probabilities over ALL classes,
unseen ones scored through their text with the learned context; fake score = 1 - p(real) at
family level; embedding = the CLIP image feature.
"""

from dfad_bench.config import Float, Int, Str
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="coop",
    factory="baselines.coop.model:CoOp",
    description="CoOp: learned unified prompt context (per level) + hierarchical class text on frozen CLIP; open vocabulary",
    inputs=("pixels", "text"),
    open_vocabulary=True,
    paper="Zhou et al., Learning to Prompt for Vision-Language Models (CoOp), IJCV 2022",
    config_schema={
        "backbone": Str(nonempty=True),
        "n_ctx": Int(ge=1),
        "init_std": Float(gt=0),
        "epochs": Int(ge=1),
        "batch_size": Int(ge=1),
        "lr": Float(ge=0),  # 0 freezes training: a control run (tests use it)
        "momentum": Float(ge=0, lt=1),
        "weight_decay": Float(ge=0),
        "patience": Int(ge=1),
        "feature_batch_size": Int(ge=1),
    },
    default_config={
        "backbone": "clip-mini",
        "n_ctx": 16,
        "init_std": 0.02,
        "epochs": 30,
        "batch_size": 256,
        "lr": 0.002,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "patience": 5,
        "feature_batch_size": 256,
    },
    encoders={"backbone": "backbone"},
)
