"""Backbones: name parsing, strict local loading, offline hub failure, encoding, fingerprints, clip-mini."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from safetensors.torch import save_file

from dfad_bench.backbones import BackboneSpec, create_backbone, parse_backbone_name
from dfad_bench.backbones.spec import PROJECT_BACKBONES
from dfad_bench.errors import DfadError

TINY = "dfad-test-tiny"
TINY_WIDE = "dfad-test-tiny-wide"


def _cfg(width: int) -> dict:
    return {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": width, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }


@pytest.fixture(scope="module")
def tiny_archs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("configs")
    (folder / f"{TINY}.json").write_text(json.dumps(_cfg(32)))
    (folder / f"{TINY_WIDE}.json").write_text(json.dumps(_cfg(48)))
    open_clip.add_model_config(folder)
    return folder


def _model(arch: str = TINY, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return open_clip.create_model(arch, **kwargs).eval()


def _save(model: torch.nn.Module, path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- names
def test_parse_hub_tags() -> None:
    assert parse_backbone_name("ViT-B-16:openai") == BackboneSpec("ViT-B-16", "openai", "hub")
    assert parse_backbone_name("ViT-L-14:laion2b_s32b_b82k") == BackboneSpec("ViT-L-14", "laion2b_s32b_b82k", "hub")
    # open_clip's tag normalisation (case, '-' -> '_')
    assert parse_backbone_name(" ViT-B-16:LAION2B-S34B-B88K ").weights == "laion2b_s34b_b88k"
    assert parse_backbone_name("ViT-B-16:openai").name == "ViT-B-16:openai"


def test_unknown_tag_and_arch_suggest_close_matches() -> None:
    with pytest.raises(DfadError, match="did you mean openai"):
        parse_backbone_name("ViT-B-16:opena1")
    with pytest.raises(DfadError, match="did you mean ViT-B-16"):
        parse_backbone_name("ViT-B-61:openai")
    with pytest.raises(DfadError, match="no weights given"):
        parse_backbone_name("ViT-B-16")
    with pytest.raises(DfadError, match="unknown architecture"):
        parse_backbone_name("not-a-model")


def test_parse_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = tmp_path / "weights.safetensors"
    w.write_bytes(b"x")
    spec = parse_backbone_name(f"ViT-B-16:{w}")
    assert spec == BackboneSpec("ViT-B-16", str(w.resolve()), "local")
    assert parse_backbone_name(spec.name) == spec
    monkeypatch.chdir(tmp_path)
    assert parse_backbone_name("ViT-B-16:weights.safetensors").source == "local"  # suffix marks a file
    # a path-like weights part is never read as a tag, even when it spells one
    with pytest.raises(DfadError, match="weights file not found: .*openai"):
        parse_backbone_name("ViT-B-16:./openai")
    (tmp_path / "openai").write_bytes(b"x")
    assert parse_backbone_name("ViT-B-16:openai").source == "hub"  # and a bare tag is never a file
    with pytest.raises(DfadError, match=r"missing\.pt"):
        parse_backbone_name("ViT-B-16:/nowhere/missing.pt")


def test_parse_project_backbone(tmp_path: Path) -> None:
    spec = parse_backbone_name("clip-mini")
    assert spec.source == "project" and spec.arch == "clip-mini" and spec.name == "clip-mini"
    assert Path(spec.weights) == PROJECT_BACKBONES["clip-mini"].weights
    w = tmp_path / "other.safetensors"
    w.write_bytes(b"x")
    assert parse_backbone_name(f"clip-mini:{w}") == BackboneSpec("clip-mini", str(w.resolve()), "local")
    with pytest.raises(DfadError, match="no hub tags"):
        parse_backbone_name("clip-mini:openai")


# ----------------------------------------------------------------------------- offline hub
@pytest.mark.parametrize("mode", ["HF_HUB_OFFLINE", "unreachable-endpoint"])
def test_hub_weights_offline_fail_fast(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # nothing cached
    monkeypatch.setenv("HOME", str(tmp_path))  # nor in open_clip's ~/.cache/clip
    if mode != "HF_HUB_OFFLINE":
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    start = time.perf_counter()
    with pytest.raises(DfadError) as err:
        create_backbone("ViT-B-16:openai")
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"offline failure took {elapsed:.1f}s"  # a bound: open_clip alone retries 23-46 s
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("backbone ViT-B-16:openai: weights are not in the local cache and the hub cannot be reached")
    assert "ViT-B-16:/path/file.safetensors" in msg


def test_hub_tag_loads_from_local_hf_cache(tiny_archs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached hub file loads with no network, with the tag's preprocessing and activation."""
    import huggingface_hub.constants as hf_constants
    from open_clip import pretrained

    cache = tmp_path / "hf"
    snap = cache / "models--dfad-test--tiny" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (cache / "models--dfad-test--tiny" / "refs").mkdir()
    (cache / "models--dfad-test--tiny" / "refs" / "main").write_text("a" * 40)
    reference = _model(TINY, seed=3, force_quick_gelu=True)
    _save(reference, snap / "open_clip_model.safetensors")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    tag_cfg = pretrained._pcfg(hf_hub="dfad-test/tiny/", quick_gelu=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    monkeypatch.setitem(pretrained._PRETRAINED, TINY, {"tinytag": tag_cfg})

    bb = create_backbone(f"{TINY}:tinytag")
    assert bb.spec.source == "hub" and bb.mean == (0.5, 0.5, 0.5) and bb.std == (0.25, 0.25, 0.25)
    assert bb.fingerprint.startswith(f"{TINY}|tag=tinytag|open_clip={open_clip.__version__}")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = reference.encode_image(bb.preprocess(x), normalize=True)
        assert torch.equal(bb.encode_images(x), expected)  # QuickGELU built as the tag says


# ----------------------------------------------------------------------------- local weights
def test_local_checkpoint_round_trip(tiny_archs: Path, tmp_path: Path) -> None:
    ref = _model(seed=1)
    x = torch.rand(3, 3, 32, 32)
    texts = ["a photo of a face", "looking to the left"]
    for path in (_save(ref, tmp_path / "tiny.safetensors"), tmp_path / "tiny.pt"):
        if path.suffix == ".pt":
            torch.save(ref.state_dict(), path)
        bb = create_backbone(f"{TINY}:{path}")
        loaded = bb.model.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in ref.state_dict().items())
        with torch.no_grad():
            assert torch.equal(bb.model.encode_image(bb.preprocess(x)), ref.encode_image(bb.preprocess(x)))
            # text: same weights; MultiheadAttention may pick another kernel for frozen params (last-bit noise)
            expected = ref.encode_text(open_clip.get_tokenizer(TINY)(texts), normalize=True)
            torch.testing.assert_close(bb.encode_text(texts), expected, rtol=0, atol=1e-6)


