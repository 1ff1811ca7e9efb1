import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dfad_bench.errors import DfadError
from dfad_bench.perception.analyze import analyze_gaze
from dfad_bench.perception.gaze.base import GazeOutput, angular_error_deg


class ColourGaze:
    """Reads gaze from the pixel colour: R -> pitch, G -> yaw, B -> right-eye yaw offset; R == 0: no face."""

    name = "colour"
    fingerprint = "colour-1"
    feature_dim = 2

    def encode(self, images):
        px = images[:, 0, 0].astype(float)
        pitch = (px[:, 0] - 128) / 255
        yaw = (px[:, 1] - 128) / 255 * 2
        left = np.stack([pitch, yaw], axis=1)
        right = np.stack([pitch, yaw + px[:, 2] / 255 * 0.2], axis=1)
        valid = px[:, 0] > 0
        return GazeOutput.build(left, right, px[:, :2], valid, ["ok" if v else "no_face" for v in valid])


def _colour(pitch, yaw, incons):
    return (int(np.clip(round(128 + pitch * 255), 1, 255)), int(np.clip(round(128 + yaw * 255 / 2), 0, 255)),
            int(np.clip(round(incons * 255 / 0.2), 0, 255)))


@pytest.fixture
def world(tmp_path):
    rng = np.random.default_rng(0)
    rows = []

    def add(sid, gen, fam, ftype, colour, source=None):
        Image.new("RGB", (8, 8), colour).save(tmp_path / f"{sid}.png")
        rows.append(dict(sample_id=sid, path=f"{sid}.png", generator=gen, family=fam, forgery_type=ftype, source_id=source))

    real = []
    for i in range(80):
        c = _colour(rng.normal(0, 0.1), rng.normal(0, 0.2), abs(rng.normal(0, 0.02)))
        add(f"r{i}", "real", "real", "real", c)
        real.append(c)
    for i in range(80):  # a GAN family that looks up and whose eyes disagree
        add(f"g{i}", "gan-a", "gan", "efs", _colour(rng.normal(0.25, 0.1), rng.normal(0, 0.2), abs(rng.normal(0.1, 0.03))))
    for i in range(80):  # a diffusion family drawn like the real one
        add(f"d{i}", "diff-a", "diffusion", "efs", _colour(rng.normal(0, 0.1), rng.normal(0, 0.2), abs(rng.normal(0, 0.02))))
    for i in range(20):  # eye edits of real images: same pitch, yaw moved by 20 G levels
        r, g, b = real[i]
        add(f"e{i}", "edit", "diffusion", "am", (r, min(255, g + 20), b), source=f"r{i}")
    add("x0", "gan-a", "gan", "efs", (0, 10, 10))  # no face
    return pd.DataFrame(rows), tmp_path


def test_report(world, tmp_path):
    manifest, root = world
    out_dir = tmp_path / "report"
    summary = analyze_gaze(manifest, root, ColourGaze(), out_dir)
    on_disk = json.loads((out_dir / "report.json").read_text())
    assert on_disk == summary
    for name in ("report.md", "gaze.parquet", "gaze_pitch_yaw_by_family.png", "eye_inconsistency_by_family.png",
                 "gaze_preservation_by_generator.png"):
        assert (out_dir / name).stat().st_size > 0
    assert summary["invalid_reasons"] == {"no_face": 1}
    fam = summary["groups"]["family"]
    assert fam["gan"]["n"] == 81 and fam["gan"]["n_valid"] == 80
    gan, diff = fam["gan"]["vs_pristine"], summary["groups"]["generator"]["diff-a"]["vs_pristine"]
    assert gan["pitch_deg"]["ks_p_holm"] < 1e-6 and gan["eye_inconsistency_deg"]["ks_p_holm"] < 1e-6
    assert diff["pitch_deg"]["ks_p"] > 0.01  # same distribution as pristine: no detection
    assert gan["pitch_deg"]["energy_distance"] > 5 * diff["pitch_deg"]["energy_distance"]
    assert "vs_pristine" not in fam["real"]
    # preservation: each edit moved the yaw by exactly 20 G levels -> a known angle
    edits = manifest[manifest["generator"] == "edit"]
    src = manifest.set_index("sample_id").loc[edits["source_id"]]
    colours = [np.array(Image.open(root / p))[0, 0] for p in edits["path"]]
    source_colours = [np.array(Image.open(root / p))[0, 0] for p in src["path"]]
    enc = ColourGaze()
    a = enc.encode(np.stack([np.full((1, 1, 3), c, np.uint8) for c in colours]))
    b = enc.encode(np.stack([np.full((1, 1, 3), c, np.uint8) for c in source_colours]))
    expected = angular_error_deg(a.vector, b.vector).mean()
    pres = summary["preservation"]["edit"]
    assert pres["n_pairs"] == 20 and pres["mean_deg"] == pytest.approx(expected, rel=1e-6)
    assert pres["mean_deg"] < pres["chance_deg"]
    md = (out_dir / "report.md").read_text()
    assert "gan-a" in md and "Gaze preservation" in md
    table = pd.read_parquet(out_dir / "gaze.parquet")
    assert len(table) == len(manifest) and table["valid"].sum() == len(manifest) - 1


def test_bad_inputs(world, tmp_path):
    manifest, root = world
    (root / "r0.png").write_bytes(b"not an image")
    with pytest.raises(DfadError, match="r0.png"):
        analyze_gaze(manifest, root, ColourGaze(), tmp_path / "out")
    with pytest.raises(DfadError, match="pristine"):
        analyze_gaze(manifest[manifest["family"] != "real"], root, ColourGaze(), tmp_path / "out")
    with pytest.raises(DfadError, match="family"):
        analyze_gaze(manifest.drop(columns=["family"]), root, ColourGaze(), tmp_path / "out")
