"""The one skeleton of DFAD-Mini's three offline trainers (the generator zoo, clip-mini, gaze-mini):
a step counter and a training clock that survive a resume, a stop at a step count or a time
budget, checkpoints written atomically (every N steps and at the end), then the export.

A trainer supplies its step (:meth:`BudgetedTrainer.train_step`), what its checkpoint holds
(:meth:`~BudgetedTrainer.state` / :meth:`~BudgetedTrainer.load_state`, which also carry
``step`` and ``trained_s`` under the trainer's own keys, so checkpoints written before this
module existed still resume) and its export; the loop is here.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from dfad_bench.atomic import write_with_atomic


class BudgetedTrainer(ABC):
    """Train until ``steps`` optimiser steps or ``time_budget_s`` seconds, whichever comes first.

    The clock is the training loop's wall time (steps, logging, periodic checkpoints). With
    :attr:`budget_spans_resumes` the budget bounds the time summed over resumes (clip-mini,
    gaze-mini: "train for 150 s"); without it every invocation gets the whole budget again (the
    generator zoo: "resume for 620 s more").
    """

    budget_spans_resumes: bool = True
    #: The label of log lines.
    label: str = "trainer"

    def __init__(self, ckpt_path: Path, *, steps: int | None, time_budget_s: float | None, checkpoint_every: int,
                 log: Callable[[str], None] = print) -> None:
        self.ckpt_path = Path(ckpt_path)
        self.max_steps = int(steps) if steps is not None else None
        self.time_budget_s = float(time_budget_s) if time_budget_s is not None else None
        self.checkpoint_every = int(checkpoint_every)
        self.log = log
        self.step = 0
        self.trained_s = 0.0  # training seconds, summed over resumes
        self._trained_before = 0.0
        self._session_start: float | None = None

    # -- what a trainer supplies ------------------------------------------------------
    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs, ``step`` and ``trained_s`` included (own key names)."""

    @abstractmethod
    def load_state(self, ckpt: Mapping[str, Any]) -> None:
        """The inverse of :meth:`state`; sets ``self.step`` and ``self.trained_s``."""

    @abstractmethod
    def train_step(self) -> None:
        """One optimiser step (the base counts it)."""

    def after_step(self, last: bool) -> None:  # noqa: B027 - optional hook
        """Bookkeeping after step ``self.step`` (loss curve, log lines); ``last``: the loop ends here."""

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return torch.load(path, map_location="cpu", weights_only=True)

    def accepts(self, ckpt: Mapping[str, Any]) -> bool:
        """Whether a found checkpoint belongs to this run (else it starts fresh)."""
        return True

    def export(self) -> Any:
        """Write the trained weights (called by :meth:`run`)."""
        raise NotImplementedError(f"{type(self).__name__} exports elsewhere")

    # -- the loop -------------------------------------------------------------------------
    def session_seconds(self) -> float:
        return 0.0 if self._session_start is None else time.perf_counter() - self._session_start

    def progress(self) -> float:
        """How much of the step count or the time budget is used, whichever is further (0..1+)."""
        parts = [0.0]
        if self.max_steps:
            parts.append(self.step / self.max_steps)
        if self.time_budget_s is not None:
            spent = self.trained_s if self.budget_spans_resumes else self.session_seconds()
            parts.append(spent / self.time_budget_s if self.time_budget_s > 0 else math.inf)
        return max(parts)

    def out_of_steps(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    def out_of_time(self) -> bool:
        if self.time_budget_s is None:
            return False
        return (self.trained_s if self.budget_spans_resumes else self.session_seconds()) >= self.time_budget_s

    def resume(self) -> bool:
        """Load the checkpoint when there is one and it belongs to this run."""
        if not self.ckpt_path.is_file():
            return False
        ckpt = self.read_checkpoint(self.ckpt_path)
        if not self.accepts(ckpt):
            self.log(f"[{self.label}] checkpoint {self.ckpt_path} belongs to another configuration: starting fresh")
            return False
        self.load_state(ckpt)
        self.log(f"[{self.label}] resumed from {self.ckpt_path} at step {self.step} ({self.trained_s:.0f} s trained)")
        return True

    def save_checkpoint(self) -> None:
        state = self.state()
        write_with_atomic(self.ckpt_path, lambda tmp: torch.save(state, tmp))

    def fit(self) -> str:
        """Train from where the checkpoint stopped; returns why it stopped: ``"steps"``,
        ``"time"``, or ``"done"`` (nothing left to do; no checkpoint is written then)."""
        # A per-invocation budget is whole again at each start (so even a zero budget trains one step).
        if self.out_of_steps() or (self.budget_spans_resumes and self.out_of_time()):
            return "done"
        self._trained_before = self.trained_s
        self._session_start = time.perf_counter()
        while True:
            self.train_step()
            self.step += 1
            self.trained_s = self._trained_before + self.session_seconds()
            timed_out = self.out_of_time()
            last = timed_out or self.out_of_steps()
            self.after_step(last)
            if last:
                break
            if self.step % self.checkpoint_every == 0:
                self.save_checkpoint()
        self.trained_s = self._trained_before + self.session_seconds()
        self.save_checkpoint()
        return "time" if timed_out else "steps"

    def run(self, resume: bool = True) -> Any:
        """Resume (when asked), train, checkpoint, export."""
        if resume:
            self.resume()
        self.fit()
        return self.export()
