"""``clip-zeroshot``: CLIP zero-shot detection and attribution with hierarchical class prompts.

Follows the zero-shot protocol of Radford et al., "Learning Transferable Visual Models From
Natural Language Supervision" (ICML 2021): class embeddings from text prompts, prompt ensembling
over templates (mean of normalised text embeddings), probabilities = softmax(logit_scale *
cos(image, class)). Class text is hierarchical (authenticity -> forgery type -> family ->
generator, ``baselines.prompting``), as in the fine-grained prompts of MFCLIP.

Faithful: no training; frozen image and text towers; ensembling; CLIP's own learned logit scale by
default. Open vocabulary: family and generator probabilities cover ALL classes of the label space,
unseen ones included (scored through their text). Fake score = 1 - p(real) at family level.
Embedding = the CLIP image feature.
Simplified / added: our templates and class text (not the paper's 80 ImageNet templates); the
only tunable is the temperature: ``temperature: clip`` (default, CLIP's logit scale), a number
(the softmax temperature, i.e. 1/logit_scale), or ``val`` (chosen from a fixed grid by the
family-level negative log-likelihood on the VAL split, recorded in the run record).
"""

from dfad_bench.config import Float, Int, OneOf, Str
from dfad_bench.contract import ModelCard

CARD = ModelCard(
    name="clip-zeroshot",
    factory="baselines.clip_zeroshot.model:ClipZeroShot",
    description="CLIP zero-shot: cosine to hierarchical class prompts (ensembled templates); no training; open vocabulary",
    inputs=("pixels", "text"),
    open_vocabulary=True,
    paper="Radford et al., Learning Transferable Visual Models From Natural Language Supervision, ICML 2021",
    trained_on="nothing (zero-shot); optional temperature chosen on the protocol's val split",
    config_schema={
        "backbone": Str(nonempty=True),
        "temperature": OneOf(Str("clip", "val"), Float(gt=0)),
        "batch_size": Int(ge=1),
    },
    default_config={"backbone": "clip-mini", "temperature": "clip", "batch_size": 256},
    encoders={"backbone": "backbone"},
)
