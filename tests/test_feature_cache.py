"""Feature cache: hits never recompute, corrupt shards are detected, concurrent writers keep it valid."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfad_bench.cache import FeatureCache, content_hash, content_hashes
from dfad_bench.errors import DfadError

FP = "test-encoder|sha256=abc|pp=1"


def _keys(n: int, prefix: str = "k") -> list[str]:
    return [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest() for i in range(n)]


def _feature(key: str, dim: int = 8) -> np.ndarray:
    """A deterministic feature per key, so any process can check any row."""
    rng = np.random.default_rng(int(key[:8], 16))
    return rng.standard_normal(dim).astype(np.float32)


class CountingEncoder:
    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.calls = 0
        self.rows = 0

    def __call__(self, positions: list[int]) -> np.ndarray:
        self.calls += 1
        self.rows += len(positions)
        return np.stack([_feature(self.keys[p]) for p in positions])


def test_content_hash_bytes_and_file(tmp_path: Path) -> None:
    data = b"\x89PNG fake image bytes"
    f = tmp_path / "a.png"
    f.write_bytes(data)
    assert content_hash(data) == hashlib.sha256(data).hexdigest() == content_hash(f) == content_hash(str(f))
    with pytest.raises(DfadError, match="b.png"):
        content_hash(tmp_path / "b.png")


def test_content_hashes_prefers_manifest_column(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"x")
    (tmp_path / "y.png").write_bytes(b"y")
    given = "0" * 64  # deliberately not the file's hash: the column must be trusted, not recomputed
    table = pd.DataFrame({"path": ["x.png", "y.png"], "content_hash": [given, None]})
    assert content_hashes(table, root=tmp_path) == [given, content_hash(b"y")]
    bad = pd.DataFrame({"path": ["x.png"], "content_hash": ["not-a-hash"]})
    with pytest.raises(DfadError, match="content_hash"):
        content_hashes(bad, root=tmp_path)


def test_second_pass_computes_nothing(tmp_path: Path) -> None:
    keys = _keys(50)
    keys_with_dup = keys + keys[:5]  # identical images appear twice in a dataset
    enc = CountingEncoder(keys_with_dup)
    cache = FeatureCache(tmp_path, FP)
    first = cache.encode_cached(keys_with_dup, enc, batch_size=16)
    assert enc.rows == 50  # duplicates computed once
    expected = np.stack([_feature(k) for k in keys_with_dup])
    np.testing.assert_array_equal(first, expected)

    enc2 = CountingEncoder(keys_with_dup)
    again = FeatureCache(tmp_path, FP).encode_cached(keys_with_dup, enc2, batch_size=16)  # fresh process view
    assert enc2.calls == 0
    np.testing.assert_array_equal(again, expected)

    # a partly new key set computes only the new keys
    more = keys[:10] + _keys(7, "new")
    enc3 = CountingEncoder(more)
    cache.encode_cached(more, enc3, batch_size=4)
    assert enc3.rows == 7


def test_get_many_mask_and_other_fingerprint(tmp_path: Path) -> None:
    keys = _keys(6)
    cache = FeatureCache(tmp_path, FP)
    cache.put_many(keys[:3], np.stack([_feature(k) for k in keys[:3]]))
    found, arr = cache.get_many(keys)
    assert found.tolist() == [True, True, True, False, False, False]
    assert np.isnan(arr[3:]).all() and not np.isnan(arr[:3]).any()
    other = FeatureCache(tmp_path, FP + "|other-weights")
    assert not other.get_many(keys)[0].any()
    with pytest.raises(DfadError, match="dim"):
        cache.put_many(keys[3:4], np.zeros((1, 5), np.float32))


def test_corrupt_shard_is_detected_and_recomputed(tmp_path: Path) -> None:
    keys = _keys(20)
    enc = CountingEncoder(keys)
    cache = FeatureCache(tmp_path, FP)
    cache.encode_cached(keys, enc, batch_size=10)  # two shards
    shards = sorted((cache.dir / "shards").glob("*.npy"))
    assert len(shards) == 2
    raw = bytearray(shards[0].read_bytes())
    raw[-3] ^= 0xFF  # flip bits in the data, not the header: only the checksum can tell
    shards[0].write_bytes(bytes(raw))

    enc2 = CountingEncoder(keys)
    fresh = FeatureCache(tmp_path, FP)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        out = fresh.encode_cached(keys, enc2, batch_size=10)
    assert enc2.rows == 10  # exactly the corrupt shard's entries
    np.testing.assert_array_equal(out, np.stack([_feature(k) for k in keys]))
    enc3 = CountingEncoder(keys)
    FeatureCache(tmp_path, FP).encode_cached(keys, enc3)
    assert enc3.calls == 0


def test_compaction_keeps_entries(tmp_path: Path) -> None:
    keys = _keys(30)
    cache = FeatureCache(tmp_path, FP, compact_after=4)
    for i in range(0, 30, 3):
        cache.put_many(keys[i : i + 3], np.stack([_feature(k) for k in keys[i : i + 3]]))
    assert (cache.dir / "index.parquet").is_file()
    assert len(list((cache.dir / "fragments").glob("*.parquet"))) < 4
    found, arr = FeatureCache(tmp_path, FP).get_many(keys)
    assert found.all()
    np.testing.assert_array_equal(arr, np.stack([_feature(k) for k in keys]))


def _writer(root: str, keys: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    cache = FeatureCache(root, FP, compact_after=5)
    order = rng.permutation(len(keys))
    for start in range(0, len(keys), 7):
        chunk = [keys[i] for i in order[start : start + 7]]
        cache.put_many(chunk, np.stack([_feature(k) for k in chunk]))


def test_concurrent_writers_keep_cache_valid(tmp_path: Path) -> None:
    keys = _keys(140)
    # overlapping halves: both processes write keys 40..99
    parts = [keys[:100], keys[40:]]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), part, seed)) for seed, part in enumerate(parts)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = FeatureCache(tmp_path, FP)
    found, arr = cache.get_many(keys)
    assert found.all()
    np.testing.assert_array_equal(arr, np.stack([_feature(k) for k in keys]))
    assert len(cache) == len(keys)
    cache.compact()
    assert FeatureCache(tmp_path, FP).get_many(keys)[0].all()
