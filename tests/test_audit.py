"""Shortcut audit: flags a JPEG-vs-PNG benchmark, stays quiet on a class-independent mix."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dfad_bench.audit import AUDIT_THRESHOLD, audit_shortcuts, audit_warning
from dfad_bench.audit import jpeg as J
from dfad_bench.audit.features import FEATURE_NAMES, GROUPS, image_features
from dfad_bench.audit.shortcuts import verdict_line
from dfad_bench.cli import main
from dfad_bench.errors import DfadError
from dfad_bench.manifest import load_manifest
from dfad_bench.testing import toy_manifest

PROTOCOL = "unseen-flow"
FILE_GROUPS = ("container", "compression")


def _content(rng: np.random.Generator, size: int = 48) -> Image.Image:
    """Smooth random colour field plus mild noise: one distribution for real and fake alike."""
    coarse = Image.fromarray(rng.integers(30, 226, size=(4, 4, 3), dtype=np.uint8)).resize((size, size), Image.BILINEAR)
    arr = np.asarray(coarse, dtype=np.float64) + rng.normal(0, 4, size=(size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _write_bench(root: Path, encode, size: int = 48) -> Path:
    """A toy manifest whose images share one content distribution; ``encode(rng, is_real)`` ->
    (format, quality or None) decides how each file is stored; format "PNG-after-JPEG" is a
    JPEG round trip at that quality stored as PNG (DFAD-Mini v2's pristine pipeline)."""
    table = toy_manifest(n_identities=150, images_per_identity=2, fakes_per_generator=30, seed=0)
    rng = np.random.default_rng(1)
    paths = []
    for sid, fam in table[["sample_id", "family"]].itertuples(index=False):
        img = _content(rng, size)
        fmt, quality = encode(rng, fam == "real")
        if fmt == "PNG-after-JPEG":
            img = Image.open(io.BytesIO(_jpeg_bytes(img, quality))).convert("RGB")
            fmt, quality = "PNG", None
        rel = f"images/{sid}.{'jpg' if fmt == 'JPEG' else 'png'}"
        (root / "images").mkdir(parents=True, exist_ok=True)
        img.save(root / rel, format=fmt, **({"quality": quality} if quality else {}))
        paths.append(rel)
    table["path"] = paths
    path = root / "manifest.csv"
    table.to_csv(path, index=False)
    return path


def _jpeg_real_png_fake(rng, is_real):
    return ("JPEG", int(rng.integers(70, 96))) if is_real else ("PNG", None)


def _same_mix(rng, is_real):  # independent of the class
    return ("JPEG", int(rng.integers(60, 96))) if rng.random() < 0.5 else ("PNG", None)


@pytest.fixture(scope="module")
def shortcut_bench(tmp_path_factory) -> Path:
    return _write_bench(tmp_path_factory.mktemp("shortcut"), _jpeg_real_png_fake)


@pytest.fixture(scope="module")
def mixed_bench(tmp_path_factory) -> Path:
    return _write_bench(tmp_path_factory.mktemp("mixed"), _same_mix)


def test_flags_jpeg_real_png_fake(shortcut_bench, tmp_path, capsys):
    out = tmp_path / "report"
    main(["audit", "shortcuts", "--benchmark", str(shortcut_bench), "--protocol", PROTOCOL, "--output", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{PROTOCOL}@1: SHORTCUT")
    result = json.loads((out / "audit.json").read_text())
    (row,) = result["protocols"]
    for g in FILE_GROUPS:
        assert row["groups"][g]["auc"] > 0.9
        assert all(v["auc"] > 0.9 for v in row["groups"][g]["per_generator"].values())
        lo, hi = row["groups"][g]["ci"]
        assert lo <= row["groups"][g]["auc"] <= hi
    assert set(row["flagged"]) == set(FILE_GROUPS)
    # same content distribution: the reference group has nothing to find
    assert row["groups"]["content"]["auc"] < 0.7
    # the report files exist, the JSON round-trips, the markdown carries the verdict
    assert {p.name for p in out.iterdir()} == {"audit.json", "audit.md", "audit.png"}
    assert json.loads(json.dumps(result)) == result
    assert f"| {PROTOCOL}@1 | " in (out / "audit.md").read_text() and "**SHORTCUT** (container, compression)" in (out / "audit.md").read_text()
    assert (out / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the cached result drives the warning boards and records show
    manifest = load_manifest(shortcut_bench)
    for key in (manifest, manifest.samples_hash):
        warning = audit_warning(key)
        assert warning is not None and "compression AUC" in warning and "\n" not in warning
    assert audit_warning(manifest, protocol=f"{PROTOCOL}@1") is not None


def test_quiet_on_class_independent_mix(mixed_bench, tmp_path):
    result = audit_shortcuts(str(mixed_bench), protocol=PROTOCOL, output=tmp_path / "r", n_bootstrap=200)
    (row,) = result["protocols"]
    for g in FILE_GROUPS:
        assert row["groups"][g]["auc"] <= 0.65, (g, row["groups"][g]["auc"])
    assert row["groups"]["container"]["auc"] <= AUDIT_THRESHOLD and row["groups"]["compression"]["auc"] <= AUDIT_THRESHOLD
    assert row["flagged"] == [] and ": ok (" in row["verdict"]
    assert not result["flagged"]
    assert audit_warning(load_manifest(mixed_bench)) is None
    # the mix really is there: about half of each class is JPEG
    jpeg = result["feature_summary"]["is_jpeg"]
    assert 0.35 < jpeg["real"] < 0.65 and 0.35 < jpeg["fake"] < 0.65


def test_flags_jpeg_history_inside_png_files(tmp_path):
    """Every file is a PNG of the same size and mode, but the reals went through a JPEG round
    trip first: the container group sees nothing, the compression group (pixel lattice) does."""
    bench = _write_bench(tmp_path / "bench", lambda rng, real: ("PNG-after-JPEG", int(rng.integers(70, 96))) if real else ("PNG", None), size=64)
    result = audit_shortcuts(str(bench), protocol=PROTOCOL, output=tmp_path / "r", n_bootstrap=100)
    (row,) = result["protocols"]
    assert row["groups"]["compression"]["auc"] > 0.9
    assert row["groups"]["container"]["auc"] <= 0.6
    assert row["flagged"] == ["compression"]
    assert result["feature_summary"]["pixel_quality"]["real"] < 95 < result["feature_summary"]["pixel_quality"]["fake"]


def test_no_audit_no_warning():
    assert audit_warning("0" * 64) is None


def _texture(size: int = 128, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    arr = np.asarray(coarse, dtype=np.float64) + rng.normal(0, 6, size=(size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.mark.parametrize("quality", [50, 75, 95])
def test_quality_from_file_tables(quality, tmp_path):
    data = _jpeg_bytes(_texture(), quality)
    with Image.open(io.BytesIO(data)) as img:
        assert abs(J.estimate_quality(img.quantization[0]) - quality) <= 5
        assert abs(J.estimate_quality(img.quantization[1], chroma=True) - quality) <= 5
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    row = dict(zip(FEATURE_NAMES, image_features(path), strict=True))
    assert row["is_jpeg"] == 1.0 and row["format_jpeg"] == 1.0
    assert abs(row["file_quality_luma"] - quality) <= 5


@pytest.mark.parametrize("size", [64, 128])  # 64: DFAD-Mini's size, only 64 blocks
@pytest.mark.parametrize("quality", [50, 75, 90])
def test_jpeg_history_seen_through_png(quality, size, tmp_path):
    """A JPEG round trip saved as PNG: the pixel lattice gives the quality back; a never-compressed PNG has none."""
    decoded = Image.open(io.BytesIO(_jpeg_bytes(_texture(size, seed=quality), quality))).convert("RGB")
    decoded.save(tmp_path / "history.png")
    _texture(size, seed=quality).save(tmp_path / "clean.png")
    hist = dict(zip(FEATURE_NAMES, image_features(tmp_path / "history.png"), strict=True))
    clean = dict(zip(FEATURE_NAMES, image_features(tmp_path / "clean.png"), strict=True))
    assert hist["is_jpeg"] == clean["is_jpeg"] == 0.0
    assert abs(hist["pixel_quality"] - quality) <= 5
    assert hist["pixel_lattice"] > 0.5 > 0.2 > clean["pixel_lattice"]
    assert clean["pixel_quality"] == 100.0


def test_double_compression_shows_older_quality(tmp_path):
    once = Image.open(io.BytesIO(_jpeg_bytes(_texture(seed=3), 60))).convert("RGB")
    (tmp_path / "double.jpg").write_bytes(_jpeg_bytes(once, 90))
    (tmp_path / "single.jpg").write_bytes(_jpeg_bytes(_texture(seed=3), 90))
    double = dict(zip(FEATURE_NAMES, image_features(tmp_path / "double.jpg"), strict=True))
    single = dict(zip(FEATURE_NAMES, image_features(tmp_path / "single.jpg"), strict=True))
    assert double["file_quality_luma"] == single["file_quality_luma"] == 90.0
    assert double["quality_gap"] > 20 > single["quality_gap"]
    assert double["double_compression"] > single["double_compression"]


def test_container_metadata(tmp_path):
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "Steps: 20, Sampler: Euler a")
    _texture().save(tmp_path / "meta.png", pnginfo=meta)
    _texture().save(tmp_path / "plain.png")
    with_meta = dict(zip(FEATURE_NAMES, image_features(tmp_path / "meta.png"), strict=True))
    plain = dict(zip(FEATURE_NAMES, image_features(tmp_path / "plain.png"), strict=True))
    assert with_meta["png_text_chunks"] == 1.0 and with_meta["png_text_bytes"] > 20 and plain["png_text_chunks"] == 0.0
    assert with_meta["width"] == 128.0 and with_meta["mode_rgb"] == 1.0


def test_groups_partition_features():
    names = [f for g in GROUPS for f in g.features]
    assert len(names) == len(set(names)) == len(FEATURE_NAMES)
    assert [g.name for g in GROUPS if g.thresholded] == list(FILE_GROUPS)
    assert "SHORTCUT" in verdict_line("p@1", {g: {"auc": 0.61} for g in FILE_GROUPS}, ["container"])


def test_bad_benchmark_path_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", "shortcuts", "--benchmark", str(tmp_path / "nope" / "manifest.parquet")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope/manifest.parquet" in err and "not found" in err


def test_unreadable_image_names_the_sample(tmp_path):
    table = toy_manifest(n_identities=4, fakes_per_generator=1)
    (tmp_path / "images").mkdir()
    for rel in table["path"]:
        (tmp_path / rel).write_bytes(b"not an image")
    pd.DataFrame(table).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(DfadError, match=r"sample_id '.*' \(.*\) cannot be read as an image"):
        audit_shortcuts(str(tmp_path / "manifest.csv"), protocol=PROTOCOL, output=tmp_path / "r")


def test_one_protocol_keeps_cached_others_and_skips_unsupported(tmp_path):
    """Auditing one protocol keeps the cached verdicts of the rest; a protocol the benchmark
    cannot support is listed as skipped, not fatal."""
    table = toy_manifest(n_identities=50, fakes_per_generator=15, seed=0)
    table = table[table["generator"].isin(["real", "toy-gan-a", "toy-gan-b", "toy-diff-a"])].reset_index(drop=True)
    rng = np.random.default_rng(2)
    (tmp_path / "images").mkdir()
    for rel in table["path"]:
        _content(rng, size=32).save(tmp_path / rel, format="PNG")
    table.to_csv(tmp_path / "manifest.csv", index=False)
    everything = audit_shortcuts(str(tmp_path / "manifest.csv"), output=tmp_path / "all", n_bootstrap=50)
    reasons = {s["protocol"]: s["reason"] for s in everything["skipped"]}
    assert set(reasons) == {"unseen-flow@1", "cross-forgery@1"}  # no flow family, no fs/am forgeries
    assert "flow is absent" in reasons["unseen-flow@1"]
    audited = {p["protocol"] for p in everything["protocols"]}
    one = sorted(audited)[0]
    audit_shortcuts(str(tmp_path / "manifest.csv"), protocol=one, output=tmp_path / "one", n_bootstrap=50)
    from dfad_bench.audit import load_audit

    cached = load_audit(load_manifest(tmp_path / "manifest.csv"))
    assert {p["protocol"] for p in cached["protocols"]} == audited
    assert len(json.loads((tmp_path / "one" / "audit.json").read_text())["protocols"]) == 1


def test_warning_names_a_byte_different_copy(shortcut_bench):
    from dfad_bench.audit.store import AUDIT_KIND, save_audit

    manifest = load_manifest(shortcut_bench)
    result = {"kind": AUDIT_KIND, "samples_hash": manifest.samples_hash, "manifest_hash": manifest.hash, "threshold": 0.6,
              "protocols": [{"protocol": "closed@1", "flagged": ["container"], "groups": {"container": {"auc": 0.93}}},
                            {"protocol": "unseen-gan@1", "flagged": [], "groups": {"container": {"auc": 0.55}}}]}
    save_audit(result)
    warning = audit_warning(manifest)
    assert "container AUC 0.93 > 0.60 on closed@1" in warning and "differs in bytes" not in warning
    assert audit_warning(manifest, protocol="unseen-gan") is None  # that protocol's own verdict is clean
    assert audit_warning(manifest, protocol="unseen-flow@1") == warning  # not audited: any protocol counts
    save_audit({**result, "manifest_hash": "f" * 64, "protocols": result["protocols"][:1]})
    assert audit_warning(manifest).endswith("(audited copy of the images differs in bytes)")


def test_default_output_folder():
    from dfad_bench.audit.shortcuts import default_output

    assert default_output("mini") == Path("reports/audit/mini")
    assert default_output("/data/ffpp/manifest.parquet") == Path("reports/audit/ffpp-manifest")
