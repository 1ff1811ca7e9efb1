"""Manifests: the table of samples of a benchmark (Parquet; CSV accepted), validated and hashed.

Schema (docs/DATASETS.md): required ``sample_id, path, generator, family, forgery_type, identity``;
optional ``source_id, split_hint, content_hash, caption`` and gaze ground truth
(``gaze_pitch, gaze_yaw, gaze_{left,right}_{pitch,yaw}``, radians); any other column is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from dfad_bench.errors import DfadError
from dfad_bench.taxonomy import REAL, Taxonomy, build_taxonomy

REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "path", "generator", "family", "forgery_type", "identity")
OPTIONAL_STRING_COLUMNS: tuple[str, ...] = ("source_id", "split_hint", "content_hash", "caption", "generator_description")
GAZE_COLUMNS: tuple[str, ...] = (
    "gaze_pitch",
    "gaze_yaw",
    "gaze_left_pitch",
    "gaze_left_yaw",
    "gaze_right_pitch",
    "gaze_right_yaw",
)
SPLIT_HINTS: tuple[str, ...] = ("train", "val", "test")
#: Columns that digest image bytes. They pin one copy of the images, not the samples: a
#: re-encoded copy, or a generated benchmark rebuilt on another CPU type (float rounding flips a
#: few pixels by one level), has other digests but the same samples, labels and splits.
BYTE_DIGEST_COLUMNS: tuple[str, ...] = ("content_hash",)


@dataclass(frozen=True, init=False)
class Manifest:
    """A validated manifest: the table, where its images live, its hash and taxonomy.

    ``hash`` is computed on first use (1.9 s of ``split``'s 8.2 s at 1M rows, which never reads
    it); a caller that already knows it (a table narrowed from a hashed manifest) passes it."""

    table: pd.DataFrame = field(repr=False)
    source: str
    root: Path
    taxonomy: Taxonomy = field(repr=False)
    #: Files a dataset adapter found but had to leave out (``sample_id``, ``path``, ``reason``:
    #: e.g. an unknown generator); the run reports them with the bad images.
    excluded: tuple[dict[str, str], ...] = field(default=(), repr=False)

    def __init__(self, table: pd.DataFrame, source: str, root: Path, taxonomy: Taxonomy,
                 excluded: tuple[dict[str, str], ...] = (), hash: str | None = None) -> None:
        for name, value in (("table", table), ("source", source), ("root", root), ("taxonomy", taxonomy), ("excluded", excluded)):
            object.__setattr__(self, name, value)
        if hash is not None:
            self.__dict__["hash"] = hash  # what the cached_property below would store

    @cached_property
    def hash(self) -> str:
        """:func:`manifest_hash` of the table."""
        return manifest_hash(self.table)

    @cached_property
    def samples_hash(self) -> str:
        """:func:`samples_hash` of the table: what leaderboards group runs by."""
        return samples_hash(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def image_path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table with a one-line error on failure."""
    path = Path(path)
    if not path.exists():
        raise DfadError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype={c: "string" for c in REQUIRED_COLUMNS + OPTIONAL_STRING_COLUMNS}, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DfadError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from exc
    raise DfadError(f"{path}: expected a .parquet or .csv file, got suffix {suffix!r}")


def _as_str_column(df: pd.DataFrame, col: str, where: str, allow_null: bool) -> pd.Series:
    s = df[col]
    nulls = s.isna()
    if not allow_null and nulls.any():
        row = int(np.flatnonzero(nulls.to_numpy())[0])
        raise DfadError(f"{where}: column {col!r} is empty in row {row} (sample_id={df['sample_id'].iloc[row]!r}); expected a non-empty string")
    out = s.astype("string")
    if not allow_null:
        blank = out.str.strip() == ""
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise DfadError(f"{where}: column {col!r} is blank in row {row}; expected a non-empty string")
    return out


