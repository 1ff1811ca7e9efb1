"""clip-mini pretraining, one module per job: data (:mod:`.data`), captions and hard negatives
(:mod:`.text`), the objective (:mod:`.objective`), the network and its weights file (:mod:`.model`),
retrieval checks (:mod:`.retrieval`), the training run (:mod:`.train`).
``python -m dfad_mini.clip_pretrain`` is its command line."""
