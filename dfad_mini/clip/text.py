"""The captions clip-mini trains on and their hard negatives: each caption with one attribute
swapped (gaze left<->right or up<->down, glasses on/off, woman<->man), as NegCLIP does."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def build_text_table(captions: Sequence[str], hard_negatives: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """All distinct texts (captions and their attribute swaps), each caption's text id, and per text
    id the ids of its swapped variants (-1 where a swap does not apply)."""
    ids: dict[str, int] = {}
    cap_ids = np.array([ids.setdefault(c, len(ids)) for c in captions], dtype=np.int64)
    swaps: dict[int, list[int]] = {}
    if hard_negatives:
        for caption, tid in list(ids.items()):
            variants = [swap(caption) for swap in SWAPS.values()]
            swaps[tid] = [ids.setdefault(v, len(ids)) if v and v != caption else -1 for v in variants]
    table = np.full((len(ids), len(SWAPS)), -1, dtype=np.int64)
    for tid, row in swaps.items():
        table[tid] = row
    return list(ids), cap_ids, table


def _swap_words(text: str, a: str, b: str) -> str:
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


def _swap_gaze(text: str, a: str, b: str) -> str:
    """Swap ``a``/``b`` inside the "looking ..." phrase only (not in "head turned ...")."""
    head, sep, tail = text.partition("looking ")
    if not sep:
        return ""
    phrase, comma, rest = tail.partition(",")
    swapped = _swap_words(phrase, a, b)
    return f"{head}{sep}{swapped}{comma}{rest}" if swapped != phrase else ""


def _swap_glasses(text: str) -> str:
    for frame in ("round", "square", "rectangular"):
        if f", {frame} glasses" in text:
            return text.replace(f", {frame} glasses", "")
    return text.replace(", looking", ", round glasses, looking", 1)


SWAPS = {
    "gaze_left_right": lambda t: _swap_gaze(t, "to the left", "to the right"),
    "gaze_up_down": lambda t: _swap_gaze(t, "up", "down"),
    "glasses": _swap_glasses,
    "sex": lambda t: _swap_words(t, " woman ", " man "),
}
