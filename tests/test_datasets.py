"""Dataset adapters: each on a tiny fixture tree that mirrors its dataset's documented layout
(images generated here), plus the bad-data report and declared benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dfad_bench.benchmarks import resolve_benchmark
from dfad_bench.datasets import DATASET_ADAPTERS, split_adapter_ref
from dfad_bench.errors import DfadError
from dfad_bench.harness.images import prescan_images


def img(path: Path, seed: int = 0, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def tree(root: Path, rels: list[str]) -> Path:
    for i, rel in enumerate(rels):
        img(root / rel, seed=i)
    return root


def resolve(ref: str):
    return resolve_benchmark(ref)[1]


def test_folder_tree(tmp_path):
    root = tree(tmp_path / "d", ["real/a.png", "real/celeba/b.png", "gan/stylegan2/x/1.png", "gan/stylegan2/2.png",
                                 "diffusion/ddpm/3.jpg", "gan/ignored.png"])
    m = resolve(f"folder:{root}")
    t = m.table.set_index("sample_id")
    assert len(t) == 5 and "gan/ignored.png" not in t.index
    assert t.loc["gan/stylegan2/x/1.png", ["generator", "family", "forgery_type"]].tolist() == ["stylegan2", "gan", "efs"]
    assert t.loc["real/celeba/b.png", "source"] == "celeba"
    assert t["identity"].is_unique  # per-image identities
    assert m.excluded == ()


def test_bad_data_report_keeps_the_rest_usable(tmp_path):
    """A corrupt file, a zero-byte file and an unknown generator: each reported with path and
    reason (the unknown one with a did-you-mean and how to declare it); the rest usable."""
    root = tree(tmp_path / "d", ["real/a.png", "real/b.png", "gan/stylegan2/1.png", "gan/stylegan2/2.png", "gan/stylegna3/3.png"])
    (root / "gan/stylegan2/zero.png").write_bytes(b"")
    (root / "gan/stylegan2/corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    m = resolve(f"folder:{root}")
    assert len(m.excluded) == 1
    reason = m.excluded[0]["reason"]
    assert m.excluded[0]["path"].endswith("gan/stylegna3/3.png")
    assert "unknown generator 'stylegna3'" in reason and "did you mean stylegan3" in reason and "generators.yaml" in reason
    table, bad = prescan_images(m, workers=1)
    reasons = {Path(b.path).name: b.reason for b in bad}
    assert set(reasons) == {"zero.png", "corrupt.png"}
    assert all(r for r in reasons.values())
    assert sorted(table["sample_id"]) == ["gan/stylegan2/1.png", "gan/stylegan2/2.png", "real/a.png", "real/b.png"]
    # declared beside the data, the unknown generator joins
    (root / "generators.yaml").write_text("generators:\n  - {name: stylegna3, family: gan, forgery_type: efs}\n")
    m2 = resolve(f"folder:{root}")
    assert m2.excluded == () and "stylegna3" in m2.taxonomy


def test_generators_yaml_errors(tmp_path):
    root = tree(tmp_path / "d", ["real/a.png", "gan/x/1.png"])
    (root / "generators.yaml").write_text("generators:\n  - {name: x, family: gan}\n")
    with pytest.raises(DfadError, match=r"generators\.yaml: generators\[0\]: expected keys"):
        resolve(f"folder:{root}")
    (root / "generators.yaml").write_text("generators:\n  - {name: x, family: gan, forgery_type: swap}\n")
    with pytest.raises(DfadError, match="forgery_type must be one of"):
        resolve(f"folder:{root}")


def test_folder_family_must_agree(tmp_path):
    root = tree(tmp_path / "d", ["real/a.png", "diffusion/stylegan2/1.png", "gan/stylegan2/2.png"])
    m = resolve(f"folder:{root}")
    assert len(m) == 2 and "folder says 'diffusion'" in m.excluded[0]["reason"]


def test_cnndetection(tmp_path):
    root = tree(tmp_path / "d", ["train/car/0_real/a.png", "train/car/1_fake/b.png", "test/deepfake/0_real/c.png",
                                 "test/deepfake/1_fake/d.png", "test/stylegan/cat/1_fake/e.png", "readme/x.png"])
    t = resolve(f"cnndetection:{root}").table.set_index("sample_id")
    assert len(t) == 5
    assert t.loc["train/car/1_fake/b.png", ["generator", "split_hint", "subset"]].tolist() == ["cnndetection-fake", "train", "car"]
    assert t.loc["test/deepfake/0_real/c.png", "generator"] == "real"
    assert set(t["split_hint"]) == {"train", "test"}


def test_table_with_column_mapping(tmp_path):
    root = tree(tmp_path / "d", ["imgs/r1.png", "imgs/f1.png", "imgs/f2.png"])
    pd.DataFrame({"file": ["imgs/r1.png", "imgs/f1.png", "imgs/f2.png"], "method": ["real", "StyleGAN2", "my_gan"],
                  "person": ["p1", "s1", "s2"]}).to_csv(root / "meta.csv", index=False)
    adapter = DATASET_ADAPTERS.get("table")
    m = adapter.create_manifest(root / "meta.csv", {"path": "file", "generator": "method", "identity": "person"})
    assert sorted(m.table["generator"]) == ["real", "stylegan2"] and m.excluded[0]["reason"].startswith("unknown generator 'my-gan'")
    assert set(m.table["identity"]) == {"p1", "s1"}
    with pytest.raises(DfadError, match=r"no column 'path' for path; map it with --option path=<column>"):
        adapter.create_manifest(root / "meta.csv", {})
    with pytest.raises(DfadError, match="unknown option 'colour'; allowed:"):
        adapter.create_manifest(root / "meta.csv", {"colour": "x"})


def test_hf_imagefolder_and_parquet(tmp_path):
    pytest.importorskip("datasets")
    root = tree(tmp_path / "hf", ["real/a.png", "real/b.png", "stylegan2/c.png", "ddpm/d.png"])
    m = resolve(f"hf:{root}")
    assert sorted(m.table["generator"]) == ["ddpm", "real", "real", "stylegan2"]
    assert all((root / p).is_file() for p in m.table["path"])  # used in place
    rows = [{"image": {"bytes": (root / p).read_bytes(), "path": None}, "gen": g} for p, g in zip(m.table["path"], m.table["generator"], strict=True)]
    import datasets

    features = datasets.Features({"image": datasets.Image(), "gen": datasets.Value("string")})
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(tmp_path / "data.parquet"))
    m2 = DATASET_ADAPTERS.get("hf").create_manifest(tmp_path / "data.parquet", {"generator": "gen"})
    assert sorted(m2.table["generator"]) == sorted(m.table["generator"])
    table, bad = prescan_images(m2, workers=1)
    assert not bad and len(table) == 4


def test_ffpp_frames(tmp_path):
    root = tree(tmp_path / "ff", [
        "original_sequences/youtube/c23/frames/000/0000.png", "original_sequences/youtube/c23/frames/003/0000.png",
        "manipulated_sequences/Deepfakes/c23/frames/000_003/0000.png",
        "manipulated_sequences/Face2Face/c23/images/003_000/0000.png",
        "manipulated_sequences/NeuralTextures/c23/frames/000_003/0001.png",
    ])
    t = resolve(f"ffpp:{root}").table.set_index("sample_id")
    assert len(t) == 5
    df = t.loc["manipulated_sequences/Deepfakes/c23/frames/000_003/0000.png"]
    assert (df["generator"], df["identity"], df["source_id"]) == ("deepfakes", "ffpp-000", "original_sequences/youtube/c23/frames/000/0000.png")
    assert pd.isna(t.loc["manipulated_sequences/NeuralTextures/c23/frames/000_003/0001.png", "source_id"])  # frame 0001 not extracted
    assert t.loc["manipulated_sequences/Face2Face/c23/images/003_000/0000.png", ["family", "identity"]].tolist() == ["graphics", "ffpp-003"]
    assert t.loc["original_sequences/youtube/c23/frames/000/0000.png", "video_id"] == "real/000"


def test_df40(tmp_path):
    root = tree(tmp_path / "df40", ["real/ff/frames/000/0.png", "simswap/ff/frames/000_003/0.png", "StyleGAN3/ff/1.png",
                                    "sit-xl-2/cdf/2.png", "new_swap/ff/frames/001_002/0.png"])
    m = resolve(f"df40:{root}")
    t = m.table.set_index("sample_id")
    assert t.loc["simswap/ff/frames/000_003/0.png", ["family", "forgery_type", "identity"]].tolist() == ["gan", "fs", "ff-000"]
    assert t.loc["sit-xl-2/cdf/2.png", "family"] == "flow" and t.loc["StyleGAN3/ff/1.png", "generator"] == "stylegan3"
    assert [Path(e["path"]).parts[-5] for e in m.excluded] == ["new_swap"]


def test_diff(tmp_path):
    root = tree(tmp_path / "diff", ["train/real/a.png", "train/T2I/Midjourney/1.png", "test/FS/DiffFace/2.png", "test/FE/Imagic/3.png",
                                    "test/real/b.png"])
    t = resolve(f"diff:{root}").table.set_index("sample_id")
    assert t.loc["test/FE/Imagic/3.png", ["generator", "family", "forgery_type", "split_hint"]].tolist() == ["imagic", "diffusion", "am", "test"]
    assert t.loc["train/T2I/Midjourney/1.png", "forgery_type"] == "efs" and t.loc["test/FS/DiffFace/2.png", "forgery_type"] == "fs"


def test_genface(tmp_path):
    root = tree(tmp_path / "gf", ["real/a.png", "entire_face_synthesis/StyleGAN2/1.png", "face_swap/InfoSwap/2.png",
                                  "attribute_manipulation/StarGAN2/3.png", "face_swap/mystery/4.png"])
    m = resolve(f"genface:{root}")
    t = m.table.set_index("sample_id")
    assert t.loc["face_swap/InfoSwap/2.png", ["family", "forgery_type"]].tolist() == ["gan", "fs"]
    assert t.loc["attribute_manipulation/StarGAN2/3.png", "forgery_type"] == "am"
    assert len(m.excluded) == 1 and "mystery" in m.excluded[0]["reason"]


def test_owdfa(tmp_path):
    root = tree(tmp_path / "ow", ["ffpp/000/0.png", "ffpp/000_003/0.png", "cdf/x/1.png", "ffpp/001/0.png"])
    (root / "labels.txt").write_text("real\ndeepfakes\nsimswap\n")
    (root / "train.txt").write_text("ffpp/000/0.png 0\nffpp/000_003/0.png 1\n")
    (root / "test.txt").write_text("cdf/x/1.png simswap\nffpp/001/0.png real\n")
    m = DATASET_ADAPTERS.get("owdfa").create_manifest(root)
    t = m.table.set_index("sample_id")
    assert t.loc["ffpp/000/0.png", "identity"] == "ffpp-000" and t.loc["ffpp/000/0.png", "split_hint"] == "train"
    assert t.loc["cdf/x/1.png", ["generator", "split_hint"]].tolist() == ["simswap", "test"] and len(t) == 3
    assert m.excluded[0]["reason"].startswith("unknown generator 'deepfakes'")  # deepfakes is FF++'s: declare it
    (root / "train.txt").write_text("ffpp/000/0.png 7\n")
    with pytest.raises(DfadError, match=r"train.txt:1: label index 7 but .*labels.txt has 3 names"):
        DATASET_ADAPTERS.get("owdfa").create_manifest(root)


def test_refs_and_declared_benchmarks(tmp_path, monkeypatch):
    monkeypatch.setenv("DFAD_BENCH_CONFIG", str(tmp_path / "cfg"))
    root = tree(tmp_path / "d", ["real/a.png", "gan/stylegan2/1.png"])
    assert split_adapter_ref(f"folder:{root}") == ("folder", str(root))
    assert split_adapter_ref("C:/data/manifest.csv") is None
    assert split_adapter_ref("nosuch:/x") is None
    from dfad_bench.datasets.user import add_user_benchmark, remove_user_benchmark

    add_user_benchmark("my-faces", "folder", root)
    name, m = resolve_benchmark("my-faces")
    assert name == "my-faces" and len(m) == 2
    from dfad_bench.benchmarks import list_benchmarks

    listed = {r["name"]: r for r in list_benchmarks()}
    assert listed["my-faces"]["description"] == f"folder:{root.resolve()}" and "mini" in listed
    with pytest.raises(DfadError, match="already declared"):
        add_user_benchmark("my-faces", "folder", root)
    with pytest.raises(DfadError, match="already registered"):
        add_user_benchmark("mini", "folder", root)
    with pytest.raises(DfadError, match="folder-tree dataset root folder not found"):
        add_user_benchmark("other", "folder", tmp_path / "nope")
    with pytest.raises(DfadError, match="unknown dataset adapter 'foldr'; did you mean folder"):
        add_user_benchmark("other", "foldr", root)
    remove_user_benchmark("my-faces")
    with pytest.raises(DfadError, match="unknown benchmark 'my-faces'"):
        resolve_benchmark("my-faces")
