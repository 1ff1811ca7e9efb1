"""The one time-budgeted trainer base of DFAD-Mini's offline trainers (dfad_mini/budget.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dfad_mini.budget import BudgetedTrainer


class Counter(BudgetedTrainer):
    """Adds 1 per step; remembers the steps at which a checkpoint was written."""

    def __init__(self, path: Path, spans: bool = True, step_s: float = 0.0, **kw: Any) -> None:
        super().__init__(path, log=lambda _m: None, **kw)
        self.budget_spans_resumes = spans
        self.total, self.saved_at, self.step_s = 0, [], step_s

    def state(self) -> dict[str, Any]:
        self.saved_at.append(self.step)
        return {"n": self.step, "secs": self.trained_s, "total": self.total}

    def load_state(self, ckpt: Any) -> None:
        self.step, self.trained_s, self.total = ckpt["n"], ckpt["secs"], ckpt["total"]

    def train_step(self) -> None:
        self.total += 1
        if self.step_s:
            import time

            time.sleep(self.step_s)

    def export(self) -> int:
        return self.total


def test_steps_checkpoints_and_resume(tmp_path: Path) -> None:
    ckpt = tmp_path / "c.pt"
    first = Counter(ckpt, steps=5, time_budget_s=None, checkpoint_every=2)
    assert first.fit() == "steps" and first.total == 5
    assert first.saved_at == [2, 4, 5]  # every 2 steps, and at the end (not twice at a boundary)
    second = Counter(ckpt, steps=8, time_budget_s=None, checkpoint_every=100)
    assert second.run() == 8 and second.step == 8  # resumed at 5, three more steps
    done = Counter(ckpt, steps=8, time_budget_s=None, checkpoint_every=100)
    assert done.resume() and done.fit() == "done" and done.saved_at == []


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path: Path) -> None:
    ckpt = tmp_path / "c.pt"
    Counter(ckpt, steps=3, time_budget_s=None, checkpoint_every=10).fit()

    class Picky(Counter):
        def accepts(self, ckpt: Any) -> bool:
            return False

    picky = Picky(ckpt, steps=3, time_budget_s=None, checkpoint_every=10)
    assert not picky.resume() and picky.step == 0


@pytest.mark.parametrize("spans", [True, False])
def test_time_budget_summed_over_resumes_or_per_invocation(tmp_path: Path, spans: bool) -> None:
    ckpt = tmp_path / "c.pt"
    first = Counter(ckpt, spans=spans, step_s=0.02, steps=10_000, time_budget_s=0.1, checkpoint_every=10_000)
    assert first.fit() == "time" and 0 < first.step < 10_000 and first.trained_s >= 0.1
    again = Counter(ckpt, spans=spans, step_s=0.02, steps=10_000, time_budget_s=0.1, checkpoint_every=10_000)
    again.resume()
    if spans:  # the budget is spent: nothing more to train
        assert again.fit() == "done" and again.step == first.step
    else:  # each invocation gets the budget again
        assert again.fit() == "time" and again.step > first.step
