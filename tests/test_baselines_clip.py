"""CLIP baselines (clip-zeroshot, clip-linear, coop, cpl) end to end on toy data with a tiny random CLIP.

Never needs clip-mini weights: a tiny open_clip config with random weights is saved as a local
safetensors file and passed as ``backbone=ARCH:/path``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from baselines.prompting import TEMPLATES, class_text, encode_prompt_sets, prompt_sets
from dfad_bench.contract import ModelCard
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.registry import MODELS
from dfad_bench.taxonomy import build_taxonomy
from dfad_bench.testing import TOY_GENERATORS, tiny_clip_backbone

ARCH = "dfad-test-clip-baselines"
MODELS_UNDER_TEST = ("clip-zeroshot", "clip-linear", "coop", "cpl")
OPEN_VOCAB = {"clip-zeroshot": True, "clip-linear": False, "coop": True, "cpl": False}
FAST = {
    "clip-zeroshot": {},
    "clip-linear": {"C_grid": [0.01, 1.0, 100.0]},
    "coop": {"n_ctx": 4, "epochs": 3, "patience": 2, "batch_size": 64},
    "cpl": {"epochs": 4, "patience": 3, "hidden_dim": 32, "proj_dim": 16},
}


@pytest.fixture(scope="module", autouse=True)
def _env(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("HF_DATASETS_OFFLINE", "1")
    mp.setenv("DFAD_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def backbone_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }
    return tiny_clip_backbone(tmp_path_factory.mktemp("clipcfg"), name=ARCH, config=cfg)


@pytest.fixture(scope="module")
def toy_bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=30, images_per_identity=2, fakes_per_generator=16, size=24)


def _run(model: str, bench: Path, results: Path, backbone: str, seed: int = 0, **extra):
    opts = RunOptions(model=model, protocol="unseen-flow", benchmark=str(bench), results_dir=results, seed=seed,
                      overrides={"backbone": backbone, **FAST[model], **extra}, quiet=True, n_bootstrap=0, device="cpu")
    return run(opts)


# ----------------------------------------------------------------------------- prompts
def test_prompts_are_hierarchical_and_cover_unseen_classes() -> None:
    tax = build_taxonomy([(g, f, t) for g, (f, t) in TOY_GENERATORS.items()], {"toy-flow-a": "a toy rectified flow"})
    flow = class_text("generator", "toy-flow-a", tax)
    # authenticity, forgery type, family and the generator's own description, in that order
    parts = ["a fake face", "an entirely synthesised face", "flow-matching", "a toy rectified flow"]
    positions = [flow.index(p) for p in parts]
    assert positions == sorted(positions)
    assert class_text("family", "real", tax).startswith("a real face")
    assert "attributes" in class_text("generator", "toy-edit", tax)  # am forgery type reaches the prompt
    sets = prompt_sets("generator", ["real", "toy-flow-a"], tax)
    assert [len(s) for s in sets] == [len(TEMPLATES)] * 2 and all(flow in p for p in sets[1])


def test_prompt_ensemble_is_normalised_mean(backbone_name: str) -> None:
    from dfad_bench.backbones import create_backbone

    b = create_backbone(backbone_name)
    sets = [["a photo of a real face.", "a real face."], ["a fake face."]]
    emb = encode_prompt_sets(b, sets)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
    with torch.no_grad():
        manual = torch.nn.functional.normalize(b.encode_text(sets[0]).mean(0), dim=0)
    assert torch.allclose(emb[0], manual, atol=1e-5)


# ----------------------------------------------------------------------------- contract on the harness
def test_cards_declare_backbone_and_paper() -> None:
    for name in MODELS_UNDER_TEST:
        card = MODELS.card(name)
        assert isinstance(card, ModelCard)
        assert card.default_config["backbone"] == "clip-mini"
        assert card.paper and card.open_vocabulary == OPEN_VOCAB[name]


@pytest.fixture(scope="module")
def first_runs() -> dict:
    """One default run per model, shared by the tests that only read its record."""
    return {}


def _first(name: str, cache: dict, toy_bench: Path, backbone_name: str, tmp: Path):
    if name not in cache:
        cache[name] = _run(name, toy_bench, tmp, backbone_name)
    return cache[name]


@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_runs_unseen_flow_honours_contract_and_is_deterministic(
    name: str, toy_bench: Path, backbone_name: str, tmp_path: Path, first_runs: dict, toy_views
) -> None:
    rec, run_dir = _first(name, first_runs, toy_bench, backbone_name, tmp_path / "a")
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    spaces = rec.label_spaces
    for level in ("family", "generator"):
        cols = tuple(c.split(".", 1)[1] for c in preds.columns if c.startswith(f"prob_{level}."))
        expected = spaces[level]["classes"] if OPEN_VOCAB[name] else spaces[level]["seen"]
        assert cols == tuple(expected), (level, cols)
        if OPEN_VOCAB[name]:
            assert set(spaces[level]["unseen"]) <= set(cols) and spaces[level]["unseen"]
    assert preds["embedding"].notna().all()
    m = rec.metrics
    assert m["detection_auc_mean_unseen"] is not None and m["attribution_acc_family"] is not None
    fam_block = m["attribution"]["family"]
    assert fam_block["open_vocabulary"] == OPEN_VOCAB[name]
    if not OPEN_VOCAB[name]:
        assert fam_block["open_set"]["novel_auroc"] is not None  # closed set -> the core scores novelty
    assert m["clustering"]["generator"] is not None  # embedding -> unseen-class clustering metrics
    assert "val" in rec.selection_rule and rec.model_config["backbone"] == backbone_name

    # Same seed again, straight through fit/predict (no scoring): identical test predictions when the
    # model gets what the run gave it (the run's opaque ids and order, a seen-only context for fit).
    from dfad_bench.harness.views import run_salt

    ctx, _ = toy_views
    vs = toy_views.rebuild(run_salt(tmp_path, secret=False, run_id=rec.run_id))
    views = vs.views
    model = MODELS.create(name, {"backbone": backbone_name, **FAST[name]})
    again = vs.translate(model.fit(views["train"], views["val"], ctx.seen_only()).predict(views["test"], ctx).to_frame())
    first = preds[preds["role"] == "test"].reset_index(drop=True)
    num = [c for c in first.columns if c.startswith(("prob_", "fake_score"))]
    assert list(again["sample_id"]) == list(first["sample_id"])
    np.testing.assert_array_equal(first[num].to_numpy(), again[num].to_numpy())
    assert model.selection_rule == rec.selection_rule


def test_clip_linear_choice_of_c_is_the_val_argmax(toy_bench: Path, backbone_name: str, tmp_path: Path, first_runs: dict) -> None:
    rec, _ = _first("clip-linear", first_runs, toy_bench, backbone_name, tmp_path)
    grid = rec.training["history_"]
    det = [r for r in grid if r["head"] == "detection"]
    assert [r["candidate"] for r in det] == ["C=0.01", "C=1", "C=100"]
    # val argmax of the primary metric, ties to the lower val log-loss, then to the smaller C
    best = min(enumerate(det), key=lambda ir: (-ir[1]["val_primary"], ir[1]["val_log_loss"], ir[0]))[1]
    assert f"detection {best['candidate']}," in rec.selection_rule


def test_trained_models_record_val_history_and_stop_early(toy_bench: Path, backbone_name: str, tmp_path: Path) -> None:
    rec, _ = _run("cpl", toy_bench, tmp_path / "cpl", backbone_name, epochs=30, patience=2, lr=0.0)
    epochs = [r for r in rec.training["history_"] if "epoch" in r]
    assert len(epochs) == 3  # lr=0: val score never improves after epoch 1 -> stops after patience
    assert rec.training["best_epoch_"] == 1
    chosen = rec.training["history_"][-1]["chosen_logit_scale"]
    assert f"logit scale = {chosen:g}" in rec.selection_rule

    rec, _ = _run("coop", toy_bench, tmp_path / "coop", backbone_name, epochs=2)
    assert [r["epoch"] for r in rec.training["history_"]] == [1, 2]
    assert all(r["val_score"] is not None for r in rec.training["history_"])


def test_zeroshot_val_temperature_is_chosen_on_val(toy_bench: Path, backbone_name: str, tmp_path: Path) -> None:
    rec, _ = _run("clip-zeroshot", toy_bench, tmp_path, backbone_name, temperature="val")
    search = rec.training["history_"]
    best = min(search, key=lambda r: (r["val_family_nll"], r["logit_scale"]))
    assert f"logit scale = {best['logit_scale']:g}" in rec.selection_rule and "val" in rec.selection_rule


def test_coop_learned_context_changes_unseen_scores(backbone_name: str, toy_views) -> None:
    """The context is trained (moves from its init) and reaches unseen classes' text embeddings."""
    from baselines.coop.model import CoOp

    model = MODELS.create("coop", {"backbone": backbone_name, **FAST["coop"], "lr": 0.05})
    assert isinstance(model, CoOp)
    ctx, views = toy_views
    model.fit(views["train"], views["val"], ctx)
    learned = {k: v.detach().clone() for k, v in model.prompts_.ctx.items()}
    text_learned = model.prompts_("generator").detach()
    torch.manual_seed(0)
    with torch.no_grad():
        for k in learned:
            model.prompts_.ctx[k].normal_(0, 0.02)
    text_init = model.prompts_("generator").detach()
    unseen_rows = [model.classes_["generator"].index(g) for g in ctx.label_spaces["generator"].unseen]
    assert unseen_rows
    assert not torch.allclose(text_learned[unseen_rows], text_init[unseen_rows], atol=1e-4)


