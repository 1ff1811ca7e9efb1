"""A torch base class giving plug-ins the standard training loop.

Seeded; val-only model selection and early stopping; checkpoints in safetensors (weights) plus a
``weights_only``-loadable state file, resumed automatically when a run is restarted; bf16 AMP on
CUDA; DistributedDataParallel when launched with torchrun (WORLD_SIZE > 1).

Subclasses implement :meth:`build_network` and :meth:`forward` (returning logits), and may
override :meth:`inputs_from_uint8` (e.g. to normalise) and :meth:`extra_loss`.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from dfad_bench.atomic import write_json_atomic, write_with_atomic
from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.errors import DfadError

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 8,
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "patience": 3,
    "image_size": None,
    "attribution_weight": 1.0,
}


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
            f"best epoch by val score = mean(val detection AUC, val family attribution ACC); early stopping "
            f"after {c['patience']} epochs without val improvement (max {c['epochs']}); threshold calibrated on val"
        )

    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> TorchModel:
        import torch
        import torch.nn.functional as F

        from dfad_bench.metrics import accuracy, auc

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
        use_amp = device.type == "cuda"

        ckpt_dir = Path(ctx.work_dir) / "checkpoint"
        state = {"epoch": 0, "best_score": -np.inf, "best_epoch": -1, "stale": 0, "history": []}
        best_weights: dict[str, Any] | None = None
        if (ckpt_dir / "state.json").exists():
            state, best_weights = self._load_checkpoint(ckpt_dir, net, opt)
            ctx.log(f"resuming from checkpoint after epoch {state['epoch']}")

        bs = self.config["batch_size"]
        image_size = self.config.get("image_size")
        n_batches = (len(train) + bs - 1) // bs
        while state["epoch"] < self.config["epochs"] and state["stale"] < self.config["patience"]:
            epoch = state["epoch"]
            net.train()
            t0 = time.perf_counter()
            advance = ctx.progress(f"epoch {epoch + 1}/{self.config['epochs']}", n_batches) if ctx.progress else None
            losses = []
            for i, (ids, images) in enumerate(train.iter_images(bs, shuffle=True, seed=ctx.seed * 1000 + epoch, image_size=image_size)):
                if is_dist and i % world != rank:
                    continue
                x = self.inputs_from_uint8(images.to(device, non_blocking=True), ctx)
                batch = {k: torch.as_tensor(v[[labels["row"][s] for s in ids]], device=device) for k, v in labels.items() if k != "row"}
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
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
                if advance:
                    advance(1)
            # Model selection on val only.
            pred = self._predict_net(net, val, ctx)
            y_val = val.labels("is_fake").astype(int)
            val_auc = auc(y_val, pred.fake_score)
            fam_true = val.labels("family")
            fam_pred = np.asarray(fam_classes)[pred.family_probs.argmax(1)]
            val_acc = accuracy(fam_true, fam_pred)
            score = float(np.mean([v for v in (val_auc, val_acc) if v is not None]))
            improved = score > state["best_score"]
            if improved:
                state.update(best_score=score, best_epoch=epoch, stale=0)
                best_weights = {k: v.detach().clone() for k, v in self._unwrap(net).state_dict().items()}
            else:
                state["stale"] += 1
            state["epoch"] = epoch + 1
            state["history"].append(
                {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None, "val_auc": val_auc, "val_family_acc": val_acc,
                 "val_score": score, "seconds": time.perf_counter() - t0}
            )
            ctx.log(f"epoch {epoch + 1}: loss {state['history'][-1]['train_loss']:.4f} val auc {val_auc} val fam acc {val_acc:.3f}{' *' if improved else ''}")
            if rank == 0:
                self._save_checkpoint(ckpt_dir, net, opt, state, best_weights)
        if best_weights is None:
            raise DfadError(f"model {self.card.name}: training produced no checkpoint (0 epochs?)")
        self._unwrap(net).load_state_dict(best_weights)
        self.net_ = self._unwrap(net).eval()
        self.history_ = state["history"]
        self.best_epoch_ = state["best_epoch"] + 1
        return self

    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
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
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            for ids, images in data.iter_images(self.config["batch_size"] * 2, image_size=self.config.get("image_size")):
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

    def _save_checkpoint(self, ckpt_dir: Path, net, opt, state: dict, best: dict | None) -> None:
        import torch
        from safetensors.torch import save_file

        ckpt_dir.mkdir(parents=True, exist_ok=True)
        weights = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self._unwrap(net).state_dict().items()}
        if best is not None:
            weights.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
        write_with_atomic(ckpt_dir / "weights.safetensors", lambda p: save_file(weights, str(p)))
        extra = {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()}
        write_with_atomic(ckpt_dir / "train_state.pt", lambda p: torch.save(extra, p))
        # state.json is written last: its presence marks a complete checkpoint.
        write_json_atomic(ckpt_dir / "state.json", copy.deepcopy({**state, "best_score": float(state["best_score"])}))

    def _load_checkpoint(self, ckpt_dir: Path, net, opt) -> tuple[dict, dict | None]:
        import torch
        from safetensors.torch import load_file

        state = json.loads((ckpt_dir / "state.json").read_text())
        weights = load_file(str(ckpt_dir / "weights.safetensors"))
        model_sd = {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}
        best = {k[len("best."):]: v for k, v in weights.items() if k.startswith("best.")} or None
        self._unwrap(net).load_state_dict(model_sd, strict=True)
        extra = torch.load(ckpt_dir / "train_state.pt", weights_only=True)
        opt.load_state_dict(extra["optimizer"])
        torch.set_rng_state(extra["torch_rng"])
        return state, best
