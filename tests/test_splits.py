import pandas as pd
import pytest

from dfad_bench.errors import LeakageError
from dfad_bench.manifest import build_manifest
from dfad_bench.protocol import get_protocol, list_protocols
from dfad_bench.splits import check_no_leakage, split_manifest
from dfad_bench.testing import toy_manifest


@pytest.fixture
def manifest(tmp_path):
    return build_manifest(toy_manifest(), tmp_path, "toy")


@pytest.mark.parametrize("proto", [p.name for p in list_protocols()])
def test_splits_are_identity_and_source_disjoint(manifest, proto):
    res = split_manifest(manifest, get_protocol(proto), seed=3)
    t = manifest.table.set_index("sample_id").join(res.roles.set_index("sample_id")["role"])
    fit, test = t[t.role.isin(["train", "val"])], t[t.role == "test"]
    assert not set(fit.identity) & set(test.identity)
    assert not set(fit.source_id.dropna()) & set(test.index)
    assert not set(test.source_id.dropna()) & set(fit.index)
    # unseen generators never reach train or val
    unseen = set(res.unseen_generators)
    assert not set(fit.generator) & unseen
    for g in unseen:
        assert (test.generator == g).any()


def test_unseen_flow_label_spaces(manifest):
    res = split_manifest(manifest, get_protocol("unseen-flow"), seed=0)
    fam = res.label_spaces["family"]
    assert fam.unseen == ("flow",) and "flow" not in fam.seen and fam.classes[0] == "real"
    gen = res.label_spaces["generator"]
    assert set(gen.unseen) == {"toy-flow-a", "toy-flow-b"}
    # val holds seen generators only
    val = res.roles[res.roles.role == "val"]
    assert val.generator_seen.all()


def test_split_is_deterministic_and_seed_dependent(manifest):
    p = get_protocol("unseen-gan")
    a = split_manifest(manifest, p, seed=1).roles
    b = split_manifest(manifest, p, seed=1).roles
    c = split_manifest(manifest, p, seed=2).roles
    pd.testing.assert_frame_equal(a, b)
    assert (a.role != c.role).any()


def test_guard_refuses_identical_bytes(manifest, tmp_path):
    res = split_manifest(manifest, get_protocol("closed"), seed=0)
    roles = res.roles.set_index("sample_id")["role"]
    a = roles.index[roles == "train"][0]
    b = roles.index[roles == "test"][0]
    df = manifest.table.copy()
    df["content_hash"] = df["sample_id"]
    df.loc[df.sample_id == b, "content_hash"] = a
    leaky = build_manifest(df, tmp_path, "leaky")
    with pytest.raises(LeakageError, match="identical image bytes"):
        check_no_leakage(leaky, res)


def test_guard_refuses_shared_identity(manifest, tmp_path):
    res = split_manifest(manifest, get_protocol("closed"), seed=0)
    roles = res.roles.set_index("sample_id")["role"]
    a = roles.index[(roles == "train") & roles.index.str.startswith("real")][0]
    b = roles.index[(roles == "test") & roles.index.str.startswith("real")][0]
    df = manifest.table.copy()
    df.loc[df.sample_id == b, "identity"] = df.loc[df.sample_id == a, "identity"].iloc[0]
    with pytest.raises(LeakageError, match="identity"):
        check_no_leakage(build_manifest(df, tmp_path, "leaky"), res)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0"])
def test_bad_seeds_are_refused_with_one_line(manifest, seed):
    from dfad_bench.errors import DfadError

    with pytest.raises(DfadError, match=r"seed must be an integer in \[0, 4294967295\]"):
        split_manifest(manifest, get_protocol("unseen-flow"), seed)


def test_run_refuses_a_bad_seed_before_writing_anything(tmp_path):
    from dfad_bench.errors import DfadError
    from dfad_bench.harness.runner import RunOptions, run

    with pytest.raises(DfadError, match="--seed"):
        run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(tmp_path / "absent.parquet"),
                       seed=-1, results_dir=tmp_path / "results"))
    assert not (tmp_path / "results").exists()
