"""``cpl``: open-world attribution on frozen CLIP features — inductive simplification of CPL.

Follows Sun et al., "Contrastive Pseudo Learning for Open-World DeepFake Attribution" (ICCV 2023,
OW-DFA). CPL trains an attribution network with cross-entropy and supervised contrastive
learning on labelled seen-class data AND, transductively, with confidence-weighted pseudo-labels
on an unlabelled pool that holds the unseen classes.

What is implemented (inductive, NOT transductive): the labelled half of CPL's objective — a
projection head (MLP -> L2-normalised embedding) on frozen CLIP image features (cached), trained
with cross-entropy on a cosine-prototype classifier over the SEEN generators plus a supervised
contrastive loss (Khosla et al., 2020) on the embedding. Family probabilities are the sums of
generator probabilities per family (hierarchically consistent); fake score = 1 - p(real).
Open-set scoring is by confidence (novelty = 1 - max probability, computed by the core as
novel-class AUROC / OSCR), with the softmax temperature of the prototype logits set on VAL
by generator-level NLL; the embedding is output so the core clusters unseen classes
(Hungarian ACC / NMI / ARI).
Why not transductive: the harness hands a model the test images only in ``predict``, after
selection and after the val threshold are fixed, and val holds no unseen class; pseudo-labelling
the test pool would fit the model on test images with nothing honest to tune it on. So CPL's
pseudo-labels, global-local voting and multi-stage schedule are omitted: this baseline measures
how far CPL's supervised objective alone carries to unseen generators.
Epoch chosen on VAL (mean of val detection AUC, val family ACC, val generator ACC), early stopping.
"""

from dfad_bench.config import Float, Int, Str
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="cpl",
    factory="baselines.cpl.model:ContrastiveAttribution",
    description="CPL (inductive): projection head on frozen CLIP, CE + supervised contrastive, prototype confidence for open set",
    inputs=("pixels",),
    open_vocabulary=False,
    paper="Sun et al., Contrastive Pseudo Learning for Open-World DeepFake Attribution, ICCV 2023 (inductive simplification)",
    config_schema={
        "backbone": Str(nonempty=True),
        "hidden_dim": Int(ge=1),
        "proj_dim": Int(ge=1),
        "train_scale": Float(gt=0),
        "supcon_weight": Float(ge=0),
        "supcon_temperature": Float(gt=0),
        "epochs": Int(ge=1),
        "batch_size": Int(ge=1),
        "lr": Float(ge=0),  # 0 freezes training: a control run (tests use it)
        "weight_decay": Float(ge=0),
        "patience": Int(ge=1),
        "feature_batch_size": Int(ge=1),
    },
    default_config={
        "backbone": "clip-mini",
        "hidden_dim": 256,
        "proj_dim": 64,
        "train_scale": 16.0,
        "supcon_weight": 1.0,
        "supcon_temperature": 0.1,
        "epochs": 60,
        "batch_size": 256,
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "patience": 10,
        "feature_batch_size": 256,
    },
    encoders={"backbone": "backbone"},
)
