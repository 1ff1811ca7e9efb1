"""The GazeCLIP plug-in: fit/predict over the harness's data views (design: docs/GAZECLIP.md).

One forward pass gives both tasks: the global forgery embedding is matched (cosine, learned
temperature) against hierarchical class prompts at the family and the generator level, over every
class of the label space (unseen ones through their prompts: open-vocabulary attribution); the fake
score is ``1 - p(real)`` of the family-level softmax.

Training runs through the harness's engine (:func:`dfad_bench.harness.training.train_val_selected`:
seeded, model selection and early stopping on val only, one atomic checkpoint file per epoch in
``ctx.work_dir`` resumed automatically unless the code changed, bf16 autocast on CUDA only); this
model supplies its step and val score. Frozen parts (gaze outputs, CLIP embeddings or the ViT
prefix tokens) are encoded once per image through the on-disk feature caches, and an epoch reads
them from memory.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfad_bench.contract import BaseModel, DataView, Predictions, RunContext
from dfad_bench.errors import DfadError
from dfad_bench.harness.training import (
    Epoch,
    TrainTask,
    autocast,
    seed_everything,
    stopping_rule,
    train_val_selected,
    val_scores,
)
from dfad_bench.taxonomy import REAL
from gazeclip import CARD
from gazeclip.gaze_adapter import GazeAdapter, GazeStandardizer
from gazeclip.gie import AppearanceInputs, GazeAwareImageEncoder, appearance_inputs
from gazeclip.losses import cosine_logits, total_loss
from gazeclip.network import GazeCLIPNet, NetworkDims, PromptBank, count_parameters
from gazeclip.prompts import PromptBuilder, check_prompt_levels, level_values, value_of

_BOOL_KEYS = ("gie", "vpe", "lre", "aws")
_OFF = {"false", "off", "none", "no", "0", ""}
_ON = {"true", "on", "yes", "1"}
_INT_KEYS = ("head_threads", "n_gaze_prompts", "gie_layers", "gaze_token_dim", "vpe_heads", "lre_rank", "aws_hidden", "epochs", "batch_size",
             "patience", "encode_batch_size")
_FLOAT_KEYS = ("lr", "weight_decay", "w_contrastive", "w_attribution", "w_detection", "w_gaze", "temperature_init", "token_cache_mb")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _OFF | _ON:
        return value.strip().lower() in _ON
    raise DfadError(f"gazeclip.{key}: expected true or false, got {value!r}")


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate and canonicalise a config (``--set`` values arrive as YAML scalars or strings)."""
    c = dict(config)
    gaze = c["gaze"]
    if gaze is None or gaze is False or (isinstance(gaze, str) and gaze.strip().lower() in _OFF):
        c["gaze"] = False
    elif gaze is True or (isinstance(gaze, str) and gaze.strip().lower() in _ON):
        c["gaze"] = CARD.default_config["gaze"]
    elif isinstance(gaze, str):
        c["gaze"] = gaze.strip()
    else:
        raise DfadError(f"gazeclip.gaze: expected a gaze encoder name (e.g. 'gaze-mini') or false, got {gaze!r}")
    for key in _BOOL_KEYS:
        c[key] = _as_bool(key, c[key])
    levels = c["prompt_levels"]
    if isinstance(levels, str):
        levels = [part.strip() for part in levels.strip("[]").split(",") if part.strip()]
    c["prompt_levels"] = list(check_prompt_levels(levels))
    for key in _INT_KEYS:
        try:
            c[key] = int(c[key])
        except (TypeError, ValueError):
            raise DfadError(f"gazeclip.{key}: expected an integer, got {c[key]!r}") from None
    for key in _FLOAT_KEYS:
        try:
            c[key] = float(c[key])
        except (TypeError, ValueError):
            raise DfadError(f"gazeclip.{key}: expected a number, got {c[key]!r}") from None
    for key in ("n_gaze_prompts", "gie_layers", "epochs", "batch_size", "patience", "lre_rank", "aws_hidden", "vpe_heads"):
        if c[key] < 1:
            raise DfadError(f"gazeclip.{key}: must be >= 1, got {c[key]}")
    if c["head_threads"] < 0:
        raise DfadError(f"gazeclip.head_threads: must be >= 0 (0 leaves torch's setting), got {c['head_threads']}")
    if c["temperature_init"] <= 0:
        raise DfadError(f"gazeclip.temperature_init: must be > 0, got {c['temperature_init']}")
    return c


