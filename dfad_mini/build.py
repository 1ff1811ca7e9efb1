"""Build (and verify) the DFAD-Mini benchmark: pristine renders + 8 generators' fakes.

``build_mini`` renders the benchmark identity pool (``mini-id-*``, disjoint from the generators'
``train-id-*`` pool), samples every entire-face-synthesis generator, builds the face swaps
(mini-resgan donors onto pristine targets) and eye edits (mini-ddpm SDEdit of pristine eye
regions), writes every image through :func:`dfad_mini.finalize.finalize_image`, then a
Parquet manifest and a ``build.json`` provenance record. The build happens in a temporary
folder that is renamed into place only when complete, under a file lock.

Label-free names (since mini-v3): sample ids, file names and identities carry no label. Every
sample gets an index from one seeded shuffle over ALL samples (``m3-004821``,
``images/004821.png``), so neither a name nor an index range tells the generator; identities
(pristine persons and each entire-face fake's own) are renamed ``id-00137`` by a second shuffle;
``source_id`` names the pristine sample by its new id. Only the manifest knows the generator.
The shuffles are keyed by the build seed, which is public: code that re-runs the builder could
recompute them, which is why ``submit`` hands models opaque per-run ids, never these names.
Names are never derived from image content: content differs across CPUs (see below).

Determinism: images depend only on the committed weights, the seed and the code version.
Sampling runs with ``torch.manual_seed`` and a fixed thread count
(:data:`SAMPLING_THREADS`); every generated image has its own seeded noise stream. Bytes are
reproducible on the same machine and software; another CPU (other SIMD paths) may change
generated pixels in the last bit, hence content hashes, but not the samples hash: it leaves out
``content_hash``, and the ground-truth angles (computed with libm trigonometry, whose last bits
differ between CPUs) are stored rounded and hashed at fixed precision
(:func:`dfad_bench.manifest.canonical_float`). The samples hash of the default build is pinned in
``weights/expected_build.json`` (:func:`expected_build_problem`); ``mini check`` compares.

A cached build is reused only if ``build.json`` matches the requested config, code version and
current weight hashes, the manifest hash matches, every file has its recorded size, and a
sample of files (all with ``full=True``) has its recorded sha256; otherwise it is rebuilt.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dfad_bench.atomic import write_json_atomic
from dfad_bench.errors import DfadError, check_seed
from dfad_bench.hashing import sha256
from dfad_bench.manifest import canonical_float_value, manifest_hash, samples_hash, validate_manifest_table
from dfad_bench.paths import cache_dir
from dfad_mini.finalize import finalize_image
from dfad_mini.manipulations import eye_edit, face_swap
from dfad_mini.parallel import map_chunks
from dfad_mini.renderer import RENDERER_VERSION, render_faces, sample_identities

#: The version of the embedded world: v2 made mini-ddpm and both flow models latent generators;
#: v3 names files, samples and identities without labels and hashes floats canonically.
MINI_NAME = "mini-v3"
#: Bump when the builder's output changes for the same inputs (forces a rebuild of caches).
BUILD_CODE_VERSION = f"2/renderer-{RENDERER_VERSION}"
#: The prefix of sample ids (the version's number, so ids of two versions never mix).
SAMPLE_ID_PREFIX = "m3"
#: Samples hashes of the committed builds, beside the weights they come from.
EXPECTED_BUILD_FILE = Path(__file__).parent / "weights" / "expected_build.json"
BUILD_FORMAT = 1
SAMPLING_THREADS = 2
EYE_EDIT_CHUNK = 50
HASH_SAMPLE = 200
REAL_DESCRIPTION = "pristine renders of the DFAD-Mini procedural face renderer"

Progress = Callable[[str], None]


class Sampler(Protocol):
    """What ``loader`` must return (plus ``sdedit(images, strength, seed)`` for the eye edit's base)."""

    def sample(self, n: int, seed: int) -> np.ndarray: ...


Loader = Callable[[str], Sampler]


@dataclass(frozen=True)
class MiniBuildConfig:
    n_identities: int = 300
    images_per_identity: int = 10
    fakes_per_generator: int = 500
    seed: int = 0
    loader: str = "committed-weights"  # a custom loader (tests) never matches the default cache

    def check(self) -> None:
        check_seed(self.seed, "build_mini")
        for name in ("n_identities", "images_per_identity", "fakes_per_generator"):
            if getattr(self, name) < 1:
                raise DfadError(f"build_mini: {name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class _GeneratorRow:
    name: str
    family: str
    forgery_type: str
    description: str
    manipulation: bool
    base_generator: str | None
    weights_file: str | None


def mini_root() -> Path:
    """Where the embedded benchmark lives: ``<cache>/benchmarks/mini-v3`` (DFAD_BENCH_CACHE moves it)."""
    return cache_dir("benchmarks") / MINI_NAME


def _generators() -> list[_GeneratorRow]:
    from dfad_mini.generators import MINI_GENERATORS

    return [
        _GeneratorRow(s.name, s.family, s.forgery_type, s.description, s.manipulation, s.base_generator, s.weights_file)
        for s in MINI_GENERATORS.values()
    ]


def _weights_loader(device: str) -> Loader:
    """Loader of the committed weights on ``device``."""
    from dfad_mini.generators import load_mini_generator

    return lambda name: load_mini_generator(name, device=device)


def _weights_hashes(gens: Sequence[_GeneratorRow]) -> dict[str, str | None]:
    from dfad_mini.generators import weights_path

    out: dict[str, str | None] = {}
    for g in gens:
        if g.manipulation or g.weights_file is None:
            continue
        path = weights_path(g.name)
        out[g.name] = sha256(path) if path.is_file() else None
    return out


def _derive_seed(seed: int, *tags: str) -> int:
    return zlib.crc32("/".join([str(seed), *tags]).encode()) & 0x7FFFFFFF


class _StageClock(dict):
    """The build's seconds-per-stage dict; recording a stage also advances the progress bar."""

    def __init__(self, target: dict[str, float], advance: Callable[..., None]) -> None:
        super().__init__()
        self._target, self._advance = target, advance

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self._target[key] = value
        self._advance()


def _say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


# ----------------------------------------------------------------------------- rendering


def _render_chunk(args: tuple[int, int, int, int]) -> tuple[np.ndarray, pd.DataFrame]:
    start, stop, per_identity, seed = args
    ids = sample_identities(stop, seed, prefix="mini-id")[start:stop]
    batch = render_faces(ids, per_identity, seed=seed)
    return batch.images, batch.params


def _render_pristine(cfg: MiniBuildConfig, workers: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Render the benchmark pool; chunked across processes (each image has its own RNG key,
    so the result does not depend on the chunking)."""
    import multiprocessing

    n = cfg.n_identities
    # Forked workers only: a spawned child re-imports the caller's __main__, which re-runs an
    # unguarded script's build and deadlocks on the build lock. Without fork, render serially.
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    n_chunks = workers if can_fork and workers > 1 and n * cfg.images_per_identity >= 400 else 1
    bounds = [round(i * n / n_chunks) for i in range(n_chunks + 1)]
    jobs = [(bounds[i], bounds[i + 1], cfg.images_per_identity, cfg.seed) for i in range(n_chunks)]
    parts = map_chunks(_render_chunk, jobs, n_chunks, start_method="fork")
    images = np.concatenate([p[0] for p in parts])
    params = pd.concat([p[1] for p in parts], ignore_index=True)
    return images, params


# ----------------------------------------------------------------------------- sampling


class _TorchDeterminism:
    """Seeded, fixed-thread torch for the duration of a sampling call.

    The CPU kernels these small models use (convolutions, matmuls, attention) give the same
    result for the same thread count, so the thread count is pinned. ``torch.use_deterministic_
    algorithms`` is not switched on: it costs seconds on first use and changes nothing on CPU.
    Torch is only touched if a loader already imported it (stub loaders in tests do not).
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._threads: int | None = None

    def __enter__(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None:
            self._threads = torch.get_num_threads()
            torch.set_num_threads(SAMPLING_THREADS)
            torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and self._threads is not None:
            torch.set_num_threads(self._threads)


def _check_images(name: str, images: Any, n: int) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.shape != (n, 64, 64, 3):
        raise DfadError(f"generator {name}: expected uint8 images of shape ({n}, 64, 64, 3), got {arr.dtype} {arr.shape}")
    return arr


def _pick_sources(n_real: int, n: int, rng: np.random.Generator, exclude: np.ndarray | None) -> np.ndarray:
    """Pristine indices to manipulate: distinct where possible, avoiding ``exclude`` first."""
    pool = np.setdiff1d(np.arange(n_real), exclude) if exclude is not None else np.arange(n_real)
    if len(pool) >= n:
        return rng.permutation(pool)[:n]
    return rng.choice(n_real, size=n, replace=n > n_real)


# ----------------------------------------------------------------------------- build


def _fake_row(name: str, gens: Mapping[str, _GeneratorRow], sample_id: str, identity: str, **extra: Any) -> dict[str, Any]:
    g = gens[name]
    return {
        "sample_id": sample_id, "generator": name, "family": g.family, "forgery_type": g.forgery_type,
        "identity": identity, "generator_description": g.description, **extra,
    }


def _make_all(
    cfg: MiniBuildConfig, loader: Loader, workers: int, progress: Progress | None, stages: dict[str, float]
) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Render, sample and manipulate; ``stages`` receives seconds per stage (for build.json)."""
    gens = {g.name: g for g in _generators()}
    _say(progress, f"rendering {cfg.n_identities} identities x {cfg.images_per_identity} pristine faces")
    t = time.perf_counter()
    real_images, params = _render_pristine(cfg, workers)
    stages["render"] = time.perf_counter() - t
    rows: list[dict[str, Any]] = []
    images: list[np.ndarray] = []
    real_ids: list[str] = []
    for i, rec in enumerate(params.to_dict("records")):
        k = i % cfg.images_per_identity
        sid = f"real-{rec['identity']}-{k:02d}"
        real_ids.append(sid)
        rows.append({
            "sample_id": sid, "generator": "real", "family": "real", "forgery_type": "real",
            "identity": rec["identity"], "generator_description": REAL_DESCRIPTION,
            # libm angles differ in the last bits between CPUs: stored at the hash's precision
            **{c: canonical_float_value(rec[c]) for c in _GT_COLUMNS}, "caption": rec["caption"],
        })
        images.append(real_images[i])

    n = cfg.fakes_per_generator
    loaded: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in loaded:
            loaded[name] = loader(name)
        return loaded[name]

    for g in gens.values():
        if g.manipulation:
            continue
        _say(progress, f"sampling {n} images from {g.name}")
        t = time.perf_counter()
        seed = _derive_seed(cfg.seed, g.name)
        sampler = get(g.name)
        with _TorchDeterminism(seed):
            fakes = _check_images(g.name, sampler.sample(n, seed=seed), n)
        stages[g.name] = time.perf_counter() - t
        for j in range(n):
            rows.append(_fake_row(g.name, gens, f"{g.name}-{j:06d}", f"efs:{g.name}:{j:06d}"))
            images.append(fakes[j])

    rng = np.random.default_rng([cfg.seed, zlib.crc32(b"manipulations")])
    used: np.ndarray | None = None
    for g in gens.values():
        if not g.manipulation:
            continue
        if g.base_generator is None:
            raise DfadError(f"mini generator {g.name} is a manipulation without a base_generator")
        t = time.perf_counter()
        src = _pick_sources(len(real_ids), n, rng, used)
        used = src if used is None else np.union1d(used, src)
        base = get(g.base_generator)
        seed = _derive_seed(cfg.seed, g.name)
        if g.forgery_type == "fs":
            _say(progress, f"building {n} face swaps ({g.name}, donors from {g.base_generator})")
            with _TorchDeterminism(seed):
                donors = _check_images(g.base_generator, base.sample(n, seed=seed), n)
            out = face_swap(real_images[src], donors, np.random.default_rng(seed))
            extras = [{} for _ in range(n)]  # the donor is a generated image outside the benchmark
        elif g.forgery_type == "am":
            _say(progress, f"building {n} eye edits ({g.name}, SDEdit by {g.base_generator})")
            out = np.empty((n, 64, 64, 3), dtype=np.uint8)
            eyes = params[["eye_left_x", "eye_left_y", "eye_right_x", "eye_right_y"]].to_numpy()[src].reshape(n, 2, 2)
            edit_rng = np.random.default_rng(seed)
            extras = []
            for start in range(0, n, EYE_EDIT_CHUNK):
                sl = slice(start, min(start + EYE_EDIT_CHUNK, n))
                record: dict[str, float] = {}

                def sdedit(imgs: np.ndarray, strength: float, s: int, _rec: dict[str, float] = record,
                           _base: Any = base) -> np.ndarray:
                    _rec["strength"] = strength
                    with _TorchDeterminism(s):
                        return _base.sdedit(imgs, strength=strength, seed=s)

                out[sl] = eye_edit(real_images[src[sl]], sdedit, edit_rng, eye_centres=eyes[sl])
                extras += [{"edit_strength": canonical_float_value(record["strength"])}] * (sl.stop - sl.start)
        else:
            raise DfadError(f"mini generator {g.name}: no builder for manipulation forgery type {g.forgery_type!r}")
        stages[g.name] = time.perf_counter() - t
        for j in range(n):
            source = int(src[j])
            rows.append(_fake_row(g.name, gens, f"{g.name}-{j:06d}", rows[source]["identity"],
                                  source_id=real_ids[source], **extras[j]))
            images.append(out[j])
    return rows, images


_GT_COLUMNS = (
    "gaze_pitch", "gaze_yaw", "gaze_left_pitch", "gaze_left_yaw", "gaze_right_pitch", "gaze_right_yaw",
    "head_pitch", "head_yaw", "head_roll",
)


def _label_free_names(rows: list[dict[str, Any]], seed: int) -> None:
    """Rename samples, files and identities in place so that no name carries a label.

    Index ``k`` of a sample comes from one seeded permutation over all samples (real and fake
    interleaved), so an index range says nothing about the generator either; identities get
    the same treatment. Only the manifest's label columns say what a sample is.
    """
    order = np.random.default_rng([seed, zlib.crc32(b"sample-names")]).permutation(len(rows))
    width = max(6, len(str(len(rows) - 1)))
    new_id = {row["sample_id"]: f"{SAMPLE_ID_PREFIX}-{int(k):0{width}d}" for row, k in zip(rows, order, strict=True)}
    people = sorted({row["identity"] for row in rows})
    perm = np.random.default_rng([seed, zlib.crc32(b"identity-names")]).permutation(len(people))
    id_width = max(5, len(str(len(people) - 1)))
    new_identity = {p: f"id-{int(k):0{id_width}d}" for p, k in zip(people, perm, strict=True)}
    for row in rows:
        row["sample_id"] = new_id[row["sample_id"]]
        row["path"] = f"images/{row['sample_id'].removeprefix(SAMPLE_ID_PREFIX + '-')}.png"
        row["identity"] = new_identity[row["identity"]]
        if row.get("source_id") is not None:
            row["source_id"] = new_id[row["source_id"]]


def _encode_and_write(job: tuple[Path, np.ndarray]) -> tuple[str, int]:
    path, img = job
    data = finalize_image(img)
    path.write_bytes(data)
    return sha256(data), len(data)


def _write_images(tmp: Path, rows: list[dict[str, Any]], images: list[np.ndarray], workers: int) -> dict[str, int]:
    """Finalize and write every image (threads: PNG compression and file writes release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = []
    for row, img in zip(rows, images, strict=True):
        jobs.append((tmp / row["path"], img))
    for folder in {p.parent for p, _ in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(_encode_and_write, jobs, chunksize=64))
    sizes: dict[str, int] = {}
    for row, (digest, size) in zip(rows, results, strict=True):
        row["content_hash"] = digest
        sizes[row["path"]] = size
    return sizes


def _manifest_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in ("source_id", "split_hint", "caption", "generator_weights"):
        if col not in df.columns:
            df[col] = None
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    for col in _GT_COLUMNS + ("edit_strength",):
        if col not in df.columns:
            df[col] = np.nan
        df[col] = df[col].astype("float64")
    first = ["sample_id", "path", "generator", "family", "forgery_type", "identity", "source_id", "split_hint",
             *_GT_COLUMNS, "caption", "content_hash"]
    df = df[first + [c for c in df.columns if c not in first]]
    return validate_manifest_table(df, "DFAD-Mini build")


def build_mini(
    root: Path | None = None,
    *,
    n_identities: int = 300,
    images_per_identity: int = 10,
    fakes_per_generator: int = 500,
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
    loader: Loader | None = None,
    workers: int | None = None,
    device: str = "cpu",
) -> Path:
    """Build DFAD-Mini into ``root`` (default :func:`mini_root`) and return its manifest path.

    An existing valid build with the same config is reused unless ``force``. ``loader`` maps a
    generator name to an object with ``sample(n, seed)`` (and ``sdedit`` for the eye edit's base);
    it defaults to the committed weights on ``device``. ``workers`` processes render the pristine
    pool (default: min(2, CPUs)). A build sampled on a GPU (``device="cuda"``, much faster) is an
    equally valid DFAD-Mini: same weights and noise (drawn on CPU), pixels differ only by float rounding carried along the sampler; the device
    is recorded in build.json, not part of the cache key.
    """
    from filelock import FileLock

    root = Path(root) if root is not None else mini_root()
    cfg = MiniBuildConfig(n_identities, images_per_identity, fakes_per_generator, seed,
                          "committed-weights" if loader is None else "custom")
    cfg.check()
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root.parent / f".{root.name}.lock")):
        if not force:
            reason = check_mini_build(root, cfg)
            if reason is None:
                return root / "manifest.parquet"
            if root.exists():
                _say(progress, f"rebuilding {root}: {reason}")
        if loader is None:
            _require_weights(_generators())
        t0 = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.build-", dir=root.parent))
        try:
            stages: dict[str, float] = {}
            from dfad_bench.progress import progress_bar

            # One bar over the stages (render, then each generator): rate in s/stage and an ETA.
            with progress_bar("building DFAD-Mini (render + generators)", 1 + len(_generators())) as advance:
                rows, images = _make_all(cfg, loader or _weights_loader(device), workers, progress, _StageClock(stages, advance))
            gens = _generators()
            weights = _weights_hashes(gens) if loader is None else {}
            _label_free_names(rows, cfg.seed)
            _annotate_versions(rows, gens, weights)
            _say(progress, f"writing {len(rows)} images")
            t = time.perf_counter()
            sizes = _write_images(tmp, rows, images, workers)
            stages["write"] = time.perf_counter() - t
            df = _manifest_frame(rows)
            df.to_parquet(tmp / "manifest.parquet", index=False)
            record = {
                "format": BUILD_FORMAT,
                "name": MINI_NAME,
                "code_version": BUILD_CODE_VERSION,
                "config": asdict(cfg),
                "seed": cfg.seed,
                "counts": {str(k): int(v) for k, v in df["generator"].value_counts().sort_index().items()},
                "n_identities_real": int(df.loc[df["generator"] == "real", "identity"].nunique()),
                "manifest_hash": manifest_hash(df),
                "samples_hash": samples_hash(df),
                "weights_sha256": weights,
                "sampling_threads": SAMPLING_THREADS,
                "sampling_device": device if loader is None else "custom loader",
                "versions": _versions(),
                "build_seconds": round(time.perf_counter() - t0, 2),
                "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
                "file_sizes": sizes,
            }
            write_json_atomic(tmp / "build.json", record)
            _swap_into_place(tmp, root)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    _say(progress, f"DFAD-Mini built at {root} ({len(df)} images, {record['build_seconds']} s)")
    _say(progress, compare_with_pinned(root / "manifest.parquet").message())
    return root / "manifest.parquet"


def _annotate_versions(rows: list[dict[str, Any]], gens: Sequence[_GeneratorRow], weights: Mapping[str, str | None]) -> None:
    """Put what made each sample into the manifest, so the samples hash moves with it.

    The samples hash leaves image bytes out (they differ across CPUs), so without these columns
    retrained weights or a new image pipeline would keep the hash and mix two benchmarks on one
    board. ``generator_weights``: the first 16 hex of the sha256 of the weights file that made a
    fake (a manipulation's base generator's); empty for pristine renders and custom loaders.
    """
    base = {g.name: g.base_generator or g.name for g in gens}
    version = f"{MINI_NAME}/{BUILD_CODE_VERSION}"
    for row in rows:
        digest = weights.get(base.get(row["generator"], row["generator"]))
        row["generator_weights"] = digest[:16] if digest else None
        row["build_version"] = version


@dataclass(frozen=True)
class PinnedComparison:
    """A build's samples hash against the one pinned in :data:`EXPECTED_BUILD_FILE`."""

    actual: str
    expected: str | None  # None: nothing pinned for this build's config
    config: dict[str, Any]

    @property
    def matches(self) -> bool:
        return self.expected is not None and self.actual == self.expected

    def message(self) -> str:
        if self.matches:
            return f"samples hash {self.actual[:12]} matches the pinned {MINI_NAME} build: results join the committed board"
        where = EXPECTED_BUILD_FILE.relative_to(EXPECTED_BUILD_FILE.parents[3])
        if self.expected is None:
            return (f"samples hash {self.actual[:12]}: no {MINI_NAME} build with this config is pinned in {where}, "
                    "so results land on a board of their own")
        return (f"samples hash differs: expected {self.expected[:12]} (pinned in {where}), got {self.actual[:12]}; "
                "this build's samples or labels differ from the committed one, so results land on a board of their own")


def pinned_samples_hash(cfg: MiniBuildConfig) -> str | None:
    """The samples hash pinned for ``cfg`` in :data:`EXPECTED_BUILD_FILE` (None if none is)."""
    try:
        pinned = json.loads(EXPECTED_BUILD_FILE.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DfadError(f"{EXPECTED_BUILD_FILE}: not valid JSON ({exc})") from exc
    if pinned.get("name") != MINI_NAME:
        return None
    for entry in pinned.get("builds", []):
        if entry.get("config") == asdict(cfg):
            return str(entry["samples_hash"])
    return None


def compare_with_pinned(manifest_path: Path) -> PinnedComparison:
    """Recompute the samples hash of the build at ``manifest_path`` and compare it with the pin."""
    manifest_path = Path(manifest_path)
    meta = json.loads((manifest_path.parent / "build.json").read_text())
    cfg = MiniBuildConfig(**meta["config"])
    return PinnedComparison(samples_hash(pd.read_parquet(manifest_path)), pinned_samples_hash(cfg), asdict(cfg))


def _swap_into_place(tmp: Path, root: Path) -> None:
    """Rename the finished build onto ``root``; an old build is moved aside first, then deleted."""
    old = None
    if root.exists():
        old = root.parent / f".{root.name}.old-{os.getpid()}-{random.getrandbits(32):08x}"
        os.replace(root, old)
    os.replace(tmp, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _versions() -> dict[str, str]:
    import PIL

    out = {"numpy": np.__version__, "pandas": pd.__version__, "pillow": PIL.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # the renderer-only path does not need torch
        pass
    return out


def check_mini_build(root: Path, cfg: MiniBuildConfig | None = None, *, full: bool = False) -> str | None:
    """Why the build at ``root`` cannot be reused (``None`` when it is valid).

    Checks build.json (format, code version, config, current weight hashes), the manifest hash,
    every file's size, and the sha256 of a random sample of files (every file when ``full``).
    """
    cfg = cfg or MiniBuildConfig()
    meta_path, manifest_path = root / "build.json", root / "manifest.parquet"
    if not meta_path.is_file() or not manifest_path.is_file():
        return "no complete build (build.json or manifest.parquet missing)"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        return f"build.json unreadable ({type(exc).__name__})"
    if meta.get("format") != BUILD_FORMAT or meta.get("code_version") != BUILD_CODE_VERSION:
        return f"built by another code version ({meta.get('code_version')!r}, now {BUILD_CODE_VERSION!r})"
    if meta.get("config") != asdict(cfg):
        return f"built with another config ({meta.get('config')}, requested {asdict(cfg)})"
    if cfg.loader == "committed-weights":
        current = _weights_hashes(_generators())
        recorded = meta.get("weights_sha256", {})
        changed = [k for k, v in current.items() if v is not None and recorded.get(k) != v]
        if changed:
            return f"generator weights changed since the build: {', '.join(changed)}"
    try:
        df = pd.read_parquet(manifest_path)
    except (OSError, ValueError) as exc:
        return f"manifest.parquet unreadable ({type(exc).__name__})"
    if manifest_hash(df) != meta.get("manifest_hash"):
        return "manifest.parquet does not match the hash recorded in build.json"
    sizes: dict[str, int] = meta.get("file_sizes", {})
    if set(sizes) != set(df["path"]):
        return "build.json file list does not match the manifest"
    for rel, size in sizes.items():
        try:
            if (root / rel).stat().st_size != size:
                return f"image {rel} has changed size"
        except OSError:
            return f"image {rel} is missing"
    rows = list(df[["path", "content_hash"]].itertuples(index=False, name=None))
    if not full and len(rows) > HASH_SAMPLE:
        rows = random.Random().sample(rows, HASH_SAMPLE)
    for rel, digest in rows:
        if sha256(root / rel) != digest:
            return f"image {rel} does not match its content_hash"
    return None


def _stderr_progress(msg: str) -> None:
    print(f"[dfad-bench mini] {msg}", file=sys.stderr, flush=True)


def ensure_mini_built(progress: Progress | None = None) -> Path:
    """The embedded benchmark's manifest path, building (or rebuilding) it when missing or invalid.

    Silent when the cached build is valid; a build reports its stages on stderr by default.
    """
    return build_mini(progress=progress or _stderr_progress)


def _require_weights(gens: Sequence[_GeneratorRow]) -> None:
    """Fail before the long rendering step if a committed weights file is missing."""
    from dfad_mini.generators import weights_path

    missing = [str(weights_path(g.name)) for g in gens if not g.manipulation and g.weights_file is not None
               and not weights_path(g.name).is_file()]
    if missing:
        raise DfadError(
            f"cannot build DFAD-Mini: generator weights missing ({', '.join(missing)}); "
            "train them with `python -m dfad_mini.train`"
        )


def build_summary(manifest_path: Path) -> dict[str, Any]:
    """Counts per generator and identities, for the CLI and docs."""
    meta = json.loads((Path(manifest_path).parent / "build.json").read_text())
    return {k: meta[k] for k in ("name", "counts", "n_identities_real", "seed", "manifest_hash", "build_seconds")}


__all__ = [
    "BUILD_CODE_VERSION", "EXPECTED_BUILD_FILE", "MINI_NAME", "MiniBuildConfig", "PinnedComparison", "build_mini",
    "build_summary", "check_mini_build", "compare_with_pinned", "ensure_mini_built", "mini_root", "pinned_samples_hash",
]