@pytest.fixture(scope="module")
def toy_views(toy_bench: Path):
    """Train/val/test views (seed 0) and a RunContext, built the way the runner builds them."""
    bench = toy_bench
    from dfad_bench.benchmarks import resolve_benchmark
    from dfad_bench.contract import RunContext
    from dfad_bench.harness.images import make_loader_factory, prescan_images
    from dfad_bench.harness.runner import _views, split_table_with_labels
    from dfad_bench.manifest import Manifest
    from dfad_bench.protocol import get_protocol
    from dfad_bench.splits import split_manifest

    _, manifest = resolve_benchmark(str(bench))
    table, _ = prescan_images(manifest)
    clean = Manifest(table=table, source=manifest.source, root=manifest.root, hash=manifest.hash, taxonomy=manifest.taxonomy)
    split = split_manifest(clean, get_protocol("unseen-flow"), 0)
    views = _views(split_table_with_labels(clean.table, split.roles), split.roles, clean.root, make_loader_factory("cpu", 0))
    ctx = RunContext(label_spaces=split.label_spaces, taxonomy=clean.taxonomy, seed=0, device="cpu",
                     work_dir=Path(bench).parent / "work", config={}, log=lambda _m: None)

    class ToyViews(tuple):
        def rebuild(self, salt: bytes):
            """The views as a run with this salt builds them (ids, order), with the id map."""
            from dfad_bench.harness.views import build_views, manifest_sources

            return build_views(split_table_with_labels(clean.table, split.roles), split.roles, manifest_sources(clean.root),
                               make_loader_factory("cpu", 0), salt)

    return ToyViews((ctx, views))

