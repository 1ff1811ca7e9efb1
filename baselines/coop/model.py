"""CoOp on frozen CLIP with cached image features (see package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.coop import CARD
from baselines.prompting import class_texts
from dfad_bench.backbones import create_backbone
from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.frozen import clip_image_features
from dfad_bench.harness.training import (
    Epoch,
    TrainTask,
    best_epoch_rule,
    seed_everything,
    stopping_rule,
    train_val_selected,
    val_scores,
)
from dfad_bench.taxonomy import REAL

LEVELS = ("family", "generator")
PLACEHOLDER = "X"  # one BPE token; its embeddings are replaced by the learned context


def _n_truncated(backbone, prompts: list[str]) -> int:
    """How many prompts exceed the text context (the tokenizer cuts them; the end token stays)."""
    encode = getattr(backbone.tokenizer, "encode", None)
    if encode is None:  # not open_clip's BPE tokenizer: cannot count, assume none
        return 0
    return sum(len(encode(p)) + 2 > backbone.context_length for p in prompts)


class PromptLearner(nn.Module):
    """Unified learned context per level, spliced after the start token of '<ctx> <class text>.'."""

    def __init__(self, backbone, texts: dict[str, list[str]], n_ctx: int, init_std: float) -> None:
        super().__init__()
        self.backbone = backbone  # frozen; not registered as a submodule (its weights are not ours)
        width = int(backbone.model.token_embedding.weight.shape[1])
        if n_ctx < 1 or n_ctx + 3 > backbone.context_length:
            raise DfadError(f"coop: n_ctx must be in [1, {backbone.context_length - 3}] for this backbone, got {n_ctx}")
        self.n_ctx = n_ctx
        self.ctx = nn.ParameterDict({lv: nn.Parameter(torch.randn(n_ctx, width) * init_std) for lv in texts})
        prefix = " ".join([PLACEHOLDER] * n_ctx)
        self.truncated: dict[str, int] = {}
        for level, items in texts.items():
            prompts = [f"{prefix} {t}." for t in items]
            tokens = backbone.tokenize(prompts)
            self.truncated[level] = _n_truncated(backbone, prompts)
            with torch.no_grad():
                emb = backbone.token_embeddings(tokens).float()
            self.register_buffer(f"tokens_{level}", tokens, persistent=False)
            self.register_buffer(f"embed_{level}", emb, persistent=False)

    def forward(self, level: str) -> torch.Tensor:
        """(n_classes, embed_dim) normalised text embeddings of every class of ``level``."""
        tokens, emb = getattr(self, f"tokens_{level}"), getattr(self, f"embed_{level}")
        ctx = self.ctx[level].unsqueeze(0).expand(emb.shape[0], -1, -1)
        spliced = torch.cat([emb[:, :1], ctx.to(emb.dtype), emb[:, 1 + self.n_ctx :]], dim=1)
        return self.backbone.encode_text_embeddings(spliced, tokens, normalize=True).float()


class CoOp(BaseModel):
    card = CARD

    @property
    def selection_rule(self) -> str:
        c = self.config
        return (f"{best_epoch_rule('context', getattr(self, 'best_epoch_', None))}; {stopping_rule(c['patience'], c['epochs'])}; "
                "threshold calibrated on val")

    def _features(self, view: DataView, device: torch.device) -> torch.Tensor:
        f = clip_image_features(view, self.backbone_, self.config["feature_batch_size"])
        return torch.from_numpy(np.ascontiguousarray(f)).float().to(device)

    def _probs(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        scale = self.logit_scale_
        with torch.no_grad():
            return {lv: torch.softmax(scale * feats @ self.prompts_(lv).T, dim=1) for lv in LEVELS}

    def _val_score(self, feats: torch.Tensor, val: DataView) -> dict[str, Any]:
        p = {lv: v.cpu().double().numpy() for lv, v in self._probs(feats).items()}
        real = self.classes_["family"].index(REAL)
        return val_scores(val.labels("is_fake"), 1.0 - p["family"][:, real],
                          **{lv: (val.labels(lv).astype(str), np.asarray(self.classes_[lv])[p[lv].argmax(1)]) for lv in LEVELS})

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> CoOp:
        cfg = self.config
        seed_everything(ctx.seed)
        device = torch.device(ctx.device)
        self.backbone_ = create_backbone(cfg["backbone"], device=device)
        self.logit_scale_ = float(self.backbone_.logit_scale.detach().cpu())
        self.classes_ = {lv: tuple(ctx.attribution_classes(lv, open_vocabulary=True)) for lv in LEVELS}
        if REAL not in self.classes_["family"]:
            raise DfadError("coop: the family label space has no 'real' class; cannot score fakes as 1 - p(real)")
        texts = {lv: class_texts(lv, self.classes_[lv], ctx.taxonomy) for lv in LEVELS}
        torch.manual_seed(ctx.seed)
        self.prompts_ = PromptLearner(self.backbone_, texts, int(cfg["n_ctx"]), float(cfg["init_std"])).to(device)
        for lv, n in self.prompts_.truncated.items():
            if n:
                ctx.log(f"coop: {n} {lv} prompt(s) longer than the text context ({self.backbone_.context_length} tokens) were truncated")

        x_tr, x_va = self._features(train, device), self._features(val, device)
        seen = {lv: ctx.attribution_classes(lv, open_vocabulary=False) for lv in LEVELS}
        # Training softmax runs over SEEN classes only (their rows in the all-class prompt table).
        seen_rows = {lv: torch.tensor([self.classes_[lv].index(c) for c in seen[lv]], device=device) for lv in LEVELS}
        y = {lv: torch.tensor([seen[lv].index(str(c)) for c in train.labels(lv)], device=device) for lv in LEVELS}

        params = list(self.prompts_.ctx.parameters())
        opt = torch.optim.SGD(params, lr=float(cfg["lr"]), momentum=float(cfg["momentum"]), weight_decay=float(cfg["weight_decay"]))
        epochs, bs = int(cfg["epochs"]), int(cfg["batch_size"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))

        def step(epoch: Epoch) -> dict[str, Any]:
            order = torch.randperm(len(x_tr), generator=epoch.rng).to(device)
            losses = []
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                loss = 0.0
                for lv in LEVELS:
                    text = self.prompts_(lv)[seen_rows[lv]]
                    logits = self.logit_scale_ * x_tr[idx] @ text.T
                    loss = loss + F.cross_entropy(logits, y[lv][idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                epoch.advance(1)
            return {"train_loss": float(np.mean(losses))}

        # The learned context is all that trains (the prompt learner's other tensors are
        # non-persistent buffers), so it is what the engine selects, checkpoints and restores.
        task = TrainTask(name="coop", module=self.prompts_, optimizer=opt, scheduler=sched, step=step,
                         val_score=lambda: self._val_score(x_va, val), epochs=epochs, patience=int(cfg["patience"]),
                         batches_per_epoch=(len(x_tr) + bs - 1) // bs)
        result = train_val_selected(task, ctx, type(self))
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        return self

    def _use_classes_of(self, ctx: RunContext) -> None:
        """Prompt table of the classes ``ctx`` names, with the learned context. fit and predict(val)
        get the seen classes only (selection and the val threshold see no unseen class); predict(test)
        gets all, and an unseen class is scored through its class text after the learned context."""
        classes = {lv: tuple(ctx.attribution_classes(lv, open_vocabulary=True)) for lv in LEVELS}
        if classes == self.classes_:
            return
        texts = {lv: class_texts(lv, classes[lv], ctx.taxonomy) for lv in LEVELS}
        learned = {k: v.detach().clone() for k, v in self.prompts_.ctx.items()}
        prompts = PromptLearner(self.backbone_, texts, int(self.config["n_ctx"]), float(self.config["init_std"]))
        prompts = prompts.to(learned["family"].device)
        with torch.no_grad():
            for k, v in learned.items():
                prompts.ctx[k].copy_(v)
        self.prompts_, self.classes_ = prompts, classes

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        self._use_classes_of(ctx)
        feats = self._features(data, torch.device(ctx.device))
        p = {lv: v.cpu().double().numpy() for lv, v in self._probs(feats).items()}
        return Predictions.from_attribution(
            data.sample_ids, (self.classes_["family"], p["family"]), (self.classes_["generator"], p["generator"]),
            feats.cpu().numpy().astype(np.float32),
        )
