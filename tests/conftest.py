import os
import subprocess
import sys

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


@pytest.fixture
def model_from_source(tmp_path, monkeypatch):
    """``model_from_source(module_name, source)``: write a plug-in module, import it (so a sealed
    child can import it too) and register its ``CARD`` for this test only; returns the module."""
    import importlib

    from dfad_bench.registry import MODELS

    added = []

    def load(module_name: str, source: str):
        (tmp_path / f"{module_name}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        sys.modules.pop(module_name, None)
        module = importlib.import_module(module_name)
        MODELS.register(module.CARD)
        added.append(module.CARD.name)
        return module

    yield load
    for name in reversed(added):
        MODELS.unregister(name)


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


@pytest.fixture
def interrupted_after_checkpoint():
    """``with interrupted_after_checkpoint(n=1): run(...)``: the run stops with KeyboardInterrupt right
    after its n-th training checkpoint is written, and the block expects exactly that (an in-process
    stand-in for a kill; tests/test_kill_resume.py does real SIGKILLs)."""
    from contextlib import contextmanager

    from dfad_bench.harness import training

    @contextmanager
    def interrupted(n: int = 1):
        original = training.save_checkpoint
        calls = {"n": 0}

        def save_then_stop(*args, **kwargs):
            original(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt("simulated kill after a checkpoint")

        training.save_checkpoint = save_then_stop
        try:
            with pytest.raises(KeyboardInterrupt):
                yield
        finally:
            training.save_checkpoint = original

    return interrupted


@pytest.fixture(scope="session")
def install_example(tmp_path_factory):
    """``install_example("dfad-bench-example-model")``: pip-installs ``examples/<name>`` into a
    temporary folder (the venv stays untouched) and returns an environment for subprocesses that
    see it, as an outside package installed next to dfad-bench."""

    def install(name: str) -> dict[str, str]:
        target = tmp_path_factory.mktemp("site")
        source = Path(__file__).resolve().parents[1] / "examples" / name
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target),
                        str(source)], check=True, capture_output=True)
        return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}

    return install
