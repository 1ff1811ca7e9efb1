"""The one place that resolves data, cache and results roots (no hard-coded paths elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "dfad-bench"


def cache_root() -> Path:
    """Root of all caches (mini benchmark, feature caches, fetched assets).

    ``DFAD_BENCH_CACHE`` overrides the platformdirs user cache directory.
    """
    env = os.environ.get("DFAD_BENCH_CACHE")
    root = Path(env) if env else Path(platformdirs.user_cache_dir(APP_NAME))
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_root() -> Path:
    """User settings (declared benchmarks). ``DFAD_BENCH_CONFIG`` overrides the platformdirs user
    config directory."""
    env = os.environ.get("DFAD_BENCH_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME))


def default_results_dir() -> Path:
    return Path(os.environ.get("DFAD_BENCH_RESULTS", "results"))