@contextmanager
def head_threads(n: int, device: torch.device) -> Iterator[None]:
    """Run the trainable heads with ``n`` torch intra-op threads (0: leave torch's setting).

    After the frozen encoders have run, an epoch is thousands of tiny ops. On CPU extra intra-op
    threads only add synchronisation, and on cores shared with other jobs they stall: measured on the
    project's shared 2-core machine, a cached train step ran at 883 images/s with 1 thread and 31 with 2.
    The frozen encoders (large matmuls) keep the process's thread setting.
    """
    if n <= 0 or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@functools.lru_cache(maxsize=2)
def _load_backbone(name: str, device: str, stamp: tuple[int, int] | None) -> Any:
    from dfad_bench.backbones import create_backbone

    return create_backbone(name, device=device)


def shared_backbone(name: str, device: str) -> Any:
    """A frozen backbone shared by the GazeCLIP instances of one process (ablations, seeds).

    It is never modified (frozen weights, eval mode), so sharing is safe and saves reloading weights
    and tokenizer per run; a local weights file is keyed by its size and mtime, so a changed file reloads.
    """
    from dfad_bench.backbones import parse_backbone_name

    spec = parse_backbone_name(name)
    stamp = None
    if spec.source != "hub":
        st = Path(spec.weights).stat()
        stamp = (st.st_size, st.st_mtime_ns)
    return _load_backbone(name, str(device), stamp)


@dataclass
class ViewInputs:
    """Everything a view contributes per sample, aligned with its rows."""

    appearance: AppearanceInputs
    gaze: np.ndarray | None  # standardised gaze descriptors (n, D + 14)

    def __len__(self) -> int:
        return len(self.appearance)


@dataclass(frozen=True)
class TextTargets:
    """A prompt bank and, per key ('family', 'generator', 'level.<name>'), the bank rows and class names."""

    bank: PromptBank
    rows: dict[str, list[int]]
    classes: dict[str, tuple[str, ...]]


