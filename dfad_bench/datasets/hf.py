"""``hf:PATH_OR_NAME``: a Hugging Face dataset through ``datasets`` (optional extra ``[hf]``).

``PATH`` is a local folder (loaded as ``imagefolder``: one sub-folder per class, ``real`` for
pristine, or with a ``metadata.csv``), a ``.parquet`` file, or a folder of ``.parquet`` files;
anything else is taken as a hub name (needs internet; ``HF_DATASETS_OFFLINE=1`` fails at once).
Options: ``image`` (column with the image, default ``image``), ``generator`` (column with the
generator name or a class label, default ``label``), ``identity``, ``source_id``, ``split_hint``
(columns), ``split`` (comma-separated dataset splits to read, default all; a split named
train/val/validation/test becomes the ``split_hint``). Images whose file is under the folder
are used in place; others (Parquet bytes, hub downloads) are written once to the cache
(``<cache>/datasets/hf/<key>/``, named by their content hash, so a changed dataset never
reads a stale copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dfad_bench.atomic import write_bytes_atomic
from dfad_bench.datasets import DatasetAdapter
from dfad_bench.datasets.layout import Sample, build_adapted_manifest, canonical_name
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256
from dfad_bench.manifest import Manifest
from dfad_bench.paths import cache_dir

OPTIONS = {
    "image": "column with the image (default image)", "generator": "column with the generator (default label)",
    "identity": "column with the person", "source_id": "column with the source sample", "split_hint": "column with train/val/test",
    "split": "comma-separated splits to read (default all)",
}
_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}


def _load(ref: Path):
    try:
        import datasets
    except ImportError as exc:
        raise DfadError("the hf adapter needs the 'datasets' package: pip install 'dfad-bench[hf]'") from exc
    try:
        if ref.is_dir() and not any(ref.glob("*.parquet")):
            return datasets.load_dataset("imagefolder", data_dir=str(ref)), ref
        if ref.is_dir() or ref.suffix == ".parquet":
            files = sorted(str(p) for p in ref.glob("*.parquet")) if ref.is_dir() else [str(ref)]
            return datasets.load_dataset("parquet", data_files=files), None
        return datasets.load_dataset(str(ref)), None
    except (OSError, ValueError, FileNotFoundError) as exc:  # hub lookups offline, bad files
        raise DfadError(f"hf:{ref}: cannot load the dataset ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from exc


def _suffix(data: bytes) -> str:
    return ".png" if data[:4] == b"\x89PNG" else ".jpg" if data[:2] == b"\xff\xd8" else ".img"


def build(ref: Path, options: Mapping[str, str], source: str) -> Manifest:
    import datasets

    dsd, folder = _load(ref)
    image_col, gen_col = options.get("image", "image"), options.get("generator", "label")
    wanted = [s.strip() for s in options["split"].split(",")] if "split" in options else list(dsd)
    missing = [s for s in wanted if s not in dsd]
    if missing:
        raise DfadError(f"{source}: no split {missing[0]!r}; the dataset has {', '.join(dsd)}")
    store = cache_dir("datasets", "hf", sha256(f"{ref.resolve() if ref.exists() else ref}|{sorted(options.items())}".encode())[:16])
    samples: list[Sample] = []
    # An imagefolder's files are used in place (paths relative to it); anything else (Parquet
    # bytes, hub downloads) is written once to the cache and read from there.
    root = folder if folder is not None else store
    for split in wanted:
        ds = dsd[split]
        for col in (image_col, gen_col):
            if col not in ds.column_names:
                raise DfadError(f"{source}: split {split!r} has no column {col!r} (columns: {', '.join(ds.column_names)}); map it with --option")
        feature = ds.features[gen_col]
        names = feature.names if isinstance(feature, datasets.ClassLabel) else None
        ds = ds.cast_column(image_col, datasets.Image(decode=False))
        for i, row in enumerate(ds):
            img = row[image_col]
            if folder is not None:
                path = Path(img.get("path") or "").resolve()
                if not path.is_relative_to(folder.resolve()):
                    raise DfadError(f"{source}: image {path} lies outside the folder; copy it in or use a parquet export")
                rel = path.relative_to(folder.resolve()).as_posix()
            else:
                data = img["bytes"] if img.get("bytes") is not None else Path(img["path"]).read_bytes()
                rel = f"{split}/{i:08d}-{sha256(data)[:16]}{_suffix(data)}"  # content in the name: never a stale copy
                target = store / rel
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_bytes_atomic(target, data)
            label = row[gen_col]
            gen = canonical_name(names[label] if names is not None else str(label))
            col = {k: options[k] for k in ("identity", "source_id", "split_hint") if k in options}
            samples.append(Sample(rel, gen, identity=str(row[col["identity"]]) if "identity" in col else None,
                                  source_id=str(row[col["source_id"]]) if "source_id" in col else None,
                                  split_hint=str(row[col["split_hint"]]) if "split_hint" in col else _SPLITS.get(split)))
    return build_adapted_manifest(samples, root, source)


ADAPTER = DatasetAdapter(name="hf", description="Hugging Face dataset (local imagefolder/parquet, hub when online)", build=build, options=OPTIONS)