def validate_manifest_table(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check a raw manifest table and return a normalised copy (string dtypes, canonical order)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DfadError(f"{where}: missing required column {missing[0]!r}; required columns are {list(REQUIRED_COLUMNS)}")
    if len(df) == 0:
        raise DfadError(f"{where}: manifest has no rows")
    df = df.copy()
    for col in REQUIRED_COLUMNS:
        df[col] = _as_str_column(df, col, where, allow_null=False)
    for col in OPTIONAL_STRING_COLUMNS:
        if col in df.columns:
            df[col] = _as_str_column(df, col, where, allow_null=True)
    dup = df["sample_id"].duplicated(keep=False)
    if dup.any():
        first = df.loc[dup, "sample_id"].iloc[0]
        raise DfadError(f"{where}: duplicate sample_id {first!r} ({int(dup.sum())} rows share ids); sample_id must be unique")
    for col in GAZE_COLUMNS:
        if col in df.columns:
            try:
                df[col] = pd.to_numeric(df[col], errors="raise").astype("float64")
            except (ValueError, TypeError) as exc:
                raise DfadError(f"{where}: column {col!r} must be numeric (radians), {exc}") from exc
    if "split_hint" in df.columns:
        bad = df["split_hint"].notna() & ~df["split_hint"].isin(SPLIT_HINTS)
        if bad.any():
            raise DfadError(f"{where}: column 'split_hint' has {df.loc[bad, 'split_hint'].iloc[0]!r}; expected one of {list(SPLIT_HINTS)} or empty")
    if "source_id" in df.columns:
        known = set(df["sample_id"])
        src = df["source_id"].dropna()
        unknown = src[~src.isin(known)]
        if len(unknown):
            raise DfadError(f"{where}: column 'source_id' refers to unknown sample_id {unknown.iloc[0]!r}")
    # Several pristine sources (e.g. 'celeba', 'ffhq') may coexist, all with family 'real'.
    real_rows = df["family"] == REAL
    if not real_rows.any():
        raise DfadError(f"{where}: no pristine samples (family 'real'); detection needs a real pool")
    return df.sort_values("sample_id", kind="stable").reset_index(drop=True)


#: Floats are hashed at fixed precision: rounded to this many decimal places, then written with
#: :data:`FLOAT_SIGNIFICANT_DIGITS` significant digits. Angles computed with libm or SIMD
#: trigonometry differ in the last bits from one CPU (or glibc build) to another (measured on
#: DFAD-Mini's gaze columns, with glibc's FMA code paths off: 41 values differ, by up to 17 ulp or
#: 1.1e-16 rad). Hashing ``repr`` made those bits part of the samples hash, so two machines with
#: the same samples disagreed. A perturbation of size e crosses a rounding boundary with
#: probability about e / 1e-9 per value: about 4e-6 for those 41 values.
FLOAT_DECIMALS = 9
FLOAT_SIGNIFICANT_DIGITS = 9


def canonical_float(value: float) -> str:
    """The text a float is hashed as: ``FLOAT_DECIMALS`` decimals, ``FLOAT_SIGNIFICANT_DIGITS``
    significant digits, no negative zero, integral values without a fraction (85.0 is written
    "85", as the integer 85 is, so a CSV and a Parquet copy of a manifest hash alike)."""
    v = float(value)
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    text = format(round(v, FLOAT_DECIMALS), f".{FLOAT_SIGNIFICANT_DIGITS}g")
    return "0" if text == "-0" else text


def canonical_float_value(value: float) -> float:
    """``value`` rounded the way :func:`canonical_float` writes it (what a builder stores)."""
    return float(canonical_float(value))


def _canonical_text(v: object) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return "" if np.isnan(v) else canonical_float(v)
    return str(v)


def manifest_hash(df: pd.DataFrame) -> str:
    """Stable content hash: rows sorted by sample_id, columns by name, values as canonical text
    (empty for missing, floats at fixed precision by :func:`canonical_float`), so neither the row
    order nor the last bits of a float (the CPU's floating-point paths) change it."""
    canon = df.sort_values("sample_id", kind="stable")[sorted(df.columns)]
    h = hashlib.sha256()
    h.update(("\x1f".join(canon.columns) + "\n").encode())
    text = canon.astype(object).where(canon.notna(), None)
    for row in text.itertuples(index=False, name=None):
        h.update(("\x1f".join(_canonical_text(v) for v in row) + "\n").encode())
    return h.hexdigest()


def samples_hash(df: pd.DataFrame) -> str:
    """:func:`manifest_hash` without the byte-digest columns: identifies the samples, their
    annotations and hence every split, whatever copy of the image bytes is at hand."""
    return manifest_hash(df.drop(columns=[c for c in BYTE_DIGEST_COLUMNS if c in df.columns]))


def build_manifest(df: pd.DataFrame, root: Path, source: str) -> Manifest:
    table = validate_manifest_table(df, source)
    desc = {}
    if "generator_description" in table.columns:
        desc = {g: d for g, d in table[["generator", "generator_description"]].dropna().itertuples(index=False)}
    taxonomy = build_taxonomy(
        table[["generator", "family", "forgery_type"]].drop_duplicates().itertuples(index=False, name=None), desc, source
    )
    return Manifest(table=table, source=source, root=Path(root), taxonomy=taxonomy)


def load_manifest(path: str | Path, root: str | Path | None = None, check_files: bool = False) -> Manifest:
    """Load and validate a manifest; image paths resolve against ``root`` (default: its folder)."""
    path = Path(path)
    manifest = build_manifest(read_table(path), Path(root) if root else path.parent, str(path))
    if check_files:
        check_manifest_files(manifest)
    return manifest


def check_manifest_files(manifest: Manifest) -> None:
    for sid, rel in manifest.table[["sample_id", "path"]].itertuples(index=False):
        p = manifest.image_path(rel)
        if not p.is_file():
            raise DfadError(f"{manifest.source}: image file for sample_id {sid!r} not found: {p}")