def test_strict_loading_reports_keys(tiny_archs: Path, tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in _model().state_dict().items()}
    missing = dict(state)
    missing.pop("visual.proj")
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(DfadError, match=r"missing keys 1 \[visual.proj\]"):
        create_backbone(f"{TINY}:{tmp_path / 'missing.safetensors'}")
    extra = {**state, "head.weight": torch.zeros(2)}
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(DfadError, match=r"unexpected keys 1 \[head.weight\]"):
        create_backbone(f"{TINY}:{tmp_path / 'extra.safetensors'}")
    _save(_model(TINY_WIDE), tmp_path / "wide.safetensors")
    with pytest.raises(DfadError, match="does not fit the architecture"):
        create_backbone(f"{TINY}:{tmp_path / 'wide.safetensors'}")
    (tmp_path / "garbage.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DfadError, match="cannot read weights file"):
        create_backbone(f"{TINY}:{tmp_path / 'garbage.safetensors'}")


def test_missing_project_weights_names_file_and_command(tmp_path: Path) -> None:
    spec = BackboneSpec("clip-mini", str(tmp_path / "clip-mini.safetensors"), "project")
    with pytest.raises(DfadError, match=r"clip-mini\.safetensors.*python -m dfad_mini\.clip_pretrain"):
        create_backbone(spec)


# ----------------------------------------------------------------------------- encoding
@pytest.fixture
def tiny_backbone(tiny_archs: Path, tmp_path: Path):
    return create_backbone(f"{TINY}:{_save(_model(seed=2), tmp_path / 'tiny.safetensors')}")


def test_encode_shapes_normalisation_and_frozen(tiny_backbone) -> None:
    bb = tiny_backbone
    assert not bb.model.training and not any(p.requires_grad for p in bb.model.parameters())
    assert (bb.image_size, bb.embed_dim, bb.width) == (32, 16, 32)
    for shape in [(4, 3, 32, 32), (4, 3, 64, 48), (1, 3, 17, 20)]:
        emb = bb.encode_images(torch.rand(*shape))
        assert emb.shape == (shape[0], 16)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(shape[0]))
    txt = bb.encode_text(["a", "b c", "looking up"])
    assert txt.shape == (3, 16)
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(3))
    arr = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    as_float = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(bb.preprocess_uint8(arr), bb.preprocess(as_float))
    assert bb.encode_uint8(arr).shape == (2, 16)
    with pytest.raises(DfadError, match="preprocess_uint8"):
        bb.encode_images(torch.from_numpy(arr).permute(0, 3, 1, 2))
    rec = bb.record()
    assert rec["preprocess"]["size"] == 32 and rec["preprocess"]["mean"] == list(bb.mean)
    assert create_backbone(bb.name, trainable=True).model.visual.proj.requires_grad


