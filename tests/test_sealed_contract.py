"""Model contract v2: opaque per-run ids, no paths, seen-only context for fit and val, mixed sizes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.harness.images import make_loader_factory
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.harness.views import build_views, manifest_sources, run_salt
from dfad_bench.registry import MODELS
from dfad_bench.testing import toy_manifest, write_toy_images

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def toy_bench(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contractbench")
    table = toy_manifest(n_identities=16, images_per_identity=2, fakes_per_generator=8, seed=3)
    write_toy_images(table, root, size=16)
    table.to_parquet(root / "manifest.parquet", index=False)
    return root / "manifest.parquet"


def _viewset(bench: Path, salt: bytes, roles_of=None):
    table = pd.read_parquet(bench)
    table["content_hash"] = [f"hash-{s}" for s in table["sample_id"]]
    role = np.where(np.arange(len(table)) % 3 == 0, "test", np.where(np.arange(len(table)) % 3 == 1, "val", "train"))
    roles = table[["sample_id"]].assign(role=role, is_fake=table["family"] != "real")
    return table, build_views(table, roles, manifest_sources(bench.parent), make_loader_factory("cpu", 0), salt)


def test_views_hand_out_opaque_ids_in_a_salted_order_and_nothing_that_locates_a_file(toy_bench: Path) -> None:
    table, vs = _viewset(toy_bench, b"a" * 32)
    test, train = vs.views["test"], vs.views["train"]
    for attr in ("table", "image_root", "content_hashes", "paths"):
        assert not hasattr(test, attr) and not hasattr(train, attr)
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in test.ids) and test.sample_ids == test.ids
    sample_ids = set(table["sample_id"])
    assert not set(test.ids) & sample_ids
    real_order = [vs.to_sample_id[i] for i in train.ids]
    assert real_order != sorted(real_order)  # shuffled, not the manifest's (label-spelling) order
    with pytest.raises(DfadError, match="hidden"):
        test.labels("family")
    assert set(train.label_columns) == {"generator", "family", "forgery_type", "is_fake"}
    assert list(train.labels("generator")) == [table.set_index("sample_id").loc[vs.to_sample_id[i], "generator"] for i in train.ids]
    # same salt, same ids and order; another salt, other ids and another order
    _, again = _viewset(toy_bench, b"a" * 32)
    _, other = _viewset(toy_bench, b"b" * 32)
    assert again.views["test"].ids == test.ids
    assert not set(other.views["test"].ids) & set(test.ids)
    assert [other.to_sample_id[i] for i in other.views["train"].ids] != real_order
    # pixels come through the loader, in the view's order
    images = test.load_all()
    assert images.dtype == np.uint8 and images.shape == (len(test), 16, 16, 3)


def test_predictions_map_back_to_manifest_ids(toy_bench: Path) -> None:
    _, vs = _viewset(toy_bench, b"c" * 32)
    test = vs.views["test"]
    frame = pd.DataFrame({"sample_id": test.ids, "fake_score": np.linspace(0, 1, len(test))})
    back = vs.translate(frame)
    assert list(back["sample_id"]) == sorted(vs.to_sample_id[i] for i in test.ids)
    assert dict(zip(back["sample_id"], back["fake_score"], strict=True)) == {
        vs.to_sample_id[i]: s for i, s in zip(test.ids, frame["fake_score"], strict=True)
    }
    with pytest.raises(DfadError, match="not an id"):
        vs.translate(pd.DataFrame({"sample_id": ["real-0000-0"], "fake_score": [0.5]}))


def test_sealed_salt_is_secret_and_persisted_trusted_salt_follows_the_run(tmp_path: Path) -> None:
    first = run_salt(tmp_path, secret=True)
    assert run_salt(tmp_path, secret=True) == first  # a resumed run: same ids, same order
    assert run_salt(tmp_path / "other", secret=True) != first
    assert run_salt(tmp_path, secret=False, run_id="abc") == run_salt(tmp_path / "x", secret=False, run_id="abc")
    assert run_salt(tmp_path, secret=False, run_id="abc") != run_salt(tmp_path, secret=False, run_id="abd")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "opaque-id-salt").write_text("zz\n")
    with pytest.raises(DfadError, match="opaque-id-salt"):
        run_salt(tmp_path / "bad")


def test_fit_and_val_see_only_seen_classes_test_sees_all(toy_bench: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    from sealed_cheaters.cheaters import Recorder

    MODELS.register(Recorder.card, source="test")
    Recorder.calls.clear()
    try:
        rec, run_dir = run(RunOptions(model="ctx-recorder", protocol="unseen-flow", benchmark=str(toy_bench), results_dir=tmp_path,
                                      quiet=True, n_bootstrap=0))
    finally:
        MODELS.unregister("ctx-recorder")
    calls = {(kind, role): (spaces, taxonomy) for kind, role, spaces, taxonomy in Recorder.calls}
    unseen_families = set(rec.label_spaces["family"]["unseen"])
    unseen_generators = set(rec.label_spaces["generator"]["unseen"])
    assert unseen_families and unseen_generators
    for key in (("fit", "val"), ("predict", "val")):
        spaces, taxonomy = calls[key]
        assert not unseen_families & set(spaces["family"]), key
        assert not unseen_generators & (set(spaces["generator"]) | set(taxonomy)), key
    spaces, taxonomy = calls[("predict", "test")]
    assert unseen_families <= set(spaces["family"]) and unseen_generators <= set(taxonomy)
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    val = preds[preds["role"] == "val"]
    for fam in unseen_families:  # never offered at val: probability 0 there
        assert (val[f"prob_family.{fam}"] == 0).all()


def test_mixed_image_sizes_resize_to_the_most_common_size_for_a_clip_feature_model(tmp_path: Path) -> None:
    from dfad_bench.testing import tiny_clip_backbone

    root = tmp_path / "mixed"
    table = toy_manifest(n_identities=16, images_per_identity=2, fakes_per_generator=8, seed=4)
    write_toy_images(table, root, size=24)
    odd = table.iloc[::7]  # some images of every kind at another size
    write_toy_images(odd, root, size=40, seed=1)
    table.to_parquet(root / "manifest.parquet", index=False)
    cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    backbone = tiny_clip_backbone(tmp_path / "clip", name="dfad-tiny-mixed", config=cfg)

    _, vs = _viewset(root / "manifest.parquet", b"d" * 32)
    assert vs.views["train"].resize_target() == (24, 24)
    assert vs.views["train"].resize_target(image_size=20) == (20, 20)
    assert vs.views["train"].load_all().shape[1:] == (24, 24, 3)

    rec, _ = run(RunOptions(model="clip-linear", protocol="unseen-flow", benchmark=str(root / "manifest.parquet"),
                            results_dir=tmp_path / "r", overrides={"backbone": backbone, "C_grid": [1.0]}, quiet=True,
                            n_bootstrap=0, device="cpu"))
    assert rec.metrics["detection_auc_mean_unseen"] is not None
