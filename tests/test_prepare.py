"""`prepare`: validation with reasons, MTCNN crops and gaze on real photos; incremental."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import platformdirs
import pytest
from PIL import Image

from dfad_bench.testing import register_colour_stats_gaze

FIXTURES = Path(__file__).parent / "fixtures"
STUB = register_colour_stats_gaze()


def _asset_folder() -> str:
    return os.environ.get("DFAD_BENCH_TEST_ASSETS") or str(Path(platformdirs.user_cache_dir("dfad-bench")) / "test-assets")


@pytest.mark.assets
def test_prepare_real_photos_is_incremental(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from dfad_bench.cli import app
    from dfad_bench.perception.assets import prefetch_assets

    monkeypatch.setenv("DFAD_BENCH_ASSETS", str(prefetch_assets(_asset_folder(), ["mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"])))
    root = tmp_path / "photos"
    (root / "real").mkdir(parents=True)
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        img = Image.open(FIXTURES / name).convert("RGB")
        for scale in (0.4, 1.0, 1.5):
            img.resize((int(img.width * scale), int(img.height * scale))).save(root / "real" / f"{Path(name).stem}-{scale}.png")
    (root / "real" / "zero.png").write_bytes(b"")
    (root / "real" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "gan" / "stylegna2").mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "gan" / "stylegna2" / "x.png")
    state = tmp_path / "state"

    def prepare() -> dict:
        result = CliRunner().invoke(app, ["prepare", "--benchmark", f"folder:{root}", "--output", str(state), "--gaze", STUB,
                                          "--crop-size", "96", "--quiet"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout[result.stdout.index("{"):])

    first = prepare()
    assert (first["images"], first["validated_now"], first["bad"]) == (8, 8, 3)
    assert first["faces_now"] == 6 and first["faces_found"] == 6 and first["gaze_encoded_now"] == 6
    bad = pd.read_csv(state / "bad_inputs.csv").set_index(pd.read_csv(state / "bad_inputs.csv")["path"].map(lambda p: Path(p).name))
    assert "did you mean stylegan2" in bad.loc["x.png", "reason"]
    assert bad.loc["zero.png", "reason"] and bad.loc["corrupt.jpg", "reason"]
    crops = sorted((state / "crops").glob("*.png"))
    assert len(crops) == 6 and all(Image.open(c).size == (96, 96) for c in crops)
    again = prepare()
    assert (again["validated_now"], again["faces_now"], again["gaze_encoded_now"]) == (0, 0, 0)
    shutil.copy(FIXTURES / "camera.png", root / "real" / "camera.png")  # one more image: one more of each
    third = prepare()
    assert (third["validated_now"], third["faces_now"], third["gaze_encoded_now"]) == (1, 1, 1)
