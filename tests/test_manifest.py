import pandas as pd
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.manifest import load_manifest, manifest_hash, samples_hash
from dfad_bench.testing import toy_manifest


def test_csv_and_parquet_give_the_same_hash(tmp_path):
    df = toy_manifest()
    df.to_csv(tmp_path / "m.csv", index=False)
    df.to_parquet(tmp_path / "m.parquet", index=False)
    a, b = load_manifest(tmp_path / "m.csv"), load_manifest(tmp_path / "m.parquet")
    assert a.hash == b.hash
    assert len(a) == len(df)


def test_hash_is_order_independent_and_content_sensitive():
    df = toy_manifest()
    assert manifest_hash(df) == manifest_hash(df.sample(frac=1, random_state=1))
    changed = df.copy()
    changed.loc[3, "identity"] = "someone-else"
    assert manifest_hash(changed) != manifest_hash(df)


def test_samples_hash_ignores_image_bytes_only():
    """Another copy of the images (other byte digests) keeps the samples hash; a label change does not."""
    df = toy_manifest().assign(content_hash=lambda d: [f"{i:064x}" for i in range(len(d))])
    recopied = df.assign(content_hash=lambda d: [f"{i + 7:064x}" for i in range(len(d))])
    assert manifest_hash(recopied) != manifest_hash(df)
    assert samples_hash(recopied) == samples_hash(df) == samples_hash(df.drop(columns=["content_hash"]))
    relabelled = df.copy()
    relabelled.loc[5, "identity"] = "someone-else"
    assert samples_hash(relabelled) != samples_hash(df)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.drop(columns=["identity"]), "missing required column 'identity'"),
        (lambda d: d.assign(family=d["family"].where(d.index != 5, "Not A Family")), "family"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "duplicate sample_id"),
        (lambda d: d.assign(split_hint="training"), "split_hint"),
        (lambda d: d.assign(source_id="nope"), "source_id"),
        (lambda d: d.assign(gaze_yaw="left"), "gaze_yaw"),
        (lambda d: d[d["family"] != "real"].drop(columns=["source_id"]), "no pristine"),
    ],
)
def test_malformed_manifests_fail_with_one_line_naming_the_field(tmp_path, mutate, match):
    path = tmp_path / "m.parquet"
    mutate(toy_manifest()).to_parquet(path, index=False)
    with pytest.raises(DfadError, match=match) as info:
        load_manifest(path)
    assert "\n" not in str(info.value)


def test_missing_files_are_reported_when_checked(tmp_path):
    path = tmp_path / "m.csv"
    toy_manifest().to_csv(path, index=False)
    load_manifest(path)  # fine without the check
    with pytest.raises(DfadError, match="image file for sample_id"):
        load_manifest(path, check_files=True)


def test_manifest_hash_is_computed_only_when_read(tmp_path, monkeypatch):
    import dfad_bench.manifest as manifest_module
    from dfad_bench.manifest import Manifest
    from dfad_bench.protocol import get_protocol
    from dfad_bench.splits import split_manifest

    toy_manifest(n_identities=10, fakes_per_generator=4).to_csv(tmp_path / "m.csv", index=False)
    calls = []
    real = manifest_module.manifest_hash
    monkeypatch.setattr(manifest_module, "manifest_hash", lambda df: calls.append(len(df)) or real(df))
    m = load_manifest(tmp_path / "m.csv")
    split_manifest(m, get_protocol("unseen-flow"), 0)
    assert calls == []  # loading and splitting never hash
    assert m.hash == real(m.table) and calls == [len(m.table)]
    assert m.hash == real(m.table) and len(calls) == 1  # cached
    narrowed = Manifest(table=m.table.iloc[:5], source=m.source, root=m.root, taxonomy=m.taxonomy, hash=m.hash)
    assert narrowed.hash == m.hash and len(calls) == 1  # a given hash is kept, not recomputed
