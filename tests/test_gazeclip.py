"""GazeCLIP: prompts, LRE/AWS, GIE, switches, and end-to-end runs through the harness on toy data.

Uses a tiny random open_clip config saved to a local safetensors file and a stub gaze encoder, so
it never depends on the clip-mini / gaze-mini weights and stays fast.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dfad_bench.errors import DfadError
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.perception.gaze import GazeOutput, available_gaze_encoders, register_gaze_encoder
from dfad_bench.taxonomy import FAMILIES, FORGERY_TYPES
from dfad_bench.testing import TOY_GENERATORS, tiny_clip_backbone

ARCH = "gazeclip-test-tiny"
STUB = "gazeclip-test-stub"
GAZE_DIM = 6


class StubGaze:
    """A deterministic gaze 'encoder' from colour statistics; counts the images it encodes."""

    name = STUB
    fingerprint = "gazeclip-test-stub:v1"
    feature_dim = GAZE_DIM
    encoded = 0

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def encode(self, images: np.ndarray) -> GazeOutput:
        x = images.astype(np.float32) / 255.0
        StubGaze.encoded += len(x)
        m, s = x.mean(axis=(1, 2)), x.std(axis=(1, 2))
        left = np.column_stack([m[:, 0] - 0.5, m[:, 1] - 0.5])
        right = left + 0.5 * s[:, :2]
        n = len(x)
        return GazeOutput.build(left, right, np.column_stack([m, s]), np.ones(n, bool), ["ok"] * n)


if STUB not in available_gaze_encoders():
    register_gaze_encoder(STUB, f"{__name__}:StubGaze")


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> str:
    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }
    return tiny_clip_backbone(tmp_path_factory.mktemp("gazeclip_cfg"), name=ARCH, config=cfg)


@pytest.fixture(scope="module")
def toy_bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=20, images_per_identity=2, fakes_per_generator=10, size=32)


def _run(bench: Path, backbone: str, results: Path, seed: int = 0, **overrides):
    cfg = {"backbone": backbone, "gaze": STUB, "epochs": 2, "batch_size": 32, "patience": 5, **overrides}
    return run(RunOptions(model="gazeclip", protocol="unseen-flow", benchmark=str(bench), seed=seed, results_dir=results,
                          overrides=cfg, quiet=True, n_bootstrap=5))


@pytest.fixture(scope="module")
def default_run(toy_bench: Path, tiny_backbone: str, tmp_path_factory: pytest.TempPathFactory):
    rec, run_dir = _run(toy_bench, tiny_backbone, tmp_path_factory.mktemp("gazeclip_results"))
    return rec, pd.read_parquet(run_dir / "predictions.parquet")


# ----------------------------------------------------------------------------- card and prompts
def test_card_is_light_and_declares_the_contract() -> None:
    code = "import sys, gazeclip; c = gazeclip.CARD; print(c.name, c.open_vocabulary, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.split() == ["gazeclip", "True", "False"]
    from gazeclip import CARD

    assert CARD.inputs == ("pixels", "gaze", "text")
    for key in ("backbone", "gaze", "gie", "vpe", "lre", "aws", "prompt_levels", "n_gaze_prompts", "epochs", "batch_size", "lr",
                "weight_decay", "patience", "w_contrastive", "w_attribution", "w_detection", "w_gaze", "temperature_init"):
        assert key in CARD.default_config


def _toy_taxonomy():
    from dfad_bench.taxonomy import build_taxonomy

    rows = [(g, fam, ft) for g, (fam, ft) in TOY_GENERATORS.items()]
    return build_taxonomy(rows, descriptions={"toy-diff-a": "ToyDiff-A, a test diffusion sampler"})


def test_prompts_are_hierarchical_and_built_from_taxonomy_text() -> None:
    from gazeclip.prompts import PromptBuilder

    tax = _toy_taxonomy()
    seen = [g for g in TOY_GENERATORS if tax[g].family != "flow"]
    full = PromptBuilder.fit(tax, ["authenticity", "forgery_type", "family", "generator"], seen)
    p = full.prompt("generator", "toy-diff-a")
    assert "ToyDiff-A, a test diffusion sampler" in p
    assert FAMILIES["diffusion"] in p and FORGERY_TYPES["efs"] in p and "fake face" in p
    real = full.prompt("generator", "real")
    assert "real face" in real and FAMILIES["real"] in real and tax["real"].description in real
    # an unseen family is described from the taxonomy alone
    flow = full.prompt("family", "flow", list(TOY_GENERATORS))
    assert FAMILIES["flow"] in flow and "fake face" in flow
    # a seen family's prompt names the forgery types of its SEEN generators (gan: efs + fs)
    gan = full.prompt("family", "gan", list(TOY_GENERATORS))
    assert FORGERY_TYPES["efs"] in gan and FORGERY_TYPES["fs"] in gan and FORGERY_TYPES["am"] not in gan
    short = PromptBuilder.fit(tax, ["family", "generator"], seen).prompt("generator", "toy-diff-a")
    assert "fake face" not in short and FORGERY_TYPES["efs"] not in short
    assert FAMILIES["diffusion"] in short and "ToyDiff-A" in short
    # a family prompt always names its family, even when the family level is switched off
    assert FAMILIES["gan"] in PromptBuilder.fit(tax, ["authenticity"], seen).prompt("family", "gan")


def test_config_validation() -> None:
    from gazeclip import CARD
    from gazeclip.model import normalize_config

    c = normalize_config({**CARD.default_config, "gaze": False, "gie": "false", "prompt_levels": "[family, generator]"})
    assert c["gaze"] is False and c["gie"] is False and c["prompt_levels"] == ["family", "generator"]
    assert normalize_config({**CARD.default_config, "gaze": True})["gaze"] == "gaze-mini"
    with pytest.raises(DfadError, match="unknown prompt level 'colour'"):
        normalize_config({**CARD.default_config, "prompt_levels": ["colour"]})
    with pytest.raises(DfadError, match="gazeclip.vpe"):
        normalize_config({**CARD.default_config, "vpe": "maybe"})


# ----------------------------------------------------------------------------- LRE / AWS
def test_lre_and_aws_shapes_identity_at_init_and_parameters() -> None:
    from gazeclip.lre import LanguageRefinementEncoder, word_mask

    torch.manual_seed(0)
    tokens = torch.zeros(3, 12, dtype=torch.long)
    tokens[:, 0] = 49406
    for i, n_words in enumerate((2, 5, 9)):
        tokens[i, 1 : 1 + n_words] = torch.randint(1, 49000, (n_words,))
        tokens[i, 1 + n_words] = 49407
    emb = torch.randn(3, 12, 64)
    mask = word_mask(tokens)
    assert mask.sum(1).tolist() == [2, 5, 9]
    lre = LanguageRefinementEncoder(64, rank=8, aws=True, aws_hidden=16)
    out, gates = lre(emb, tokens)
    assert out.shape == emb.shape and gates.shape == (3, 12)
    assert torch.equal(out, emb)  # zero-initialised update: the frozen text model's input at start
    assert (gates[~mask] == 0).all() and ((gates[mask] > 0) & (gates[mask] < 1)).all()
    n_aws = sum(p.numel() for p in lre.parameters())
    assert n_aws == (64 * 16 + 16 + 16 + 1) + (2 * 64 * 8 + 8) + (8 * 64 + 64) == 2665
    plain = LanguageRefinementEncoder(64, rank=8, aws=False)
    assert sum(p.numel() for p in plain.parameters()) == n_aws - (64 * 16 + 16 + 16 + 1)
    # after an update, only word positions change
    torch.nn.init.normal_(lre.up.weight)
    out, _ = lre(emb, tokens)
    changed = (out - emb).abs().sum(-1) > 0
    assert torch.equal(changed, mask)
    out.sum().backward()
    assert lre.selector.score[0].weight.grad is not None and lre.selector.score[0].weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- GIE
def test_gie_tail_equals_backbone_deep_prompt_tuning(tiny_backbone: str) -> None:
    from dfad_bench.backbones import create_backbone
    from gazeclip.gie import GazeAwareImageEncoder

    bb = create_backbone(tiny_backbone)
    torch.manual_seed(1)
    x = torch.rand(5, 3, 32, 32)
    depth = len(bb.visual.transformer.resblocks)
    prompts = torch.randn(5, depth, 3, bb.width)
    full = GazeAwareImageEncoder(bb, depth)
    assert full.mode == "tokens"
    with torch.no_grad():
        ref = bb.encode_images_with_prompts(x, prompts, deep=True)
        assert torch.allclose(full.tail(full.frozen_inputs(x), prompts), ref, atol=1e-5)
        # one prompted block: the cached attention summary gives the numbers of the full last block
        last = GazeAwareImageEncoder(bb, 1)
        assert last.mode == "summary" and last.frozen_dim == 3 * bb.width + 2 * last.heads
        fast = last.tail(last.frozen_inputs(x), prompts[:, -1:])
        plain = GazeAwareImageEncoder(bb, 1)
        plain.mode, plain.cls_shortcut = "tokens", False
        slow = plain.tail(plain.frozen_inputs(x), prompts[:, -1:])
        assert torch.allclose(fast, slow, atol=1e-5)
        assert not torch.allclose(fast, bb.encode_images(x), atol=1e-3)  # the prompts do act
        # no prompts: exactly the frozen CLIP embedding
        assert torch.allclose(last.tail(last.frozen_inputs(x), None), bb.encode_images(x), atol=1e-5)
    with pytest.raises(DfadError, match="gie_layers"):
        GazeAwareImageEncoder(bb, depth + 1)


def test_streamed_frozen_inputs_match_the_cache(tiny_backbone: str, toy_bench: Path) -> None:
    from dfad_bench.backbones import create_backbone
    from dfad_bench.cache.content import content_hashes
    from dfad_bench.harness.images import make_loader_factory
    from dfad_bench.harness.views import build_views, manifest_sources
    from gazeclip.gie import GazeAwareImageEncoder, appearance_inputs

    table = pd.read_parquet(toy_bench).iloc[::5].reset_index(drop=True)
    table["content_hash"] = content_hashes(table, toy_bench.parent)
    roles = table[["sample_id"]].assign(role="train", is_fake=table["family"] != "real")
    view = build_views(table, roles, manifest_sources(toy_bench.parent), make_loader_factory("cpu", 0), b"s" * 32).views["train"]
    bb = create_backbone(tiny_backbone)
    rows = np.array([3, 0, 7, 5])
    for layers in (1, 2):  # summary cache, token cache
        gie = GazeAwareImageEncoder(bb, layers)
        cached = appearance_inputs(view, bb, gie, max_cache_mb=1e6)
        streamed = appearance_inputs(view, bb, gie, max_cache_mb=0)
        assert not cached.streamed and streamed.streamed
        a, b = cached.batch(rows, torch.device("cpu")), streamed.batch(rows, torch.device("cpu"))
        assert a.shape == b.shape == (4, gie.frozen_dim)
        assert torch.allclose(a, b, rtol=1e-2, atol=1e-2)  # the token cache is float16


def test_trimmed_text_encoding_is_exact(tiny_backbone: str) -> None:
    from dfad_bench.backbones import create_backbone
    from gazeclip.network import encode_text_trimmed

    bb = create_backbone(tiny_backbone)
    tokens = bb.tokenize(["a photo of a fake face.", "a photo of a real face, a real camera photograph of a person."])
    emb = bb.token_embeddings(tokens)
    with torch.no_grad():
        assert torch.allclose(encode_text_trimmed(bb, emb, tokens), bb.encode_text_embeddings(emb, tokens), atol=1e-5)


# ----------------------------------------------------------------------------- switches
SWITCHES = {
    "gaze": {"gaze": False},
    "gie": {"gie": False},
    "vpe": {"vpe": False},
    "lre": {"lre": False},
    "aws": {"aws": False},
}


def test_every_switch_changes_the_parameter_count() -> None:
    from gazeclip import CARD
    from gazeclip.model import normalize_config
    from gazeclip.network import GazeCLIPNet, NetworkDims, count_parameters

    def count(**over) -> dict[str, int]:
        cfg = normalize_config({**CARD.default_config, **over})
        dims = NetworkDims(embed_dim=16, vit_width=32, text_width=16, gaze_feature_dim=GAZE_DIM if cfg["gaze"] else None)
        return count_parameters(GazeCLIPNet(cfg, dims))

    base = count()
    assert {"gaze_tokens", "gaze_probe", "prompts", "vpe", "lre"} <= set(base)
    for name, over in SWITCHES.items():
        assert count(**over)["total"] < base["total"], name
    assert count(n_gaze_prompts=8)["total"] > base["total"]
    assert count(gie_layers=2)["prompts"] > base["prompts"]


@pytest.mark.parametrize("switch", [*SWITCHES, "prompt_levels"])
def test_each_ablation_runs_and_changes_the_outputs(switch, toy_bench, tiny_backbone, default_run, tmp_path) -> None:
    over = SWITCHES.get(switch, {"prompt_levels": ["family", "generator"]})
    rec, run_dir = _run(toy_bench, tiny_backbone, tmp_path, epochs=1, **over)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    base = default_run[1]
    assert list(preds.columns) == list(base.columns)
    cols = [c for c in preds.columns if c.startswith("prob_")] + ["fake_score"]
    assert not np.allclose(preds[cols].to_numpy(float), base[cols].to_numpy(float))
    assert rec.model_config[switch if switch != "prompt_levels" else "prompt_levels"] == next(iter(over.values()))


# ----------------------------------------------------------------------------- harness runs
def test_run_gives_open_vocabulary_outputs_over_all_classes(default_run) -> None:
    rec, preds = default_run
    fams = rec.label_spaces["family"]
    gens = rec.label_spaces["generator"]
    assert "flow" in fams["unseen"] and {"toy-flow-a", "toy-flow-b"} <= set(gens["unseen"])
    assert [c for c in preds.columns if c.startswith("prob_family.")] == [f"prob_family.{c}" for c in fams["classes"]]
    assert [c for c in preds.columns if c.startswith("prob_generator.")] == [f"prob_generator.{c}" for c in gens["classes"]]
    unseen_cols = [f"prob_generator.{g}" for g in gens["unseen"]]
    test, val = preds[preds["role"] == "test"], preds[preds["role"] == "val"]
    assert (test[unseen_cols].to_numpy() > 0).all()  # unseen generators are scored through their prompts at test
    assert (val[unseen_cols].to_numpy() == 0).all()  # val is predicted with the seen classes' prompts only
    assert preds["embedding"].map(len).nunique() == 1 and len(preds["embedding"].iloc[0]) == 16
    assert rec.metrics["detection_auc_mean_unseen"] is not None
    assert "val" in rec.selection_rule and len(rec.training["history_"]) == 2


def test_frozen_parts_are_encoded_once(toy_bench, tiny_backbone, tmp_path, monkeypatch) -> None:
    from dfad_bench.backbones.factory import Backbone

    calls = {"clip": 0}
    original = Backbone.encode_uint8

    def counting(self, images, batch_size=256):
        calls["clip"] += len(images)
        return original(self, images, batch_size)

    monkeypatch.setattr(Backbone, "encode_uint8", counting)
    StubGaze.encoded = 0
    rec, _ = _run(toy_bench, tiny_backbone, tmp_path / "a", gie=False, epochs=2)
    n_images = sum(rec.split_counts[r] for r in ("train", "val", "test"))
    assert calls["clip"] == n_images and StubGaze.encoded == n_images  # once per image, not per epoch
    _run(toy_bench, tiny_backbone, tmp_path / "b", gie=False, lre=False, epochs=1)
    assert calls["clip"] == n_images and StubGaze.encoded == n_images  # a second run reuses the caches


def test_same_seed_gives_identical_predictions(toy_bench, tiny_backbone, default_run, tmp_path) -> None:
    _, again = _run(toy_bench, tiny_backbone, tmp_path)
    again = pd.read_parquet(again / "predictions.parquet")
    base = default_run[1]
    cols = [c for c in base.columns if c.startswith("prob_")] + ["fake_score"]
    assert np.array_equal(again[cols].to_numpy(float), base[cols].to_numpy(float))
    assert np.array_equal(np.stack(again["embedding"]), np.stack(base["embedding"]))


def test_resume_from_checkpoint_matches_uninterrupted(toy_bench, tiny_backbone, default_run, tmp_path,
                                                      interrupted_after_checkpoint) -> None:
    with interrupted_after_checkpoint():
        _run(toy_bench, tiny_backbone, tmp_path)
    assert not list(tmp_path.glob("unseen-flow/**/record.json"))
    resumed, _ = _run(toy_bench, tiny_backbone, tmp_path)
    assert [h["epoch"] for h in resumed.training["history_"]] == [1, 2]
    full = default_run[0]  # the same configuration, never interrupted
    assert resumed.metrics == full.metrics
    assert resumed.training["history_"][0]["val_score"] == full.training["history_"][0]["val_score"]


# ----------------------------------------------------------------------------- real gaze encoders
def _run_with_gaze(gaze: str, toy_bench: Path, tiny_backbone: str, tmp_path: Path) -> None:
    rec, run_dir = _run(toy_bench, tiny_backbone, tmp_path, epochs=1, gaze=gaze)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert rec.model_config["gaze"] == gaze and rec.metrics["detection_auc_mean_unseen"] is not None
    assert np.isfinite(preds["fake_score"].to_numpy()).all()
    assert rec.training["parameter_counts_"]["total"] > 0


@pytest.mark.parametrize("gaze", ["gaze-mini", "landmark"])
def test_runs_with_the_committed_or_installed_gaze_encoders(gaze, toy_bench, tiny_backbone, tmp_path) -> None:
    """gaze-mini (committed weights) and landmark (mediapipe's face mesh, shipped in its wheel)."""
    _run_with_gaze(gaze, toy_bench, tiny_backbone, tmp_path)


@pytest.mark.assets
def test_runs_with_eth_xgaze_even_where_no_face_is_found(toy_bench, tiny_backbone, tmp_path, monkeypatch) -> None:
    """The real-data gaze encoder (MTCNN + ETH-XGaze ResNet): on 32 px toy images it finds no
    face, so every gaze is flagged invalid; the adapter must still train and predict."""
    from test_perception_eth_xgaze import asset_folder

    from dfad_bench.perception.assets import prefetch_assets

    monkeypatch.setenv("DFAD_BENCH_ASSETS", str(prefetch_assets(asset_folder())))
    _run_with_gaze("eth-xgaze", toy_bench, tiny_backbone, tmp_path)