class GazeCLIP(BaseModel):
    card = CARD

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.config = normalize_config(self.config)

    @property
    def selection_rule(self) -> str:
        c = self.config
        return (
            "best epoch by val score = mean(val detection AUC, val family attribution ACC, val generator attribution ACC), "
            f"scored over the SEEN classes' prompts only; {stopping_rule(c['patience'], c['epochs'])}; threshold calibrated on val"
        )

    # ------------------------------------------------------------------ frozen parts
    def prepare(self, device: str) -> None:
        """Create the frozen encoders (once per model object)."""
        if getattr(self, "backbone_", None) is not None:
            return
        c = self.config
        self.backbone_ = shared_backbone(c["backbone"], device)
        self.gie_ = GazeAwareImageEncoder(self.backbone_, c["gie_layers"]) if c["gie"] else None
        self.gaze_ = GazeAdapter.create(c["gaze"], device=device) if c["gaze"] else None

    def _inputs(self, view: DataView, ctx: RunContext) -> ViewInputs:
        c = self.config
        bs = c["encode_batch_size"]
        t0 = time.perf_counter()
        appearance = appearance_inputs(view, self.backbone_, self.gie_, c["token_cache_mb"], bs)
        gaze = None
        if self.gaze_ is not None:
            raw = self.gaze_.describe(view, bs)
            if view.role == "train":  # standardisation statistics come from the train split only
                self.gaze_standardizer_ = GazeStandardizer.fit(raw)
            elif getattr(self, "gaze_standardizer_", None) is None:
                raise DfadError("gazeclip: gaze statistics must be fitted on the train view first (call fit)")
            gaze = self.gaze_standardizer_.apply(raw)
        ctx.log(f"gazeclip: {view.role} inputs ready ({len(view)} images, {appearance.kind}"
                f"{', streamed' if appearance.streamed else ', cached'}) in {time.perf_counter() - t0:.1f}s")
        return ViewInputs(appearance, gaze)

    def _dims(self) -> NetworkDims:
        bb = self.backbone_
        return NetworkDims(
            embed_dim=bb.embed_dim,
            vit_width=bb.width,
            text_width=int(bb.model.token_embedding.weight.shape[1]),
            gaze_feature_dim=self.gaze_.layout.feature_dim if self.gaze_ is not None else None,
        )

    # ------------------------------------------------------------------ prompts
    def _targets(self, family_classes: tuple[str, ...], generator_classes: tuple[str, ...], levels: tuple[str, ...] = (),
                 taxonomy: Any = None) -> TextTargets:
        """Prompts of the given family/generator classes (+ contrastive levels' seen classes), deduplicated."""
        builder: PromptBuilder = self.prompt_builder_
        groups: dict[str, list[str]] = {
            "family": builder.prompts("family", family_classes, generator_classes),
            "generator": builder.prompts("generator", generator_classes),
        }
        classes: dict[str, tuple[str, ...]] = {"family": family_classes, "generator": generator_classes}
        for level in levels:
            if level in ("family", "generator"):
                continue
            values = level_values(level, generator_classes, taxonomy)
            groups[f"level.{level}"] = builder.prompts(level, values, generator_classes)
            classes[f"level.{level}"] = values
        texts: list[str] = []
        index: dict[str, int] = {}
        rows: dict[str, list[int]] = {}
        for key, prompts in groups.items():
            rows[key] = []
            for text in prompts:
                if text not in index:
                    index[text] = len(texts)
                    texts.append(text)
                rows[key].append(index[text])
        return TextTargets(PromptBank(texts, self.backbone_), rows, classes)

    # ------------------------------------------------------------------ forward helpers
    def _image(self, net: GazeCLIPNet, inputs: ViewInputs, rows: np.ndarray, device: torch.device) -> dict[str, Any]:
        appearance = inputs.appearance.batch(rows, device)
        gaze = torch.from_numpy(inputs.gaze[rows]).to(device) if inputs.gaze is not None else None
        return net.image(appearance, gaze, self.gie_)

    @torch.no_grad()
    def _embed_all(self, net: GazeCLIPNet, inputs: ViewInputs, device: torch.device) -> np.ndarray:
        net.eval()
        out = []
        bs = self.config["encode_batch_size"]
        with autocast(device):
            for start in range(0, len(inputs), bs):
                rows = np.arange(start, min(start + bs, len(inputs)))
                out.append(self._image(net, inputs, rows, device)["embedding"].float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.backbone_.embed_dim), np.float32)

    @torch.no_grad()
    def _scores(self, net: GazeCLIPNet, embeddings: np.ndarray, targets: TextTargets, device: torch.device) -> dict[str, np.ndarray]:
        """Family/generator probabilities and the fake score for precomputed image embeddings."""
        net.eval()
        text = net.text(targets.bank, self.backbone_).float()
        z = torch.from_numpy(embeddings).to(device)
        scale = net.scale().float()
        out: dict[str, np.ndarray] = {}
        for key in ("family", "generator"):
            logits = cosine_logits(z, text[targets.rows[key]], scale)
            out[key] = torch.softmax(logits.double(), dim=1).cpu().numpy()
        real = targets.classes["family"].index(REAL)
        out["fake_score"] = np.clip(1.0 - out["family"][:, real], 0.0, 1.0)
        return out

    # ------------------------------------------------------------------ fit
    def fit(self, train: DataView, val: DataView, ctx: RunContext) -> GazeCLIP:
        c = self.config
        device = torch.device(ctx.device)
        self.prepare(ctx.device)
        fam_seen = tuple(ctx.label_spaces["family"].seen)
        gen_seen = tuple(ctx.label_spaces["generator"].seen)
        if REAL not in fam_seen:
            raise DfadError("gazeclip: the protocol's seen families lack 'real'; detection needs pristine training images")
        self.family_classes_, self.generator_classes_ = fam_seen, gen_seen
        self.prompt_builder_ = PromptBuilder.fit(ctx.taxonomy, c["prompt_levels"], gen_seen)
        levels = tuple(c["prompt_levels"])
        seen = self._targets(fam_seen, gen_seen, levels, ctx.taxonomy)
        train_in, val_in = self._inputs(train, ctx), self._inputs(val, ctx)
        labels = self._train_labels(train, seen, levels, ctx)

        seed_everything(ctx.seed)
        net = GazeCLIPNet(c, self._dims()).to(device)
        self.parameter_counts_ = count_parameters(net)
        ctx.log(f"gazeclip: trainable parameters {self.parameter_counts_}")
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=c["lr"], weight_decay=c["weight_decay"])
        weights = {"contrastive": c["w_contrastive"], "attribution": c["w_attribution"], "detection": c["w_detection"], "gaze": c["w_gaze"]}
        real_index = fam_seen.index(REAL)

        n, bs = len(train), c["batch_size"]
        y_val = val.labels("is_fake").astype(int)
        fam_val, gen_val = val.labels("family"), val.labels("generator")

        def step(epoch: Epoch) -> dict[str, Any]:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(ctx.seed * 1000 + epoch.index)).numpy()
            sums: dict[str, float] = {}
            for start in range(0, n, bs):
                rows = order[start : start + bs]
                batch = {k: torch.as_tensor(v[rows], device=device) for k, v in labels.items()}
                terms = self.train_step(net, opt, train_in, rows, batch, seen, levels, weights, real_index, device)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v * len(rows)
                epoch.advance(1)
            return {f"train_{k}": v / max(n, 1) for k, v in sums.items()}

        def val_score() -> dict[str, Any]:
            # Over the seen classes' prompts only.
            scores = self._scores(net, self._embed_all(net, val_in, device), seen, device)
            return {**val_scores(y_val, scores["fake_score"], family=(fam_val, np.asarray(fam_seen)[scores["family"].argmax(1)]),
                                 generator=(gen_val, np.asarray(gen_seen)[scores["generator"].argmax(1)])),
                    "logit_scale": float(net.scale().detach())}

        task = TrainTask(name="gazeclip", module=net, optimizer=opt, step=step, val_score=val_score, epochs=c["epochs"],
                         patience=c["patience"], batches_per_epoch=max(1, (n + bs - 1) // bs))
        with head_threads(c["head_threads"], device):  # the epoch is small ops: see head_threads
            result = train_val_selected(task, ctx, type(self))
        self.net_ = net.eval()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        return self

    def train_step(self, net: GazeCLIPNet, opt: torch.optim.Optimizer, inputs: ViewInputs, rows: np.ndarray,
                   batch: dict[str, torch.Tensor], targets: TextTargets, levels: tuple[str, ...], weights: dict[str, float],
                   real_index: int, device: torch.device) -> dict[str, float]:
        """One optimisation step on the rows of a view; returns the loss and its terms."""
        with autocast(device):
            image = self._image(net, inputs, rows, device)
            text = net.text(targets.bank, self.backbone_)
            outputs = self._logits(net, image, text, targets, levels)
            loss, terms = total_loss(outputs, batch, weights, real_index)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach()), **terms}

    def _logits(self, net: GazeCLIPNet, image: dict[str, Any], text: torch.Tensor, targets: TextTargets,
                levels: tuple[str, ...]) -> dict[str, torch.Tensor]:
        z, scale = image["embedding"], net.scale()
        out = {key: cosine_logits(z, text[targets.rows[key]], scale) for key in targets.rows}
        logits = {"family_logits": out["family"], "generator_logits": out["generator"], "gaze_logit": image["gaze_logit"]}
        for level in levels:
            logits[f"level_logits.{level}"] = out[level if level in ("family", "generator") else f"level.{level}"]
        return logits

    def _train_labels(self, train: DataView, seen: TextTargets, levels: tuple[str, ...], ctx: RunContext) -> dict[str, np.ndarray]:
        gens = train.labels("generator")
        fam_index = {f: i for i, f in enumerate(seen.classes["family"])}
        gen_index = {g: i for i, g in enumerate(seen.classes["generator"])}
        out = {
            "is_fake": train.labels("is_fake").astype(np.float32),
            "family": np.array([fam_index[f] for f in train.labels("family")], dtype=np.int64),
            "generator": np.array([gen_index[g] for g in gens], dtype=np.int64),
        }
        for level in levels:
            key = level if level in ("family", "generator") else f"level.{level}"
            index = {v: i for i, v in enumerate(seen.classes[key])}
            out[f"level.{level}"] = np.array([index[value_of(level, g, ctx.taxonomy)] for g in gens], dtype=np.int64)
        return out

    # ------------------------------------------------------------------ export
    def export_state(self) -> dict[str, Any] | None:
        """The trained network (``net.*``; the frozen CLIP and gaze encoders come back from the
        config) and the train split's gaze statistics."""
        state: dict[str, Any] = {f"net.{k}": v.detach().cpu() for k, v in self.net_.state_dict().items()}
        if getattr(self, "gaze_standardizer_", None) is not None:
            state["gaze_standardizer.mean"] = self.gaze_standardizer_.mean
            state["gaze_standardizer.std"] = self.gaze_standardizer_.std
        return state

    def load_state(self, state: dict[str, np.ndarray], ctx: RunContext) -> None:
        c = self.config
        self.prepare(ctx.device)
        self.family_classes_ = tuple(ctx.label_spaces["family"].seen)
        self.generator_classes_ = tuple(ctx.label_spaces["generator"].seen)
        # fit's prompt builder is a function of the seen generators and their taxonomy: rebuilt, not stored
        self.prompt_builder_ = PromptBuilder.fit(ctx.taxonomy, c["prompt_levels"], self.generator_classes_)
        net = GazeCLIPNet(c, self._dims())
        weights = {k[len("net."):]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("net.")}
        net.load_state_dict(weights, strict=True)
        self.net_ = net.to(torch.device(ctx.device)).eval()
        if "gaze_standardizer.mean" in state:
            self.gaze_standardizer_ = GazeStandardizer(np.asarray(state["gaze_standardizer.mean"]), np.asarray(state["gaze_standardizer.std"]))

    # ------------------------------------------------------------------ predict
    def predict(self, data: DataView, ctx: RunContext) -> Predictions:
        device = torch.device(ctx.device)
        net = self.net_
        # Prompts of every class this call's context names: the seen ones for val (the harness hands
        # predict(val) a seen-only context, so the val threshold never sees an unseen prompt), all for
        # test. fit fixed the seen families' forgery types; the taxonomy of this call describes the rest.
        fam_all = tuple(ctx.attribution_classes("family", open_vocabulary=True))
        gen_all = tuple(ctx.attribution_classes("generator", open_vocabulary=True))
        self.prompt_builder_ = dataclasses.replace(self.prompt_builder_, taxonomy=ctx.taxonomy)
        targets = self._targets(fam_all, gen_all)
        inputs = self._inputs(data, ctx)
        with head_threads(self.config["head_threads"], device):
            embeddings = self._embed_all(net, inputs, device)
            scores = self._scores(net, embeddings, targets, device)
        return Predictions(
            sample_ids=data.sample_ids,
            fake_score=scores["fake_score"].astype(np.float64),
            family_classes=fam_all,
            family_probs=scores["family"],
            generator_classes=gen_all,
            generator_probs=scores["generator"],
            embedding=embeddings.astype(np.float32),
        )

    def class_prompts(self, ctx: RunContext) -> dict[str, dict[str, str]]:
        """The prompt of every class of both levels (for docs and inspection; after fit)."""
        fam_all = tuple(ctx.attribution_classes("family", True))
        gen_all = tuple(ctx.attribution_classes("generator", True))
        self.prompt_builder_ = dataclasses.replace(self.prompt_builder_, taxonomy=ctx.taxonomy)
        return {
            "family": dict(zip(fam_all, self.prompt_builder_.prompts("family", fam_all, gen_all), strict=True)),
            "generator": dict(zip(gen_all, self.prompt_builder_.prompts("generator", gen_all), strict=True)),
        }
