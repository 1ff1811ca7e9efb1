"""Inductive CPL: CE + supervised contrastive projection head on frozen CLIP (see package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.cpl import CARD
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

#: Logit scales tried on val for the prototype softmax used at prediction time.
SCALE_GRID: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def supervised_contrastive(z: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon loss (Khosla et al., 2020, L_out) over one batch of L2-normalised embeddings.

    Positives of an anchor are the other batch samples of its class; anchors without a positive
    are skipped. Returns 0 when no anchor has one.
    """
    n = z.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    valid = n_pos > 0
    if not valid.any():
        return z.sum() * 0.0
    summed = log_prob.masked_fill(~pos, 0.0).sum(1)
    return -(summed[valid] / n_pos[valid]).mean()


class _Head(nn.Module):
    """Standardise -> MLP -> L2-normalised embedding; cosine similarity to learned class prototypes."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, hidden: int, proj: int, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        d = mean.shape[0]
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, proj))
        self.prototypes = nn.Parameter(torch.randn(n_classes, proj) * 0.1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = F.normalize(self.mlp((x - self.mean) / self.std), dim=-1)
        return z, z @ F.normalize(self.prototypes, dim=-1).T


class ContrastiveAttribution(BaseModel):
    card = CARD

    @property
    def selection_rule(self) -> str:
        c = self.config
        scale = getattr(self, "logit_scale_", None)
        return (
            f"{best_epoch_rule('head', getattr(self, 'best_epoch_', None))}; {stopping_rule(c['patience'], c['epochs'])}; "
            f"prediction logit scale{f' = {scale:g}' if scale else ''} chosen on val "
            f"from {list(SCALE_GRID)} by generator NLL; inductive: test images are never used for training; "
            "threshold calibrated on val"
        )

    # ------------------------------------------------------------------ internals
    def _features(self, view: DataView, device: torch.device) -> torch.Tensor:
        f = clip_image_features(view, self.backbone_, self.config["feature_batch_size"])
        return torch.from_numpy(np.ascontiguousarray(f)).float().to(device)

    def _outputs(self, feats: torch.Tensor, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(generator probs, family probs, embedding) as float64 numpy."""
        self.head_.eval()
        with torch.no_grad():
            z, cos = self.head_(feats)
            gen = torch.softmax(scale * cos, dim=1).double().cpu().numpy()
        fam = gen @ self.family_of_generator_
        fam = fam / fam.sum(axis=1, keepdims=True)
        return gen, fam, z.cpu().numpy()

    def _val_metrics(self, feats: torch.Tensor, val: DataView, scale: float) -> dict[str, Any]:
        gen, fam, _ = self._outputs(feats, scale)
        real = self.classes_["family"].index(REAL)
        return val_scores(val.labels("is_fake"), 1.0 - fam[:, real],
                          family=(val.labels("family").astype(str), np.asarray(self.classes_["family"])[fam.argmax(1)]),
                          generator=(val.labels("generator").astype(str), np.asarray(self.classes_["generator"])[gen.argmax(1)]))

    # ------------------------------------------------------------------ contract
    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> ContrastiveAttribution:
        cfg = self.config
        seed_everything(ctx.seed)
        device = torch.device(ctx.device)
        self.backbone_ = create_backbone(cfg["backbone"], device=device)
        self.classes_ = {lv: tuple(ctx.attribution_classes(lv, open_vocabulary=False)) for lv in ("family", "generator")}
        if REAL not in self.classes_["generator"] or REAL not in self.classes_["family"]:
            raise DfadError("cpl: the seen label spaces have no 'real' class; cannot score fakes as 1 - p(real)")
        fam_index = {f: j for j, f in enumerate(self.classes_["family"])}
        self.family_of_generator_ = np.zeros((len(self.classes_["generator"]), len(self.classes_["family"])))
        for i, g in enumerate(self.classes_["generator"]):
            family = ctx.taxonomy.family_of(g)
            if family not in fam_index:
                raise DfadError(f"cpl: seen generator {g!r} belongs to family {family!r}, which is not a seen family")
            self.family_of_generator_[i, fam_index[family]] = 1.0

        x_tr, x_va = self._features(train, device), self._features(val, device)
        gen_index = {g: i for i, g in enumerate(self.classes_["generator"])}
        y_tr = torch.tensor([gen_index[str(g)] for g in train.labels("generator")], device=device)
        mean, std = x_tr.mean(0), x_tr.std(0).clamp_min(1e-6)
        torch.manual_seed(ctx.seed)
        self.head_ = _Head(mean, std, int(cfg["hidden_dim"]), int(cfg["proj_dim"]), len(self.classes_["generator"])).to(device)
        opt = torch.optim.AdamW(self.head_.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
        train_scale, bs = float(cfg["train_scale"]), int(cfg["batch_size"])

        def step(epoch: Epoch) -> dict[str, Any]:
            order = torch.randperm(len(x_tr), generator=epoch.rng).to(device)
            losses = []
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                z, cos = self.head_(x_tr[idx])
                loss = F.cross_entropy(train_scale * cos, y_tr[idx])
                if float(cfg["supcon_weight"]) > 0:
                    loss = loss + float(cfg["supcon_weight"]) * supervised_contrastive(z, y_tr[idx], float(cfg["supcon_temperature"]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                epoch.advance(1)
            return {"train_loss": float(np.mean(losses))}

        task = TrainTask(name="cpl", module=self.head_, optimizer=opt, step=step,
                         val_score=lambda: self._val_metrics(x_va, val, train_scale), epochs=int(cfg["epochs"]),
                         patience=int(cfg["patience"]), batches_per_epoch=(len(x_tr) + bs - 1) // bs)
        result = train_val_selected(task, ctx, type(self))
        self.history_: list[dict[str, Any]] = list(result.history)
        self.best_epoch_ = result.best_epoch

        # Prediction temperature: generator-level NLL on val (val holds seen classes only).
        val_gen = np.array([gen_index[str(g)] for g in val.labels("generator")])
        self.scale_search_ = []
        for s in SCALE_GRID:
            p, _, _ = self._outputs(x_va, s)
            self.scale_search_.append({"logit_scale": s, "val_generator_nll": float(-np.log(np.clip(p[np.arange(len(p)), val_gen], 1e-12, None)).mean())})
        self.logit_scale_ = float(min(self.scale_search_, key=lambda r: (r["val_generator_nll"], r["logit_scale"]))["logit_scale"])
        self.history_.append({"temperature_search": self.scale_search_, "chosen_logit_scale": self.logit_scale_})
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        feats = self._features(data, torch.device(ctx.device))
        gen, fam, z = self._outputs(feats, self.logit_scale_)
        return Predictions.from_attribution(
            data.sample_ids, (self.classes_["family"], fam), (self.classes_["generator"], gen), z.astype(np.float32)
        )
