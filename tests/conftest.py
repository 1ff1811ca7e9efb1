import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from dfad_bench.testing import toy_manifest, write_toy_images  # noqa: E402


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


@pytest.fixture(scope="session")
def make_toy_bench(tmp_path_factory):
    """``make_toy_bench(n_identities=30, images_per_identity=2, fakes_per_generator=16, size=24)``:
    a generated toy benchmark's manifest.parquet, built once per argument set per session."""
    built: dict[tuple, Path] = {}

    def make(n_identities: int = 30, images_per_identity: int = 2, fakes_per_generator: int = 16, size: int = 24,
             seed: int = 0) -> Path:
        key = (n_identities, images_per_identity, fakes_per_generator, size, seed)
        if key not in built:
            root = tmp_path_factory.mktemp("toybench")
            table = toy_manifest(n_identities=n_identities, images_per_identity=images_per_identity,
                                 fakes_per_generator=fakes_per_generator, seed=seed)
            write_toy_images(table, root, size=size, seed=seed)
            table.to_parquet(root / "manifest.parquet", index=False)
            built[key] = root / "manifest.parquet"
        return built[key]

    return make