def test_visual_tokens_and_prompt_tuning(tiny_backbone) -> None:
    bb = tiny_backbone
    x = torch.rand(2, 3, 32, 32)
    assert bb.visual_tokens(x).shape == (2, 1 + 4 * 4, 32)
    torch.testing.assert_close(bb.encode_images_with_prompts(x, torch.zeros(0, 32)), bb.encode_images(x))
    prompts = torch.zeros(3, 32, requires_grad=True)
    out = bb.encode_images_with_prompts(x, prompts)
    assert out.shape == (2, 16) and not torch.allclose(out, bb.encode_images(x))
    out.sum().backward()
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0  # prompts learn through the frozen tower
    assert all(p.grad is None for p in bb.model.parameters())
    deep = torch.randn(2, 3, 32)  # depth == 2 blocks
    assert bb.encode_images_with_prompts(x, deep, deep=True).shape == (2, 16)
    with pytest.raises(DfadError, match="depth"):
        bb.encode_images_with_prompts(x, torch.randn(5, 3, 32), deep=True)
    tokens = bb.tokenize(["a photo of a face"])
    torch.testing.assert_close(
        bb.encode_text_embeddings(bb.token_embeddings(tokens), tokens), bb.model.encode_text(tokens, normalize=True)
    )


def test_fingerprint_stable_and_content_based(tiny_archs: Path, tmp_path: Path) -> None:
    a = _save(_model(seed=4), tmp_path / "a.safetensors")
    copy = tmp_path / "sub" / "copy.safetensors"
    copy.parent.mkdir()
    copy.write_bytes(a.read_bytes())
    other = _save(_model(seed=5), tmp_path / "b.safetensors")
    fa = create_backbone(f"{TINY}:{a}").fingerprint
    assert fa == create_backbone(f"{TINY}:{a}").fingerprint
    assert fa == create_backbone(f"{TINY}:{copy}").fingerprint  # same bytes, another path
    assert fa != create_backbone(f"{TINY}:{other}").fingerprint
    assert fa.startswith(f"{TINY}|sha256=") and f"open_clip={open_clip.__version__}" in fa
    # preprocessing that changes the features changes the fingerprint (sidecar mean/std)
    a.with_suffix(".json").write_text(json.dumps({"preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}))
    fb = create_backbone(f"{TINY}:{a}")
    assert fb.mean == (0.5, 0.5, 0.5) and fb.fingerprint != fa


# ----------------------------------------------------------------------------- clip-mini
def test_clip_mini_pretrain_smoke_and_resume(tmp_path: Path) -> None:
    from dfad_mini.clip_pretrain import pretrain_clip_mini

    kw = dict(device="cpu", batch_size=8, out_dir=tmp_path / "out", work_dir=tmp_path / "work",
              n_train=40, eval_n=16, data="random", checkpoint_every=50)
    first = pretrain_clip_mini(steps=2, **kw)
    assert first["steps"] == 2 and first["size_bytes"] <= 12 * 2**20
    second = pretrain_clip_mini(steps=3, **kw)  # resumes from the checkpoint of the first run
    assert second["steps"] == 3 and len(second["loss_curve"]) >= 1
    assert set(second["retrieval"]) >= {"image_to_caption_top1", "image_to_caption_top5", "zero_shot_gaze_left_right"}
    weights = tmp_path / "out" / "clip-mini.safetensors"
    bb = create_backbone(f"clip-mini:{weights}")
    assert bb.image_size == 64 and bb.embed_dim == 128
    assert bb.encode_uint8(np.zeros((2, 64, 64, 3), np.uint8)).shape == (2, 128)


def test_render_cache_round_trip_loads_without_pickle(tmp_path: Path) -> None:
    """A resumed pretraining run reloads its renders from the work folder (allow_pickle=False)."""
    from dfad_mini.clip_pretrain import _cached_data, build_text_table

    first = _cached_data(tmp_path, 3, 5, "render", workers=1)
    again = _cached_data(tmp_path, 3, 5, "render", workers=1)
    assert np.array_equal(first.images, again.images) and first.captions == again.captions
    assert list(first.attributes["sex"]) == list(again.attributes["sex"])
    texts, cap_ids, swaps = build_text_table(first.captions, hard_negatives=True)
    assert [texts[i] for i in cap_ids] == first.captions
    for cid in cap_ids:  # every swap is a different text: a genuine negative
        assert all(texts[j] != texts[cid] for j in swaps[cid] if j >= 0)
        assert (swaps[cid] >= 0).sum() >= 2  # glasses and sex always apply


def test_shipped_clip_mini_matches_its_sidecar() -> None:
    project = PROJECT_BACKBONES["clip-mini"]
    if not project.weights.is_file():
        pytest.skip(f"{project.weights} not trained yet")
    sidecar = json.loads(project.weights.with_suffix(".json").read_text())
    bb = create_backbone("clip-mini")
    assert bb.weights_sha256 == sidecar["sha256"]  # the file is the one the numbers were measured on
    assert (bb.mean, bb.std) == (tuple(sidecar["preprocess_cfg"]["mean"]), tuple(sidecar["preprocess_cfg"]["std"]))
    assert sidecar["size_bytes"] <= 12 * 2**20 and sidecar["data"]["kind"] == "render"
