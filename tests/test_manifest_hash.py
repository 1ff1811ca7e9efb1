"""The samples hash is canonical: the same on any CPU (float last bits), in any row order.

A DFAD-Mini built on another machine differs from the committed build only in the last bits of
its computed angles (libm/SIMD trigonometry) and in image bytes; neither may move it off the board.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dfad_bench.manifest import canonical_float, manifest_hash, samples_hash
from dfad_bench.testing import toy_manifest

ANGLES = ("gaze_pitch", "gaze_yaw", "head_yaw", "edit_strength")


def _with_floats() -> pd.DataFrame:
    df = toy_manifest().assign(content_hash=lambda d: [f"{i:064x}" for i in range(len(d))])
    rng = np.random.default_rng(0)
    for col in ANGLES:
        # trig results, as a renderer computes them; some exactly zero, some tiny (cancellation)
        values = np.sin(rng.uniform(-1.2, 1.2, len(df)))
        values[::7] = 0.0
        values[3::11] = 1e-17
        df[col] = values
    df.loc[df.index[::5], "gaze_yaw"] = np.nan  # missing for fakes
    return df


def _float_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if df[c].dtype.kind == "f"]


def _nudge(df: pd.DataFrame, ulps: int) -> pd.DataFrame:
    """Every float moved ``ulps`` units in the last place (alternately up and down)."""
    out = df.copy()
    for col in _float_columns(df):
        v = out[col].to_numpy().copy()
        for i in range(len(v)):
            toward = np.inf if (i + ulps) % 2 else -np.inf
            for _ in range(ulps):
                v[i] = np.nextafter(v[i], toward)
        out[col] = v
    return out


@pytest.mark.parametrize("ulps", [1, 4, 17])
def test_last_bit_float_noise_and_row_order_keep_the_hashes(ulps: int) -> None:
    df = _with_floats()
    assert len(_float_columns(df)) == len(ANGLES)
    moved = _nudge(df, ulps).sample(frac=1, random_state=ulps)
    changed = (moved.sort_index()[list(ANGLES)].to_numpy() != df[list(ANGLES)].to_numpy()) & df[list(ANGLES)].notna().to_numpy()
    assert changed.mean() > 0.9  # the perturbation really changed the bits
    assert samples_hash(moved) == samples_hash(df)
    assert manifest_hash(moved) == manifest_hash(df)


def test_the_old_repr_hash_would_have_moved() -> None:
    """Control: hashing repr (the mini-v2 rule) sees a one-ulp change, so the test above can fail."""
    df = _with_floats()
    moved = _nudge(df, 1)
    assert [repr(v) for v in df["gaze_pitch"]] != [repr(v) for v in moved["gaze_pitch"]]


def test_a_label_or_a_real_annotation_change_moves_the_samples_hash() -> None:
    df = _with_floats()
    relabelled = df.copy()
    fake = df.index[df["generator"] != "real"][0]
    other = next(g for g in df["generator"].unique() if g not in ("real", df.at[fake, "generator"]))
    relabelled.at[fake, "generator"] = other
    assert samples_hash(relabelled) != samples_hash(df)
    moved_angle = df.copy()
    moved_angle.at[df.index[1], "gaze_pitch"] = df.at[df.index[1], "gaze_pitch"] + 1e-6  # a real change
    assert samples_hash(moved_angle) != samples_hash(df)
    renamed = df.copy()
    renamed.at[df.index[2], "sample_id"] = "renamed"
    assert samples_hash(renamed) != samples_hash(df)


def test_image_bytes_do_not_enter_the_samples_hash() -> None:
    df = _with_floats()
    recopied = df.assign(content_hash=lambda d: [f"{i + 7:064x}" for i in range(len(d))])
    assert manifest_hash(recopied) != manifest_hash(df)
    assert samples_hash(recopied) == samples_hash(df)


@pytest.mark.parametrize(
    "value, text",
    [(85.0, "85"), (-0.0, "0"), (-1e-17, "0"), (0.1 + 0.2, "0.3"), (1 / 3, "0.333333333"),
     (123456.7890123, "123456.789"), (float("inf"), "inf")],
)
def test_canonical_float_text(value: float, text: str) -> None:
    assert canonical_float(value) == text


def test_integral_floats_hash_like_integers() -> None:
    """A CSV round trip may read a float column of whole numbers back as integers."""
    df = toy_manifest().assign(jpeg_quality=85.0)
    assert samples_hash(df) == samples_hash(df.assign(jpeg_quality=85))
