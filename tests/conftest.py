import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from dfad_bench.testing import toy_manifest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never touch the user's cache unless they set DFAD_BENCH_CACHE themselves.
    if "DFAD_BENCH_TEST_SHARED_CACHE" not in os.environ:
        monkeypatch.setenv("DFAD_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def toy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.csv"
    toy_manifest().to_csv(path, index=False)
    return path


@pytest.fixture
def register_temporarily():
    """``register_temporarily(REGISTRY, name, target)``: registered for this test only."""
    added = []

    def register(registry, name, target):
        registry.register(name, target)
        added.append((registry, name))
        return name

    yield register
    for registry, name in reversed(added):
        registry.unregister(name)
