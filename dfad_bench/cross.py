"""Cross-dataset protocols: train and val from benchmark A (split by the protocol as usual), test on
all of benchmark B (``dfad-bench run --benchmark A --test-benchmark B``).

- A's own test part is dropped; every usable image of B is a test sample.
- Classes map by name through the taxonomy: a generator in both must have the same family and
  forgery type in both (else a one-line error); B's generators (and pristine sources) that A's
  train/val lack are unseen, and so are B's families that A lacks.
- The leakage guard runs across the two: a shared identity, source link or identical image bytes
  between A's train/val and B refuses the run. Identities compare by value, so two benchmarks that
  name the same people must name them alike; the per-image identities adapters make (``img:...``)
  are per benchmark and never match.
- The record names the test benchmark and its hashes (``test_benchmark``); its ``benchmark`` is
  ``"A -> B"`` and its ``samples_hash`` a hash of both samples hashes, so boards keep
  cross-dataset runs apart from A's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256
from dfad_bench.labels import make_label_space
from dfad_bench.manifest import Manifest, build_manifest
from dfad_bench.protocol import Protocol
from dfad_bench.splits import SplitResult, check_no_leakage, split_manifest
from dfad_bench.taxonomy import REAL

TEST_PREFIX = "test::"
PER_IMAGE_IDENTITY = "img:"


def cross_samples_hash(train: Manifest, test: Manifest) -> str:
    return sha256(f"dfad-bench cross-dataset|{train.samples_hash}|{test.samples_hash}".encode())


def _absolute(manifest: Manifest) -> pd.DataFrame:
    table = manifest.table.copy()
    table["path"] = [str(manifest.image_path(p)) for p in table["path"]]
    return table


def split_cross(train: Manifest, test: Manifest, protocol: Protocol, seed: int = 0) -> tuple[Manifest, SplitResult]:
    """(one manifest of A's train/val rows and B's rows, its split); see the module docstring."""
    split_a = split_manifest(train, protocol, seed)
    fit_roles = split_a.roles[split_a.roles["role"].isin(["train", "val"])]
    a = _absolute(train)
    a = a[a["sample_id"].isin(set(fit_roles["sample_id"]))]
    b = _absolute(test)
    b["sample_id"] = TEST_PREFIX + b["sample_id"].astype(str)
    if "source_id" in b.columns:
        b["source_id"] = b["source_id"].where(b["source_id"].isna(), TEST_PREFIX + b["source_id"].astype(str))
    per_image = b["identity"].astype(str).str.startswith(PER_IMAGE_IDENTITY)
    b.loc[per_image, "identity"] = TEST_PREFIX + b.loc[per_image, "identity"].astype(str)
    where = f"{train.source} -> {test.source}"
    table = pd.concat([a, b], ignore_index=True)
    if "split_hint" in table.columns:
        table = table.drop(columns=["split_hint"])  # the roles below are final
    combined = build_manifest(table, train.root, where)  # a generator with two taxonomies is refused here

    seen_g = set(split_a.label_spaces["generator"].seen)
    seen_f = set(split_a.label_spaces["family"].seen)
    b_gen, b_fam = b["generator"].to_numpy(), b["family"].to_numpy()
    unseen_g = sorted(set(b_gen) - seen_g)
    unseen_f = sorted(set(b_fam) - seen_f)
    is_fake_b = b_fam != REAL
    roles_b = pd.DataFrame({
        "sample_id": b["sample_id"].to_numpy(), "role": "test", "is_fake": is_fake_b,
        "generator_seen": np.isin(b_gen, list(seen_g)), "family_seen": np.isin(b_fam, list(seen_f)),
        "generator": b_gen, "family": b_fam, "forgery_type": b["forgery_type"].to_numpy(),
        "group": -1 - np.arange(len(b)),
    })
    roles = pd.concat([fit_roles, roles_b], ignore_index=True)
    spaces = {
        "family": make_label_space("family", seen_f, unseen_f),
        "generator": make_label_space("generator", seen_g, unseen_g),
    }
    result = SplitResult(protocol, seed, roles, spaces, split_a.seen_generators,
                         tuple(sorted(g for g in unseen_g if combined.taxonomy.family_of(g) != REAL)), missing=split_a.missing)
    if not (is_fake_b.any() and (~is_fake_b).any()):
        raise DfadError(f"{test.source}: as a test benchmark it needs both real and fake images, has "
                        f"{int(is_fake_b.sum())} fake and {int((~is_fake_b).sum())} real")
    check_no_leakage(combined, result)
    return combined, result


def cross_record_fields(train_name: str, train: Manifest, test_name: str, test: Manifest) -> dict[str, Any]:
    return {
        "benchmark": f"{train_name} -> {test_name}",
        "samples_hash": cross_samples_hash(train, test),
        "test_benchmark": {"name": test_name, "manifest_hash": test.hash, "samples_hash": test.samples_hash,
                           "train_samples_hash": train.samples_hash},
    }
