"""A torch base class for image models trained end to end by the harness's training engine.

The loop itself (seeding, val-only model selection, early stopping, one-file atomic checkpoints
resumed when a run is restarted, code fingerprint, bf16 AMP on CUDA) is
:func:`dfad_bench.harness.training.train_val_selected`; this class supplies its step (one epoch
over the train images, detection + attribution losses) and its val score (mean of val detection
AUC and val family ACC). DistributedDataParallel when launched with torchrun (WORLD_SIZE > 1).

Subclasses implement :meth:`build_network` and :meth:`forward` (returning logits), and may
override :meth:`inputs_from_uint8` (e.g. to normalise) and :meth:`extra_loss`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.faults import fault_point
from dfad_bench.harness.training import (
    Epoch,
    TrainTask,
    amp_enabled,
    autocast,
    seed_everything,
    stopping_rule,
    train_val_selected,
    val_scores,
)

__all__ = ["TRAIN_DEFAULTS", "TorchModel", "seed_everything"]

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 8,
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "patience": 3,
    "image_size": None,
    "attribution_weight": 1.0,
}


def _distributed() -> tuple[bool, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world > 1, rank, world


class TorchModel(BaseModel):
    """Standard loop for models with a detection logit and per-level attribution logits."""

    # -- hooks for subclasses -----------------------------------------------------------
    def build_network(self, ctx: RunContext, n_family: int, n_generator: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, net, x, ctx: RunContext) -> dict[str, Any]:
        """Return {"fake_logit": (n,), "family_logits": (n, F), "generator_logits": (n, G), "embedding": optional}."""
        return net(x)

    def inputs_from_uint8(self, images, ctx: RunContext):
        return images.float().div_(255.0)

    def extra_loss(self, outputs: dict[str, Any], batch: dict[str, Any], ctx: RunContext):
        return None

    # -- contract -----------------------------------------------------------------------
    @property
    def selection_rule(self) -> str:
        c = self.config
        return (
            f"best epoch by val score = mean(val detection AUC, val family attribution ACC); "
            f"{stopping_rule(c['patience'], c['epochs'])}; threshold calibrated on val"
        )

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> TorchModel:
        import torch
        import torch.nn.functional as F

        seed_everything(ctx.seed)
        device = torch.device(ctx.device)
        is_dist, rank, world = _distributed()
        fam_classes = ctx.label_spaces["family"].seen
        gen_classes = ctx.label_spaces["generator"].seen
        self.family_classes_, self.generator_classes_ = tuple(fam_classes), tuple(gen_classes)
        net = self.build_network(ctx, len(fam_classes), len(gen_classes)).to(device)
        if is_dist:
            from torch.nn.parallel import DistributedDataParallel

            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
            net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.config["lr"], weight_decay=self.config["weight_decay"])
        labels = self._label_lookup(train, fam_classes, gen_classes)
        use_amp = amp_enabled(device, self.config.get("amp"))
        bs = self.config["batch_size"]
        image_size = self.config.get("image_size")

        def step(epoch: Epoch) -> dict[str, Any]:
            net.train()
            losses = []
            batches = train.iter_images(bs, shuffle=True, seed=ctx.seed * 1000 + epoch.index, image_size=image_size)
            for i, (ids, images) in enumerate(batches):
                if is_dist and i % world != rank:
                    continue
                x = self.inputs_from_uint8(images.to(device, non_blocking=True), ctx)
                batch = {k: torch.as_tensor(v[[labels["row"][s] for s in ids]], device=device) for k, v in labels.items() if k != "row"}
                with autocast(device, use_amp):
                    out = self.forward(net, x, ctx)
                    loss = F.binary_cross_entropy_with_logits(out["fake_logit"].float(), batch["is_fake"].float())
                    w = self.config["attribution_weight"]
                    if "family_logits" in out:
                        loss = loss + w * F.cross_entropy(out["family_logits"].float(), batch["family"])
                    if "generator_logits" in out:
                        loss = loss + w * F.cross_entropy(out["generator_logits"].float(), batch["generator"])
                    extra = self.extra_loss(out, batch, ctx)
                    if extra is not None:
                        loss = loss + extra
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                epoch.advance(1)
            return {"train_loss": float(np.mean(losses)) if losses else None}

        def val_score() -> dict[str, Any]:
            pred = self._predict_net(net, val, ctx)
            return val_scores(val.labels("is_fake"), pred.fake_score,
                              family=(val.labels("family"), np.asarray(fam_classes)[pred.family_probs.argmax(1)]))

        task = TrainTask(
            name=self.card.name, module=self._unwrap(net), optimizer=opt, step=step, val_score=val_score,
            epochs=self.config["epochs"], patience=self.config["patience"], batches_per_epoch=(len(train) + bs - 1) // bs,
            save=rank == 0,
        )
        result = train_val_selected(task, ctx, type(self))
        self.net_ = self._unwrap(net).eval()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        fault_point("predict")  # crash-safety tests (dfad_bench/faults.py)
        return self._predict_net(self.net_, data, ctx)

    # -- internals ----------------------------------------------------------------------
    @staticmethod
    def _unwrap(net):
        return getattr(net, "module", net)

    def _label_lookup(self, view: DataView, fam_classes, gen_classes) -> dict[str, Any]:
        fam_index = {c: i for i, c in enumerate(fam_classes)}
        gen_index = {c: i for i, c in enumerate(gen_classes)}
        return {
            "row": {s: i for i, s in enumerate(view.sample_ids)},
            "is_fake": view.labels("is_fake").astype(np.float32),
            "family": np.array([fam_index[f] for f in view.labels("family")], dtype=np.int64),
            "generator": np.array([gen_index[g] for g in view.labels("generator")], dtype=np.int64),
        }

    def _predict_net(self, net, data: DataView, ctx: RunContext) -> Predictions:
        import torch

        device = torch.device(ctx.device)
        net.eval()
        ids_all, scores, fams, gens, embs = [], [], [], [], []
        bs = self.config["batch_size"] * 2
        bar = ctx.progress(f"{self.card.name}: predict {data.role}", (len(data) + bs - 1) // bs) if ctx.progress and len(data) else None
        with torch.no_grad(), autocast(device, self.config.get("amp")):
            for ids, images in data.iter_images(bs, image_size=self.config.get("image_size")):
                if bar is not None:
                    bar()
                out = self.forward(net, self.inputs_from_uint8(images.to(device), ctx), ctx)
                ids_all.extend(ids)
                scores.append(torch.sigmoid(out["fake_logit"].float()).cpu().numpy())
                fams.append(torch.softmax(out["family_logits"].float(), 1).cpu().numpy())
                gens.append(torch.softmax(out["generator_logits"].float(), 1).cpu().numpy())
                if out.get("embedding") is not None:
                    embs.append(out["embedding"].float().cpu().numpy())
        return Predictions(
            sample_ids=ids_all,
            fake_score=np.concatenate(scores).astype(np.float64),
            family_classes=self.family_classes_,
            family_probs=np.concatenate(fams).astype(np.float64),
            generator_classes=self.generator_classes_,
            generator_probs=np.concatenate(gens).astype(np.float64),
            embedding=np.concatenate(embs) if embs else None,
        )
