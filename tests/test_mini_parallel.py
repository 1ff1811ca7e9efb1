"""dfad_mini.parallel.map_chunks: the one parallel-render helper gives the serial result, in order."""

from __future__ import annotations

import numpy as np
import pytest

from dfad_mini import renderer
from dfad_mini.parallel import map_chunks
from dfad_mini.zoo.data import _render_chunk


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_parallel_equals_serial_in_job_order(start_method: str) -> None:
    ids = renderer.sample_identities(6, 3, prefix="t")
    jobs = [(ids[i:i + 2], 2, 3) for i in range(0, 6, 2)]
    serial = map_chunks(_render_chunk, jobs, workers=1, star=True)
    parallel = map_chunks(_render_chunk, jobs, workers=2, start_method=start_method, star=True)
    assert len(parallel) == 3
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(serial[0], serial[1])  # different jobs, different images: order is checked


def test_single_argument_jobs_and_no_jobs() -> None:
    assert map_chunks(abs, [-1, -2, 3], workers=2) == [1, 2, 3]
    assert map_chunks(abs, [], workers=4) == []
