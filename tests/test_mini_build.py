"""DFAD-Mini build: canonical file format, manipulations, manifest, provenance, cache checks.

Generators are stubbed (no trained weights needed); the real ones are exercised by the
generator zoo's own tests and by the full build.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, PngImagePlugin

from dfad_bench.errors import DfadError
from dfad_bench.manifest import load_manifest
from dfad_bench.mini.build import MiniBuildConfig, build_mini, check_mini_build
from dfad_bench.mini.finalize import decode_image, finalize_image, png_chunk_types
from dfad_bench.mini.manipulations import MASK_SCALE_RANGE, eye_edit, eye_mask, face_swap, inner_face_mask
from dfad_bench.mini.renderer import render_training_set

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
    assert real["identity"].nunique() == 6 and real["identity"].str.startswith("mini-id-").all()
    assert not real[["gaze_pitch", "gaze_yaw", "gaze_left_yaw", "head_yaw"]].isna().any().any()
    assert real["caption"].str.startswith("a photo of").all()
    fakes = df[df["generator"] != "real"]
    assert fakes[["gaze_pitch", "gaze_yaw", "gaze_right_pitch"]].isna().all().all()
    efs = fakes[fakes["forgery_type"] == "efs"]
    assert efs["identity"].str.startswith("efs:").all() and efs["source_id"].isna().all()
    manip = fakes[fakes["forgery_type"].isin(["fs", "am"])]
    sources = df.set_index("sample_id").loc[manip["source_id"]]
    assert (sources["generator"] == "real").all()
    assert (sources["identity"].to_numpy() == manip["identity"].to_numpy()).all()
    assert set(manip.loc[manip["generator"] == "mini-swap", "donor_id"].str.slice(0, 11)) == {"mini-resgan"}
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
