"""Property-based tests (hypothesis): for random manifests, protocols and seeds, no identity,
source link or sample ever crosses train/val and test, and unseen generators never train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfad_bench.errors import DfadError, LeakageError
from dfad_bench.manifest import build_manifest
from dfad_bench.protocol import get_protocol
from dfad_bench.splits import split_manifest
from dfad_bench.testing import TOY_GENERATORS

PROTOCOLS = ["closed", "unseen-gan", "unseen-diffusion", "unseen-flow", "unseen-generator", "cross-forgery"]
FAKES = [g for g in TOY_GENERATORS if g != "real"]


@st.composite
def manifests(draw) -> pd.DataFrame:
    """Reals of random identities (1-4 images each), fakes of every toy generator: entire-face
    fakes with their own or a shared synthetic identity, swaps/edits linked to a random real
    source (so they inherit its identity), some samples with a split hint."""
    n_ids = draw(st.integers(8, 40))
    rows = []
    for i in range(n_ids):
        for j in range(draw(st.integers(1, 4))):
            rows.append(dict(sample_id=f"r{i}-{j}", generator="real", identity=f"id{i}", source_id=None))
    reals = [r["sample_id"] for r in rows]
    for g in FAKES:
        family, ftype = TOY_GENERATORS[g]
        for k in range(draw(st.integers(2, 12))):
            if ftype == "efs":
                ident = f"syn-{g}-{draw(st.integers(0, 5))}"  # shared synthetic identities group samples
                src = None
            else:
                src = reals[draw(st.integers(0, len(reals) - 1))]
                ident = next(r["identity"] for r in rows if r["sample_id"] == src)
            rows.append(dict(sample_id=f"{g}-{k}", generator=g, identity=ident, source_id=src))
    df = pd.DataFrame(rows)
    df["family"] = [TOY_GENERATORS[g][0] for g in df.generator]
    df["forgery_type"] = [TOY_GENERATORS[g][1] for g in df.generator]
    df["path"] = [f"images/{s}.png" for s in df.sample_id]
    hints = draw(st.lists(st.sampled_from([None, None, None, "train", "val", "test"]), min_size=len(df), max_size=len(df)))
    df["split_hint"] = hints
    # A hint must agree within a group; keep at most one hinted sample per identity.
    df.loc[df.duplicated("identity"), "split_hint"] = None
    df.loc[df.source_id.notna(), "split_hint"] = None
    return df


@settings(max_examples=60, deadline=None)
@given(df=manifests(), protocol=st.sampled_from(PROTOCOLS), seed=st.integers(0, 2**32 - 1))
def test_no_identity_source_or_sample_crosses_train_and_test(df, protocol, seed):
    manifest = build_manifest(df, Path("images-not-needed"), "random")
    proto = get_protocol(protocol)
    try:
        result = split_manifest(manifest, proto, seed)
    except LeakageError as exc:  # the guard must never have to fire on a split we made
        pytest.fail(f"split produced leakage: {exc}")
    except DfadError as exc:
        assert "too small" in str(exc)  # a tiny random manifest may leave a split without fakes
        return
    roles = result.roles.set_index("sample_id")["role"]
    assert roles.index.is_unique and set(roles) <= {"train", "val", "test", "excluded"}
    table = df.set_index("sample_id")
    fit = roles.index[roles.isin(["train", "val"])]
    test = roles.index[roles == "test"]
    assert not set(fit) & set(test)
    assert not set(table.loc[fit, "identity"]) & set(table.loc[test, "identity"])
    linked = table["source_id"].dropna()
    for sid, src in linked.items():
        a, b = roles[sid], roles[src]
        assert not ({a, b} & {"train", "val"} and {a, b} & {"test"}), f"{sid} ({a}) and its source {src} ({b})"
    unseen = set(result.unseen_generators)
    assert not set(table.loc[fit, "generator"]) & unseen
    # Deterministic in (manifest, protocol, seed).
    again = split_manifest(manifest, proto, seed).roles.set_index("sample_id")["role"]
    assert again.equals(roles)


@settings(max_examples=30, deadline=None)
@given(df=manifests(), seed_a=st.integers(0, 2**32 - 1), seed_b=st.integers(0, 2**32 - 1))
def test_groups_go_whole_to_one_split_for_any_seed(df, seed_a, seed_b):
    manifest = build_manifest(df, Path("images-not-needed"), "random")
    for seed in (seed_a, seed_b):
        try:
            result = split_manifest(manifest, get_protocol("closed"), seed)
        except DfadError:
            continue
        r = result.roles
        per_group = r[r.role != "excluded"].groupby("group")["role"].nunique()
        assert (per_group == 1).all()
        assert np.isin(r.role, ["train", "val", "test", "excluded"]).all()
