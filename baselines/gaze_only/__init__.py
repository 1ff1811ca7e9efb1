"""``gaze-only``: how far gaze alone goes — a classifier on gaze-encoder outputs only.

An ablation baseline for GazeCLIP (whose premise is that generators get gaze wrong): no pixels
reach the classifier, only what a frozen gaze encoder says about the image. It follows the
gaze-consistency cue of Demir & Ciftci, "Where Do Deep Fakes Look? Synthetic Face Detection via
Gaze Tracking", ETRA 2021 (per-eye gaze, left/right inconsistency, a classifier on top).

Faithful: per-eye (pitch, yaw), the overall gaze angles and 3D vector, the angle between the
two eyes' gaze directions (their main consistency feature) and per-eye differences, fed to a
learned classifier; the gaze encoder is frozen.
Simplified: one image, not a video (no temporal gaze signals, vergence over time or spectral
features of gaze); the encoder is ``gaze-mini`` on DFAD-Mini (``eth-xgaze`` or ``landmark`` on
photographs); optionally the encoder's penultimate feature vector is appended
(``use_gaze_features``); a small MLP (or logistic) head per task with its regularisation chosen on
val; closed-set attribution.

Invalid gaze (the encoder found no face or eyes) is explicit, never silent zeros: a ``gaze_valid``
indicator feature (and ``per_eye_available``), and each missing number is imputed with the mean of
that column over the TRAIN rows where it is known; a column never known in train is dropped. The
rule and counts are recorded in the run's selection rule.
"""

from dfad_bench.config import Bool, Float, Int, ListOf, Str
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="gaze-only",
    factory="baselines.gaze_only.model:GazeOnlyModel",
    description=(
        "Gaze-only ablation: per-eye gaze angles, gaze vector, left/right eye inconsistency, validity "
        "(+ optional gaze-encoder features) from a frozen gaze encoder, MLP or logistic heads chosen on val"
    ),
    inputs=("gaze",),
    open_vocabulary=False,
    paper="Demir & Ciftci, Where Do Deep Fakes Look? Synthetic Face Detection via Gaze Tracking, ETRA 2021",
    config_schema={
        "gaze": Str(nonempty=True),
        "use_gaze_features": Bool(),
        "head": Str("mlp", "logistic"),
        "hidden": Int(ge=1),
        "alpha_grid": ListOf(Float(ge=0)),
        "C_grid": ListOf(Float(gt=0)),
        "max_iter": Int(ge=1),
        "batch_size": Int(ge=1),
    },
    default_config={
        "gaze": "gaze-mini",
        "use_gaze_features": True,
        "head": "mlp",
        "hidden": 64,
        "alpha_grid": [1.0, 0.01, 0.0001],
        "C_grid": [0.01, 0.1, 1.0, 10.0],
        "max_iter": 300,
        "batch_size": 256,
    },
    encoders={"gaze": "gaze"},
)
