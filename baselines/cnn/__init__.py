"""``cnn``: an ImageNet-pretrained EfficientNet-Lite0 fine-tuned end to end.

Follows the CNN baselines of FaceForensics++ (Rossler et al., ICCV 2019: an ImageNet-pretrained
XceptionNet fine-tuned as a binary real/fake classifier) and DeepfakeBench (Yan et al.,
NeurIPS 2023 D&B), with the EfficientNet family of Tan & Le (ICML 2019) as the backbone.

Faithful: ImageNet-pretrained weights (the real ``efficientnet-lite0-57934424.pth``, checked by
SHA-256 and mapped tensor by tensor onto timm's ``tf_efficientnet_lite0``) with the input
normalisation they were trained with ([-1, 1]; see :mod:`baselines.cnn.pretrained`), every layer
fine-tuned, a linear detection head trained with binary cross-entropy, early stopping and
checkpoint selection on the validation split only.
Simplified: Lite0 (4.7M parameters) instead of Xception / EfficientNet-B4, so that it trains on
CPU; input resized to ``image_size`` (64 px by default, the DFAD-Mini resolution, which keeps a CPU run to minutes: set
``image_size=224`` on photographs); no face cropping (the benchmark's images are face crops);
no augmentation; two extra linear heads (family, generator) trained jointly with the detection
loss (``attribution_weight``) for closed-set attribution, as in multi-task DFAD baselines.
"""

from dfad_bench.config import TRAIN_SCHEMA, Bool, Float
from dfad_bench.contract import ModelCard
from dfad_bench.harness.torch_model import TRAIN_DEFAULTS

CARD = ModelCard(
    name="cnn",
    factory="baselines.cnn.model:EfficientNetBaseline",
    description=(
        "ImageNet-pretrained EfficientNet-Lite0 fine-tuned end to end with detection and "
        "family/generator attribution heads (FaceForensics++/DeepfakeBench-style CNN baseline)"
    ),
    inputs=("pixels",),
    open_vocabulary=False,
    paper=(
        "Rossler et al., FaceForensics++: Learning to Detect Manipulated Facial Images, ICCV 2019; "
        "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019"
    ),
    trained_on="ImageNet-1k (backbone pretraining), then the protocol's train split only",
    config_schema={**TRAIN_SCHEMA, "pretrained": Bool(), "drop_rate": Float(ge=0, lt=1)},
    default_config={
        **TRAIN_DEFAULTS,
        "epochs": 2,
        "patience": 2,
        "batch_size": 32,
        "lr": 5e-4,
        "weight_decay": 1e-4,
        "image_size": 64,
        "pretrained": True,
        "drop_rate": 0.2,
    },
    test_config={"pretrained": False},  # the ImageNet weights are a download
)
