"""Pictures of a training run: sample grids and loss curves (PNG, written atomically)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dfad_bench.atomic import write_with_atomic


def save_grid(images: np.ndarray, path: Path, cols: int = 8, scale: int = 2) -> Path:
    from PIL import Image

    n = len(images)
    rows = math.ceil(n / cols)
    canvas = np.full((rows * 64, cols * 64, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64] = img
    pil = Image.fromarray(canvas)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    write_with_atomic(path, lambda tmp: pil.save(tmp, format="PNG"))
    return path


def save_curve_plot(curves: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        pts = curves[name]
        for key in sorted({k for p in pts for k in p if k != "step"}):
            ax.plot([p["step"] for p in pts if key in p], [p[key] for p in pts if key in p], label=key, lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    write_with_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)
    return path
