"""``spectrum``: a frequency-domain detector/attributor on fixed spectral features.

Follows Durall et al., "Watch your Up-Convolution: CNN Based Generative Deep Neural Networks are
Failing to Reproduce Spectral Distributions", CVPR 2020 (azimuthally averaged log-magnitude FFT
spectrum + a simple classifier) and Frank et al., "Leveraging Frequency Analysis for Deep Fake
Image Recognition", ICML 2020 (log-scaled 2D DCT coefficients, standardised, + a linear model).

Faithful: grayscale 2D FFT -> log magnitude -> 1D azimuthal average over integer radii, min-max
scaled per image (Durall's released code); log |DCT-II| of the grayscale image (Frank);
features standardised with train statistics; linear classifiers (logistic regression; Durall
also report logistic regression, Frank a ridge regression) with L2 strength chosen on VAL.
Simplified: one concatenated feature vector (``features``: fft | dct | both); Frank's DCT plane is
block-averaged to ``dct_grid`` x ``dct_grid`` cells instead of keeping every coefficient; no
colour channels; closed-set (family/generator heads over the seen classes only); images of
differing size must be resized (``image_size``), which low-passes the spectrum.
"""

from dfad_bench.config import Bool, Float, Int, ListOf, Str
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="spectrum",
    factory="baselines.spectrum.model:SpectrumModel",
    description=(
        "Frequency-domain baseline: azimuthally averaged log FFT spectrum (Durall et al.) and block-averaged "
        "log |DCT| (Frank et al.) of the grayscale image, logistic-regression heads with C chosen on val"
    ),
    inputs=("pixels",),
    open_vocabulary=False,
    paper=(
        "Durall et al., Watch your Up-Convolution, CVPR 2020; "
        "Frank et al., Leveraging Frequency Analysis for Deep Fake Image Recognition, ICML 2020"
    ),
    config_schema={
        "features": Str("fft", "dct", "both"),
        "dct_grid": Int(ge=1),
        "radial_minmax": Bool(),
        "image_size": Int(ge=8, nullable=True),
        "C_grid": ListOf(Float(gt=0)),
        "max_iter": Int(ge=1),
        "batch_size": Int(ge=1),
    },
    default_config={
        "features": "both",
        "dct_grid": 32,
        "radial_minmax": True,
        "image_size": None,
        "C_grid": [0.001, 0.01, 0.1, 1.0],
        "max_iter": 1000,
        "batch_size": 256,
    },
)
