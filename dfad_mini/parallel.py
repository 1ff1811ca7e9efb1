"""One way to render in parallel: a chunk function mapped over jobs in a process pool, in order.

The builder, the generator trainers, clip-mini pretraining and gaze-mini training all render
faces in chunks. Each chunk seeds its own RNG (per identity and view, or per chunk seed), so the
result is the same serially or in any number of processes; only the start method differs by
caller (the builder forks: a spawned child re-imports an unguarded ``__main__``; the torch
trainers spawn: forking a process whose torch threads are running can deadlock).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


def map_chunks(fn: Callable[..., R], jobs: Sequence[Any], workers: int, start_method: str = "spawn",
               star: bool = False) -> list[R]:
    """``[fn(job) for job in jobs]`` (``fn(*job)`` with ``star``), in ``workers`` processes when
    there is more than one worker and more than one job; results in job order."""
    call = (lambda job: fn(*job)) if star else fn
    if workers <= 1 or len(jobs) <= 1:
        return [call(job) for job in jobs]
    if start_method not in multiprocessing.get_all_start_methods():
        start_method = "spawn"
    context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        if star:
            return list(pool.map(fn, *zip(*jobs, strict=True)))
        return list(pool.map(fn, jobs))
