"""Per-sample feature cache keyed by (content hash, encoder fingerprint), safe under concurrent writers.

Layout under ``root/<sha256(fingerprint)[:24]>/``::

    meta.json                 fingerprint, feature dim and dtype (written once)
    shards/<seq>-<uuid>.npy   one array per ``put_many`` call, written atomically
    fragments/<seq>-<uuid>.parquet   its index rows: key, shard, row, shard sha256, seq
    index.parquet             fragments merged by compaction (under the lock)
    .lock                     filelock for compaction, index loading and meta

A writer writes its shard, then its fragment (both atomic, unique names: no lock needed), so an
index row never points at a half-written shard. Readers load the index (key -> shard, row) and
memory-map only the shards that hold the keys asked for. A shard whose bytes do not match the
sha256 recorded at write time is reported with a warning, deleted, and its keys count as missing.
The latest write of a key wins.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from dfad_bench.atomic import write_bytes_atomic, write_json_atomic, write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256

_INDEX_COLUMNS = ("key", "shard", "row", "sha256", "seq")


class FeatureCache:
    """Feature vectors of one encoder (``encoder_fingerprint``), one row per content hash.

    ``root=None`` uses ``dfad_bench.paths.cache_dir("features")``; each fingerprint gets its own folder.
    """

    def __init__(
        self,
        root: str | Path | None,
        encoder_fingerprint: str,
        dtype: str = "float32",
        compact_after: int = 64,
    ) -> None:
        if not encoder_fingerprint:
            raise DfadError("FeatureCache: encoder_fingerprint must be a non-empty string")
        if root is None:
            from dfad_bench.paths import cache_dir

            root = cache_dir("features")
        self.fingerprint = encoder_fingerprint
        self.dtype = np.dtype(dtype)
        self.compact_after = int(compact_after)
        slug = hashlib.sha256(encoder_fingerprint.encode()).hexdigest()[:24]
        self.dir = Path(root) / slug
        self._shards = self.dir / "shards"
        self._fragments = self.dir / "fragments"
        self._index_file = self.dir / "index.parquet"
        self._meta_file = self.dir / "meta.json"
        self._shards.mkdir(parents=True, exist_ok=True)
        self._fragments.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.dir / ".lock"))
        self._index = pd.DataFrame(columns=list(_INDEX_COLUMNS)).set_index("key")
        self._state: tuple[int, frozenset[str]] | None = None
        self._verified: dict[str, tuple[int, int]] = {}
        self._dim: int | None = None
        self._read_meta()

    # ------------------------------------------------------------------ metadata
    @property
    def dim(self) -> int | None:
        return self._dim

    def _read_meta(self) -> None:
        if not self._meta_file.is_file():
            return
        try:
            meta = json.loads(self._meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DfadError(f"{self._meta_file}: unreadable feature cache metadata ({exc}); delete {self.dir} to rebuild") from exc
        if meta.get("fingerprint") != self.fingerprint:
            raise DfadError(f"{self._meta_file}: holds fingerprint {meta.get('fingerprint')!r}, expected {self.fingerprint!r}")
        if np.dtype(meta.get("dtype", "float32")) != self.dtype:
            raise DfadError(f"{self._meta_file}: cache dtype is {meta.get('dtype')}, opened with {self.dtype}")
        self._dim = int(meta["dim"])

    def _ensure_meta(self, dim: int) -> None:
        if self._dim is None:
            with self._lock:
                self._read_meta()
                if self._dim is None:
                    write_json_atomic(self._meta_file, {"fingerprint": self.fingerprint, "dim": dim, "dtype": self.dtype.name})
                    self._dim = dim
        if dim != self._dim:
            raise DfadError(f"feature cache {self.dir}: features have dim {dim}, the cache holds dim {self._dim}")

    # ------------------------------------------------------------------ index
    def _disk_state(self) -> tuple[int, frozenset[str]]:
        try:
            index_mtime = self._index_file.stat().st_mtime_ns
        except FileNotFoundError:
            index_mtime = 0
        return index_mtime, frozenset(p.name for p in self._fragments.glob("*.parquet"))

    def _refresh(self) -> None:
        """Reload the index only when another writer or a compaction changed it."""
        if self._state == self._disk_state():
            return
        with self._lock:
            state = self._disk_state()
            parts = [pd.read_parquet(self._index_file)] if self._index_file.is_file() else []
            parts += [pd.read_parquet(self._fragments / name) for name in sorted(state[1])]
        self._index = _merge(parts)
        self._state = state

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        self._refresh()
        return key in self._index.index

    # ------------------------------------------------------------------ read
    def _shard_ok(self, shard: str, sha: str) -> str:
        """'' when the shard's bytes match their recorded sha256, else the reason."""
        path = self._shards / shard
        try:
            st = path.stat()
        except FileNotFoundError:
            return "file is missing"
        if self._verified.get(shard) == (st.st_size, st.st_mtime_ns):
            return ""
        actual = sha256(path)
        if actual != sha:
            return f"sha256 {actual[:12]}... != recorded {sha[:12]}..."
        self._verified[shard] = (st.st_size, st.st_mtime_ns)
        return ""

    def _drop_shard(self, shard: str, reason: str, n_keys: int) -> None:
        warnings.warn(
            f"feature cache {self.dir}: shard {shard} is corrupt ({reason}); its {n_keys} entries will be recomputed",
            RuntimeWarning,
            stacklevel=3,
        )
        with self._lock:
            (self._shards / shard).unlink(missing_ok=True)
        self._index = self._index[self._index["shard"] != shard]
        self._verified.pop(shard, None)

    def get_many(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask (n,), features (n, dim)); rows of missing keys are NaN (dim 0 for an empty cache)."""
        keys = list(keys)
        self._refresh()
        n = len(keys)
        out = np.full((n, self._dim or 0), np.nan, dtype=self.dtype)
        found = np.zeros(n, dtype=bool)
        if n == 0 or self._index.empty:
            return found, out
        hits = self._index.reindex(keys)
        present = hits["shard"].notna().to_numpy()
        positions = np.flatnonzero(present)
        for shard, group in hits.iloc[positions].assign(_pos=positions).groupby("shard", sort=False):
            reason = self._shard_ok(str(shard), str(group["sha256"].iloc[0]))
            if not reason:
                try:
                    data = np.load(self._shards / str(shard), mmap_mode="r", allow_pickle=False)
                    rows = group["row"].to_numpy(dtype=np.int64)
                    if data.ndim != 2 or data.shape[1] != self._dim or rows.max() >= data.shape[0]:
                        reason = f"shape {data.shape} does not fit dim {self._dim} and row {rows.max()}"
                    else:
                        out[group["_pos"].to_numpy()] = data[rows]
                        found[group["_pos"].to_numpy()] = True
                except (OSError, ValueError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
            if reason:
                self._drop_shard(str(shard), reason, len(group))
        return found, out

    # ------------------------------------------------------------------ write
    def put_many(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Store one feature row per key (a key written twice keeps its latest row)."""
        keys = [str(k) for k in keys]
        arr = np.asarray(features)
        if arr.ndim != 2 or arr.shape[0] != len(keys):
            raise DfadError(f"feature cache put_many: expected features of shape ({len(keys)}, dim), got {arr.shape}")
        if not len(keys):
            return
        self._ensure_meta(int(arr.shape[1]))
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        payload = buf.getvalue()
        seq = time.time_ns()
        stem = f"{seq:020d}-{uuid.uuid4().hex[:12]}"
        shard = f"{stem}.npy"
        write_bytes_atomic(self._shards / shard, payload)
        rows = pd.DataFrame(
            {
                "key": keys,
                "shard": shard,
                "row": np.arange(len(keys), dtype=np.int64),
                "sha256": sha256(payload),
                "seq": np.int64(seq),
            }
        )
        fragment = f"{stem}.parquet"
        known = self._state
        write_with_atomic(self._fragments / fragment, lambda tmp: rows.to_parquet(tmp, index=False))
        st = (self._shards / shard).stat()
        self._verified[shard] = (st.st_size, st.st_mtime_ns)
        disk = self._disk_state()
        if known is not None and known == (disk[0], disk[1] - {fragment}):
            # Only our own fragment changed the disk: extend the in-memory index instead of reloading.
            self._index = _merge([self._index, rows])
            self._state = disk
        if len(disk[1]) >= self.compact_after:
            self.compact()

    def compact(self) -> None:
        """Merge fragments into index.parquet; drop rows of shards that no longer exist."""
        with self._lock:
            names = sorted(p.name for p in self._fragments.glob("*.parquet"))
            parts = [pd.read_parquet(self._index_file)] if self._index_file.is_file() else []
            parts += [pd.read_parquet(self._fragments / name) for name in names]
            merged = _merge(parts)
            existing = {p.name for p in self._shards.glob("*.npy")}
            merged = merged[merged["shard"].isin(existing)]
            table = merged.reset_index()
            write_with_atomic(self._index_file, lambda tmp: table.to_parquet(tmp, index=False))
            for name in names:
                (self._fragments / name).unlink(missing_ok=True)
            self._index = merged
            self._state = self._disk_state()

    def encode_cached(
        self,
        keys: Sequence[str],
        compute_fn: Callable[[list[int]], np.ndarray],
        batch_size: int = 256,
    ) -> np.ndarray:
        """Features for every key, calling ``compute_fn`` only for keys not in the cache.

        ``compute_fn(positions)`` gets positions into ``keys`` (one per distinct missing key, at most
        ``batch_size`` at a time) and returns an array (len(positions), dim). Returns (len(keys), dim).
        """
        keys = [str(k) for k in keys]
        found, out = self.get_many(keys)
        where: dict[str, list[int]] = {}
        for pos in np.flatnonzero(~found):
            where.setdefault(keys[pos], []).append(int(pos))
        todo = [positions[0] for positions in where.values()]
        from dfad_bench.progress import progress_bar

        # A bar on stderr when it is a terminal (off with --quiet): cold encoding is the long part.
        with progress_bar(f"encoding {len(todo)} images", len(todo)) as advance:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start : start + batch_size]
                feats = np.asarray(compute_fn(chunk))
                if feats.ndim != 2 or feats.shape[0] != len(chunk):
                    raise DfadError(
                        f"encode_cached: compute_fn returned shape {feats.shape} for {len(chunk)} positions; expected ({len(chunk)}, dim)"
                    )
                chunk_keys = [keys[p] for p in chunk]
                self.put_many(chunk_keys, feats)
                if out.shape[1] == 0:  # the cache was empty: now the dim is known
                    out = np.full((len(keys), feats.shape[1]), np.nan, dtype=self.dtype)
                for key, row in zip(chunk_keys, feats.astype(self.dtype, copy=False), strict=True):
                    out[where[key]] = row
                advance(len(chunk))
        return out


def _merge(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate index parts; for a key written more than once keep the latest (largest seq)."""
    parts = [p.reset_index() if "key" not in p.columns else p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(_INDEX_COLUMNS)).set_index("key")
    table = pd.concat([p[list(_INDEX_COLUMNS)] for p in parts], ignore_index=True)
    table = table.sort_values("seq", kind="stable").drop_duplicates("key", keep="last")
    return table.set_index("key")
