"""Contact sheets of DFAD-Mini: one labelled row block per generator, for a person to look at."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from dfad_bench.atomic import write_with_atomic
from dfad_bench.errors import DfadError
from dfad_bench.manifest import read_table

LABEL_WIDTH = 200
TILE = 64


def _resolve(root_or_manifest: str | Path | None) -> tuple[pd.DataFrame, Path]:
    if root_or_manifest is None:
        from dfad_mini.build import ensure_mini_built

        path = ensure_mini_built()
    else:
        path = Path(root_or_manifest)
        if path.is_dir():
            path = path / "manifest.parquet"
    return read_table(path), path.parent


def _order(generators: list[str], families: dict[str, str]) -> list[str]:
    """Real first, then by family and name, so families sit together on the sheet."""
    return sorted(generators, key=lambda g: (g != "real", families.get(g, ""), g))


def write_preview(
    out_png: str | Path,
    root_or_manifest: str | Path | None = None,
    per_generator: int = 16,
    columns: int = 16,
    scale: int = 2,
    seed: int = 0,
) -> Path:
    """Write one PNG with ``per_generator`` random images of every generator in a manifest.

    ``root_or_manifest``: a manifest file, a benchmark folder, or None for the embedded
    DFAD-Mini (built if needed). Images are drawn with a fixed ``seed`` so sheets are comparable.
    """
    if per_generator < 1 or columns < 1 or scale < 1:
        raise DfadError(f"write_preview: per_generator, columns and scale must be >= 1, got {per_generator}, {columns}, {scale}")
    df, base = _resolve(root_or_manifest)
    families = dict(zip(df["generator"], df["family"], strict=False))
    types = dict(zip(df["generator"], df["forgery_type"], strict=False))
    gens = _order(sorted(df["generator"].unique()), families)
    cols = min(columns, per_generator)
    rows_per_gen = math.ceil(per_generator / cols)
    tile = TILE * scale
    sheet = Image.new("RGB", (LABEL_WIDTH + cols * tile, len(gens) * rows_per_gen * tile + 4 * len(gens)), "white")
    draw = ImageDraw.Draw(sheet)
    rng = np.random.default_rng(seed)
    y = 0
    for g in gens:
        sub = df[df["generator"] == g].sort_values("sample_id")
        pick = sub.iloc[np.sort(rng.choice(len(sub), size=min(per_generator, len(sub)), replace=False))]
        draw.text((8, y + 8), g, fill="black")
        draw.text((8, y + 26), f"{families[g]} / {types[g]}", fill=(90, 90, 90))
        draw.text((8, y + 44), f"{len(sub)} images", fill=(90, 90, 90))
        for k, rel in enumerate(pick["path"]):
            p = Path(rel) if Path(rel).is_absolute() else base / rel
            try:
                with Image.open(p) as im:
                    img = im.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)
            except OSError as exc:
                raise DfadError(f"write_preview: cannot read image {p} ({type(exc).__name__}: {exc})") from exc
            sheet.paste(img, (LABEL_WIDTH + (k % cols) * tile, y + (k // cols) * tile))
        y += rows_per_gen * tile + 4
    out = Path(out_png)
    write_with_atomic(out, lambda tmp: sheet.save(tmp, format="PNG"))
    return out


def write_render_sheet(out_png: str | Path, n: int = 64, seed: int = 0, columns: int = 8, scale: int = 2) -> Path:
    """A contact sheet of fresh renders of the TRAINING pool (no benchmark build needed)."""
    from dfad_mini.renderer import render_training_set

    images = render_training_set(n, seed=seed).images
    rows = math.ceil(n / columns)
    tile = TILE * scale
    sheet = Image.new("RGB", (columns * tile, rows * tile), "white")
    for k, img in enumerate(images):
        sheet.paste(Image.fromarray(img).resize((tile, tile), Image.Resampling.NEAREST),
                    ((k % columns) * tile, (k // columns) * tile))
    out = Path(out_png)
    write_with_atomic(out, lambda tmp: sheet.save(tmp, format="PNG"))
    return out
