"""DFAD-Mini build: canonical file format, manipulations, manifest, provenance, cache checks.

Generators are stubbed (no trained weights needed); the real ones are exercised by the
generator zoo's own tests and by the full build.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, PngImagePlugin

from dfad_bench.errors import DfadError
from dfad_bench.manifest import load_manifest
from dfad_mini.build import (
    BUILD_CODE_VERSION,
    EXPECTED_BUILD_FILE,
    MINI_NAME,
    MiniBuildConfig,
    build_mini,
    check_mini_build,
    compare_with_pinned,
    pinned_samples_hash,
)
from dfad_mini.finalize import decode_image, finalize_image, png_chunk_types
from dfad_mini.manipulations import MASK_SCALE_RANGE, eye_edit, eye_mask, face_swap, inner_face_mask
from dfad_mini.renderer import render_training_set

TINY = {"n_identities": 6, "images_per_identity": 2, "fakes_per_generator": 4, "seed": 0}


class StubGenerator:
    """Stands in for a trained mini generator: blocky random faces, noisy SDEdit."""

    def __init__(self, name: str) -> None:
        self.name = name

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        base = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        return np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)

    def sdedit(self, images: np.ndarray, strength: float, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        noise = rng.integers(-60, 61, images.shape)
        return np.clip(images.astype(np.int64) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mini") / "mini-test"
    return build_mini(root, loader=StubGenerator, workers=1, **TINY)


def _cfg() -> MiniBuildConfig:
    return MiniBuildConfig(**TINY, loader="custom")


# ----------------------------------------------------------------------------- finalize


def test_finalize_same_header_and_chunks_for_any_content() -> None:
    renders = render_training_set(2, seed=3).images
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    flat = np.full((64, 64, 3), 128, dtype=np.uint8)
    files = [finalize_image(x) for x in (*renders, noise, flat)]
    assert len({f[:33] for f in files}) == 1  # signature + IHDR (size, depth, colour type, ...)
    assert all(png_chunk_types(f) == ["IHDR", "IDAT", "IEND"] for f in files)
    assert len({len(f) for f in files}) > 1  # only the compressed pixels differ
    assert np.array_equal(decode_image(files[2]), noise)
    assert finalize_image(noise) == files[2]  # deterministic bytes


@pytest.mark.parametrize("bad", [np.zeros((64, 64, 4), np.uint8), np.zeros((32, 32, 3), np.uint8),
                                 np.zeros((64, 64, 3), np.float32)])
def test_finalize_refuses_other_formats(bad: np.ndarray) -> None:
    with pytest.raises(DfadError, match="expected a uint8 array"):
        finalize_image(bad)


# ----------------------------------------------------------------------------- manipulations


def test_face_swap_changes_only_the_inner_face() -> None:
    rng = np.random.default_rng(0)
    targets = render_training_set(3, seed=5).images
    donors = StubGenerator("d").sample(3, seed=1)
    out = face_swap(targets, donors, rng)
    outside = inner_face_mask(1, scale=MASK_SCALE_RANGE[1])[0] == 0
    assert np.array_equal(out[:, outside], targets[:, outside])
    assert np.abs(out[:, 34, 31].astype(int) - targets[:, 34, 31]).sum() > 0
    # Colour transfer: the pasted region has the target's mean colour, not the donor's.
    inside = inner_face_mask(1)[0] > 0.99
    assert np.abs(out[:, inside].mean((0, 1)) - targets[:, inside].mean((0, 1))).max() < 12


def test_eye_edit_changes_only_the_eyes() -> None:
    images = render_training_set(2, seed=6)
    eyes = images.params[["eye_left_x", "eye_left_y", "eye_right_x", "eye_right_y"]].to_numpy().reshape(2, 2, 2)
    out = eye_edit(images.images, StubGenerator("ddpm").sdedit, np.random.default_rng(0), eye_centres=eyes)
    mask = eye_mask(2, eyes)
    assert np.array_equal(out[mask == 0], images.images[mask == 0])
    assert (out[mask == 1] != images.images[mask == 1]).mean() > 0.5


# ----------------------------------------------------------------------------- build


def test_build_writes_a_valid_manifest(built: Path) -> None:
    manifest = load_manifest(built, check_files=True)
    df = manifest.table
    counts = df["generator"].value_counts().to_dict()
    assert counts.pop("real") == 12
    assert len(counts) == 8 and set(counts.values()) == {4}
    real = df[df["generator"] == "real"]
    assert real["identity"].nunique() == 6
    assert not real[["gaze_pitch", "gaze_yaw", "gaze_left_yaw", "head_yaw"]].isna().any().any()
    assert real["caption"].str.startswith("a photo of").all()
    fakes = df[df["generator"] != "real"]
    assert fakes[["gaze_pitch", "gaze_yaw", "gaze_right_pitch"]].isna().all().all()
    efs = fakes[fakes["forgery_type"] == "efs"]
    assert efs["identity"].is_unique and not set(efs["identity"]) & set(real["identity"]) and efs["source_id"].isna().all()
    manip = fakes[fakes["forgery_type"].isin(["fs", "am"])]
    sources = df.set_index("sample_id").loc[manip["source_id"]]
    assert (sources["generator"] == "real").all()
    assert (sources["identity"].to_numpy() == manip["identity"].to_numpy()).all()
    assert "donor_id" not in df.columns  # it spelled the donor's generator
    assert (df["build_version"] == f"{MINI_NAME}/{BUILD_CODE_VERSION}").all()
    assert df["generator_weights"].isna().all()  # a custom loader: no committed weights made these
    for rel, digest in df[["path", "content_hash"]].itertuples(index=False):
        data = (built.parent / rel).read_bytes()
        assert png_chunk_types(data) == ["IHDR", "IDAT", "IEND"]
        import hashlib

        assert hashlib.sha256(data).hexdigest() == digest
    meta = json.loads((built.parent / "build.json").read_text())
    assert meta["manifest_hash"] == manifest.hash and meta["seed"] == 0 and meta["counts"]["real"] == 12
    # seconds per stage: rendering, every generator (manipulations included), writing
    assert set(meta["stage_seconds"]) == {"render", "write"} | (set(meta["counts"]) - {"real"})
    assert all(v >= 0 for v in meta["stage_seconds"].values())
    assert check_mini_build(built.parent, _cfg(), full=True) is None


def test_names_carry_no_label(built: Path) -> None:
    """Sample ids, paths, identities and source ids are label-free; index order interleaves all
    generators. Control: the mini-v2 names (generator in id and folder) fail the same check."""
    df = pd.read_parquet(built)
    generators = set(df["generator"]) | {"efs", "fs", "am", "real", "mini", "swap", "edit"} | set(df["family"])

    def spells_a_label(text: str) -> bool:
        return any(g in text for g in generators if g)

    for col in ("sample_id", "path", "identity", "source_id"):
        assert not any(spells_a_label(v) for v in df[col].dropna()), col
    assert df["sample_id"].str.fullmatch(r"m3-\d{6}").all()
    assert (df["path"] == "images/" + df["sample_id"].str.slice(3) + ".png").all()
    assert df["identity"].str.fullmatch(r"id-\d{5}").all()
    # one shuffle over all samples: indices run 0..N-1 and no generator owns a contiguous block
    order = df.sort_values("sample_id")["generator"].to_numpy()
    assert sorted(int(i[3:]) for i in df["sample_id"]) == list(range(len(df)))
    runs = 1 + int((order[1:] != order[:-1]).sum())
    assert runs > len(df) // 2  # 8 blocks if ids were grouped by generator
    assert spells_a_label("images/mini-fm-dit/mini-fm-dit-000481.png") and spells_a_label("efs:mini-ddpm:000001")


def test_build_is_deterministic(built: Path, tmp_path: Path) -> None:
    again = build_mini(tmp_path / "again", loader=StubGenerator, workers=1, **TINY)
    a, b = pd.read_parquet(built), pd.read_parquet(again)
    assert a["content_hash"].tolist() == b["content_hash"].tolist()


def _features(data: bytes) -> tuple:
    """Everything about a file except its pixels and size: header bytes, chunk list, PIL metadata."""
    with Image.open(io.BytesIO(data)) as im:
        info = tuple(sorted((k, str(v)) for k, v in im.info.items()))
        return (data[:33], tuple(png_chunk_types(data)), im.format, im.mode, im.size, info)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney statistic (ties count one half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))


def _format_only_auc(files: list[bytes], labels: np.ndarray, folds: int = 4) -> float:
    """Mean per-fold AUC (stratified folds) of the best possible classifier on format/metadata
    features alone. The features are discrete, so the optimal rule is a lookup table: score a
    test file by the fraction of fakes among training files with the same feature vector
    (the training prior if the vector is unseen)."""
    keys = [_features(f) for f in files]
    fold = np.empty(len(files), dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        fold[idx] = np.arange(len(idx)) % folds
    aucs = []
    for k in range(folds):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        table: dict[tuple, list[int]] = {}
        for i in train:
            table.setdefault(keys[i], []).append(int(labels[i]))
        prior = float(labels[train].mean())
        scores = np.array([float(np.mean(table[keys[i]])) if keys[i] in table else prior for i in test])
        aucs.append(_auc(labels[test], scores))
    return float(np.mean(aucs))


def test_format_only_classifier_is_at_chance(built: Path) -> None:
    df = pd.read_parquet(built)
    files = [(built.parent / rel).read_bytes() for rel in df["path"]]
    labels = (df["generator"] != "real").to_numpy().astype(int)
    assert len({_features(f) for f in files}) == 1  # no format feature differs between any two files
    assert _format_only_auc(files, labels) == 0.5
    # Control: had the fakes been saved another way (a text chunk, another zlib level), the same
    # classifier would separate them, so the check above can fail.
    altered = []
    for f, y in zip(files, labels, strict=True):
        if y:
            info = PngImagePlugin.PngInfo()
            info.add_text("Software", "generator")
            buf = io.BytesIO()
            decoded = Image.fromarray(decode_image(f))
            decoded.save(buf, format="PNG", pnginfo=info, compress_level=9)
            f = buf.getvalue()
        altered.append(f)
    assert _format_only_auc(altered, labels) > 0.95


def test_corrupted_cache_is_detected_and_rebuilt(built: Path, tmp_path: Path) -> None:
    root = tmp_path / "mini"
    manifest = build_mini(root, loader=StubGenerator, workers=1, **TINY)
    meta_mtime = os.stat(root / "build.json").st_mtime_ns
    assert build_mini(root, loader=StubGenerator, workers=1, **TINY) == manifest
    assert os.stat(root / "build.json").st_mtime_ns == meta_mtime  # reused, not rebuilt
    df = pd.read_parquet(manifest)
    victim = root / df["path"].iloc[3]
    good = victim.read_bytes()
    bad = bytearray(good)
    bad[-20] ^= 0xFF  # same size, different bytes
    victim.write_bytes(bytes(bad))
    assert "does not match its content_hash" in check_mini_build(root, _cfg(), full=True)
    build_mini(root, loader=StubGenerator, workers=1, **TINY)
    assert victim.read_bytes() == good
    assert check_mini_build(root, _cfg(), full=True) is None
    victim.unlink()
    assert "missing" in check_mini_build(root, _cfg())
    other = MiniBuildConfig(**{**TINY, "seed": 1}, loader="custom")
    assert "another config" in check_mini_build(built.parent, other)
    (root / "manifest.parquet").write_bytes(b"garbage")
    assert check_mini_build(root, _cfg()) is not None


class OneLevelOff(StubGenerator):
    """The stub's images with one pixel one level brighter: what another CPU's float rounding does."""

    def sample(self, n: int, seed: int) -> np.ndarray:
        out = super().sample(n, seed)
        out[0, 0, 0, 0] = out[0, 0, 0, 0] + 1 if out[0, 0, 0, 0] < 255 else 254
        return out


def test_pixel_rounding_changes_the_manifest_hash_but_not_the_samples_hash(built: Path, tmp_path: Path) -> None:
    other = build_mini(tmp_path / "mini-other-cpu", loader=OneLevelOff, workers=1, **TINY)
    a, b = load_manifest(built), load_manifest(other)
    assert a.hash != b.hash  # some content_hash differs
    assert a.samples_hash == b.samples_hash  # same samples, labels and hence splits


# ----------------------------------------------------------------------------- pinned samples hash

#: The reduced build pinned beside the weights (expected_build.json): every generator, committed weights.
REDUCED = {"n_identities": 8, "images_per_identity": 2, "fakes_per_generator": 6, "seed": 0}


def test_reduced_build_with_the_committed_weights_has_the_pinned_samples_hash(tmp_path: Path) -> None:
    """What a fresh clone on another machine checks: the build reproduces the pinned samples hash."""
    manifest = build_mini(tmp_path / "reduced", workers=1, **REDUCED)
    pinned = pinned_samples_hash(MiniBuildConfig(**REDUCED))
    assert pinned is not None, f"no reduced build pinned in {EXPECTED_BUILD_FILE}"
    got = compare_with_pinned(manifest)
    assert got.actual == pinned and got.matches, got.message()
    assert "matches the pinned" in got.message()
    df = pd.read_parquet(manifest)
    assert df.loc[df["generator"] != "real", "generator_weights"].str.fullmatch(r"[0-9a-f]{16}").all()
    meta = json.loads((manifest.parent / "build.json").read_text())
    assert meta["samples_hash"] == pinned


def test_the_default_build_is_pinned_too() -> None:
    pinned = json.loads(EXPECTED_BUILD_FILE.read_text())
    assert pinned["name"] == MINI_NAME and pinned["code_version"] == BUILD_CODE_VERSION
    default = pinned_samples_hash(MiniBuildConfig())
    assert default is not None and len(default) == 64
    entry = next(b for b in pinned["builds"] if b["config"] == asdict(MiniBuildConfig()))
    assert sum(entry["counts"].values()) == 300 * 10 + 8 * 500


def test_a_different_build_is_reported_plainly(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mini check exits 1 and says expected X, got Y and what it means; a match says ok."""
    from typer.testing import CliRunner

    import dfad_mini.build as mb
    from dfad_bench.cli import app

    actual = compare_with_pinned(built).actual
    pin = tmp_path / "expected_build.json"
    monkeypatch.setattr(mb, "EXPECTED_BUILD_FILE", pin)
    monkeypatch.setattr(mb, "mini_root", lambda: built.parent)
    monkeypatch.setattr(mb, "check_mini_build", lambda root, cfg=None, full=False: None)

    def write_pin(samples: str) -> None:
        pin.write_text(json.dumps({"name": MINI_NAME, "code_version": BUILD_CODE_VERSION,
                                   "builds": [{"config": asdict(_cfg()), "samples_hash": samples}]}))

    write_pin("0" * 64)
    result = CliRunner().invoke(app, ["mini", "check"])
    assert result.exit_code == 1
    assert f"expected {'0' * 12}" in result.output and f"got {actual[:12]}" in result.output
    assert "board of their own" in result.output
    write_pin(actual)
    result = CliRunner().invoke(app, ["mini", "check"])
    assert result.exit_code == 0 and "matches the pinned" in result.output, result.output
    pin.unlink()
    assert "no mini-v3 build with this config is pinned" in compare_with_pinned(built).message()
