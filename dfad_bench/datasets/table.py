"""``table:FILE``: a CSV or Parquet table in the dataset's own column names.

Options map manifest columns to the table's columns (``path=file_name``, ``generator=method``;
unmapped columns are looked up by their own name) and ``images=FOLDER`` sets the folder paths
resolve against (default: the table's folder). Only ``path`` and ``generator`` are needed:
``sample_id`` defaults to the path, ``identity`` to a per-image id, ``family``/``forgery_type``
to ``generators.yaml`` beside the images or the catalogue. Use one with
``dfad-bench benchmarks add NAME table FILE --option path=file_name --option generator=method``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import GeneratorDecl, Sample, build_adapted_manifest, canonical_name
from dfad_bench.errors import DfadError
from dfad_bench.manifest import read_table
from dfad_bench.taxonomy import REAL

COLUMNS = ("sample_id", "path", "generator", "family", "forgery_type", "identity", "source_id", "split_hint")
OPTIONS = {c: f"the table's column holding {c}" for c in COLUMNS} | {"images": "folder image paths resolve against"}


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA or str(v).strip() == "" else str(v)


def build(file: Path, options: Mapping[str, str], source: str):
    df = read_table(file)
    cols = {c: options.get(c, c) for c in COLUMNS}
    for need in ("path", "generator"):
        if cols[need] not in df.columns:
            raise DfadError(f"{file}: no column {cols[need]!r} for {need}; map it with --option {need}=<column> (columns: {', '.join(map(str, df.columns))})")
    root = Path(options["images"]).expanduser() if "images" in options else file.parent
    has = {c: cols[c] in df.columns for c in COLUMNS}
    known: dict[str, GeneratorDecl] = {}
    samples = []
    for i, row in enumerate(df.to_dict("records")):
        path = _text(row[cols["path"]])
        gen = _text(row[cols["generator"]])
        if path is None or gen is None:
            raise DfadError(f"{file}: row {i} has an empty {'path' if path is None else 'generator'} ({cols['path' if path is None else 'generator']!r})")
        gen = canonical_name(gen)
        if has["family"] and has["forgery_type"] and gen != REAL:
            decl = GeneratorDecl(str(row[cols["family"]]), str(row[cols["forgery_type"]]))
            if known.setdefault(gen, decl) != decl:
                raise DfadError(f"{file}: generator {gen!r} appears with two taxonomies ({known[gen].family}/{known[gen].forgery_type} and {decl.family}/{decl.forgery_type})")
        extra = {"sample_id": _text(row[cols["sample_id"]]) or path} if has["sample_id"] else {}
        samples.append(Sample(path, gen,
                              identity=_text(row[cols["identity"]]) if has["identity"] else None,
                              source_id=_text(row[cols["source_id"]]) if has["source_id"] else None,
                              split_hint=_text(row[cols["split_hint"]]) if has["split_hint"] else None, extra=extra))
    return build_adapted_manifest(samples, root, source, known=known)


ADAPTER = DatasetAdapter(name="table", description="CSV/Parquet table with a column mapping", build=build, options=OPTIONS)
