"""Protocol splits: identity- and source-disjoint train/val/test roles, and the leakage guard."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError, LeakageError, check_seed
from dfad_bench.labels import LabelSpace, make_label_space
from dfad_bench.manifest import Manifest
from dfad_bench.protocol import Protocol
from dfad_bench.taxonomy import REAL

ROLES = ("train", "val", "test", "excluded")


@dataclass(frozen=True)
class SplitResult:
    """Each sample's role under one protocol and seed, plus the label spaces handed to models."""

    protocol: Protocol
    seed: int
    roles: pd.DataFrame = field(repr=False)  # sample_id, role, is_fake, generator_seen, family_seen, group
    label_spaces: dict[str, LabelSpace]
    seen_generators: tuple[str, ...]
    unseen_generators: tuple[str, ...]
    # what the protocol names but the benchmark lacks, skipped because it says allow_missing: true
    missing: tuple[str, ...] = ()

    def ids(self, role: str) -> pd.Index:
        return pd.Index(self.roles.loc[self.roles["role"] == role, "sample_id"])

    def counts(self) -> dict[str, int]:
        return {r: int((self.roles["role"] == r).sum()) for r in ROLES}


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


def build_groups(table: pd.DataFrame, group_by: tuple[str, ...]) -> np.ndarray:
    """Connected components over shared identity and source links (union-find, O(n α(n)))."""
    n = len(table)
    parent = np.arange(n)

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    if "identity" in group_by:
        codes = pd.factorize(table["identity"])[0]
        first = pd.Series(np.arange(n)).groupby(codes).transform("min").to_numpy()
        for i in np.flatnonzero(first != np.arange(n)):
            union(int(i), int(first[i]))
    if "source_id" in group_by and "source_id" in table.columns:
        index = pd.Series(np.arange(n), index=table["sample_id"].to_numpy())
        src = table["source_id"]
        for i in np.flatnonzero(src.notna().to_numpy()):
            j = index.get(src.iloc[i])
            if j is not None:  # the source may have been dropped as a bad image
                union(int(i), int(j))
    return np.array([_find(parent, i) for i in range(n)])


def _stable_unit(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_manifest(manifest: Manifest, protocol: Protocol, seed: int = 0) -> SplitResult:
    """Assign every sample a role. Deterministic in (manifest, protocol, seed).

    Groups (shared identity or source chain) go wholly to one split, chosen by a seeded hash of
    the group's smallest sample id, so adding unrelated samples never moves existing groups.
    Samples of unseen generators never enter train/val: a group made only of unseen samples goes
    to test; an unseen sample in a train/val group is excluded.
    """
    check_seed(seed, f"split of {protocol.ref}")
    table = manifest.table
    taxonomy = manifest.taxonomy
    seen, unseen = protocol.resolve_generators(taxonomy)
    groups = build_groups(table, protocol.split.group_by)
    gen = table["generator"].to_numpy()
    is_fake = (table["family"] != REAL).to_numpy()
    is_seen = np.isin(gen, list(seen)) | ~is_fake
    is_unseen = np.isin(gen, list(unseen))

    f_train, f_val, _ = protocol.split.fractions
    group_key = pd.Series(table["sample_id"].to_numpy()).groupby(groups).transform("min").to_numpy()
    unit = {k: _stable_unit(seed, k) for k in pd.unique(group_key)}
    u = np.array([unit[k] for k in group_key])
    split = np.where(u < f_train, "train", np.where(u < f_train + f_val, "val", "test")).astype(object)

    if protocol.split.use_split_hint and "split_hint" in table.columns:
        hint = table["split_hint"].to_numpy(dtype=object)
        has = pd.notna(hint)
        if has.any():
            hinted = pd.DataFrame({"g": groups[has], "h": hint[has]})
            conflict = hinted.groupby("g")["h"].nunique()
            if (conflict > 1).any():
                g = conflict.index[conflict > 1][0]
                ids = table["sample_id"].to_numpy()[groups == g][:3]
                raise DfadError(f"manifest split_hint: samples sharing an identity/source have different hints (e.g. {list(ids)})")
            group_hint = hinted.drop_duplicates("g").set_index("g")["h"]
            mapped = pd.Series(groups).map(group_hint).to_numpy(dtype=object)
            split = np.where(pd.notna(mapped), mapped, split)

    only_unseen = pd.Series(is_unseen).groupby(groups).transform("all").to_numpy()
    split = np.where(only_unseen, "test", split)
    role = np.where(is_unseen, np.where(split == "test", "test", "excluded"), np.where(is_seen, split, "excluded"))

    fam = table["family"].to_numpy()
    seen_families = {taxonomy.family_of(g) for g in seen} | {REAL}
    unseen_families = {taxonomy.family_of(g) for g in unseen} - seen_families
    roles = pd.DataFrame(
        {
            "sample_id": table["sample_id"].to_numpy(),
            "role": role,
            "is_fake": is_fake,
            "generator_seen": ~is_unseen,
            "family_seen": np.isin(fam, list(seen_families)),
            "generator": gen,
            "family": fam,
            "forgery_type": table["forgery_type"].to_numpy(),
            "group": groups,
        }
    )
    real_generators = set(table.loc[table["family"] == REAL, "generator"])
    label_spaces = {
        "family": make_label_space("family", seen_families, unseen_families),
        "generator": make_label_space("generator", set(seen) | real_generators, set(unseen)),
    }
    result = SplitResult(protocol, seed, roles, label_spaces, tuple(sorted(seen)), tuple(sorted(unseen)),
                         missing=tuple(protocol.missing_names(taxonomy)))
    for r in ("train", "val", "test"):
        part = roles[roles["role"] == r]
        if not (part["is_fake"].any() and (~part["is_fake"]).any()):
            raise DfadError(
                f"protocol {protocol.ref} on {manifest.source}: the {r} split has no {'fake' if not part['is_fake'].any() else 'real'} samples; the benchmark is too small for this protocol"
            )
    check_no_leakage(manifest, result)
    return result


def check_no_leakage(manifest: Manifest, split: SplitResult) -> None:
    """Refuse to go on when train/val and test share a sample id, identity, source or image bytes."""
    table = manifest.table.set_index("sample_id")
    roles = split.roles.set_index("sample_id")["role"]
    fit_ids = roles.index[roles.isin(["train", "val"])]
    test_ids = roles.index[roles == "test"]
    if len(fit_ids.intersection(test_ids)):
        raise LeakageError(f"sample id {fit_ids.intersection(test_ids)[0]!r} is in both train/val and test")
    fit, test = table.loc[fit_ids], table.loc[test_ids]
    shared_ids = set(fit["identity"]) & set(test["identity"])
    if shared_ids:
        raise LeakageError(f"identity {sorted(shared_ids)[0]!r} appears in both train/val and test")
    if "source_id" in table.columns:
        crossed = (set(test["source_id"].dropna()) & set(fit.index)) | (set(fit["source_id"].dropna()) & set(test.index))
        crossed |= set(fit["source_id"].dropna()) & set(test["source_id"].dropna())
        if crossed:
            raise LeakageError(f"source sample {sorted(crossed)[0]!r} links train/val and test samples")
    if "content_hash" in table.columns:
        fh, th = fit["content_hash"].dropna(), test["content_hash"].dropna()
        common = set(fh) & set(th)
        if common:
            h = sorted(common)[0]
            a = fh.index[fh == h][0]
            b = th.index[th == h][0]
            raise LeakageError(f"identical image bytes in train/val ({a!r}) and test ({b!r})")
