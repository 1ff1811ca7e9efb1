"""Sealed execution (``dfad-bench submit``): the plug-in's fit/predict run in a child process that
sees only a staged, anonymised copy of the run's data.

The stage is a fresh temporary folder::

    images/<opaque id>.npy      decoded H×W×3 uint8 pixels of every train/val/test image: file
                                names, sizes, formats and compression history carry nothing
    train.parquet, val.parquet  id + label columns (contract.LABEL_COLUMNS)
    test.parquet                id only
    context.json                label spaces, the taxonomy rows of their classes, seed, config, device
    out/                        the child's predictions (keyed by opaque ids) and result.json
    work/ cache/ home/          the model's checkpoints, feature cache and $HOME

The child (``python -m dfad_bench.harness.sealed_child STAGE OUT``) runs under bubblewrap where it
is installed: the whole file system read-only, with the dfad-bench cache, /tmp, the results
folder, the benchmark folder, the repository's leaderboards/ and .git, and DFAD-Mini's generator
weights and renderer hidden; no network (``--unshare-all``); a scrubbed environment. Where
bubblewrap is missing or cannot start, the child runs as a plain process on the same stage and
the record says ``unsealed (<why>)``. The parent validates the predictions in the opaque id
space, maps them back and scores them like ``run`` (docs/ARCHITECTURE.md, trust model).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dfad_bench.atomic import write_json_atomic
from dfad_bench.contract import DataView, Predictions, RunContext
from dfad_bench.errors import DfadError

#: Where the stage appears inside the sandbox (under the sandbox's own empty /tmp).
STAGE_MOUNT = "/tmp/dfad-stage"
SEALED = "sealed (bubblewrap)"
CHILD_MODULE = "dfad_bench.harness.sealed_child"
#: Environment variables the child keeps (values from the parent), besides the ones set here.
PASS_ENV = ("LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
#: Fixed modification time of staged files (file times must not order the samples).
STAGE_MTIME = 0


@dataclass(frozen=True)
class SealedResult:
    predictions: dict[str, Predictions]  # "val", "test": keyed by opaque ids, in view order
    fit_seconds: float
    predict_seconds: float
    training: dict[str, Any]
    selection_rule: str
    isolation: str


# ----------------------------------------------------------------------------- staging
def _stage_image(args: tuple[str, Path]) -> None:
    from dfad_bench.harness.images import _decode_source

    source, target = args
    np.save(target, np.ascontiguousarray(_decode_source(source, None)), allow_pickle=False)
    os.utime(target, (STAGE_MTIME, STAGE_MTIME))


def taxonomy_rows(ctx: RunContext) -> list[dict[str, str]]:
    """The taxonomy rows of the generators in the label space (no other generator of the manifest)."""
    names = ctx.label_spaces["generator"].classes
    return [
        {"name": g.name, "family": g.family, "forgery_type": g.forgery_type, "description": g.description, "reference": g.reference}
        for n, g in sorted(ctx.taxonomy.generators.items()) if n in names
    ]


def stage_run(stage: Path, views: dict[str, DataView], ctx: RunContext, model: str, factory: str, workers: int = 4) -> None:
    """Write the stage: decoded pixels under opaque names, labels of train/val, the context."""
    images = stage / "images"
    for sub in ("images", "out", "work", "cache", "home"):
        (stage / sub).mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, Path]] = []
    for role, view in views.items():
        frame = pd.DataFrame({"id": view.ids})
        if view.labelled:
            for col in view.label_columns:
                frame[col] = view.labels(col)
        frame.to_parquet(stage / f"{role}.parquet", index=False)
        jobs += [(src, images / f"{i}.npy") for i, src in zip(view.ids, view._sources, strict=True)]
    jobs.sort(key=lambda j: j[1].name)  # written in opaque-id order: nothing follows the roles or the manifest
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_stage_image, jobs, chunksize=32))
    write_json_atomic(stage / "context.json", {
        "model": model,
        "factory": factory,
        "config": ctx.config,
        "seed": ctx.seed,
        "device": ctx.device,
        "num_workers": ctx.num_workers,
        "label_spaces": {k: v.to_dict() for k, v in ctx.label_spaces.items()},
        "taxonomy": taxonomy_rows(ctx),
        "input_size": views["train"].input_size,
    })
    for path in (stage / f"{r}.parquet" for r in views):
        os.utime(path, (STAGE_MTIME, STAGE_MTIME))


# ----------------------------------------------------------------------------- the sandbox
def _plugin_roots(factory: str) -> list[Path]:
    """The top-level module or package folder of the plug-in's factory: bound into the sandbox, so a
    plug-in imported from a folder the sandbox hides (e.g. under /tmp) still imports there."""
    import importlib.util

    top = factory.partition(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return []
    origin = Path(spec.origin)
    return [origin.parent] if origin.name == "__init__.py" else [origin]


def benchmark_private_paths() -> list[Path]:
    """The ``private_paths`` of every registered benchmark. A benchmark plug-in that cannot be
    loaded is skipped (no run can use it); one whose ``private_paths`` fails stops the run."""
    from dfad_bench.benchmarks import BENCHMARKS

    paths: list[Path] = []
    for name in BENCHMARKS.names():
        try:
            spec = BENCHMARKS.get(name)
        except DfadError:
            continue
        paths += spec.hidden_paths()
    return paths


def hidden_paths(plan: Any) -> tuple[list[Path], list[Path]]:
    """(folders to cover with an empty tmpfs, files to cover with /dev/null) inside the sandbox."""
    import dfad_bench
    from dfad_bench.paths import cache_root, default_results_dir

    repo = Path(dfad_bench.__file__).resolve().parent.parent
    results = Path(plan.opts.results_dir or default_results_dir())
    import platformdirs

    # The cache both where it is now (DFAD_BENCH_CACHE) and at its default path.
    # Results folders hold predictions with their ground truth: this run's and the default one.
    folders = [cache_root(), Path(platformdirs.user_cache_dir("dfad-bench")), results, default_results_dir(), Path(plan.clean.root),
               repo / "leaderboards", repo / ".git"]
    source = getattr(plan.manifest, "source", None)
    if source and Path(str(source)).exists():
        folders.append(Path(str(source)).parent)
    files: list[Path] = []
    # What each registered benchmark keeps private (DFAD-Mini: its renderer, builder and generator
    # weights), all of them, not only the run's: a model must not regenerate any benchmark.
    for private in benchmark_private_paths():
        (folders if private.is_dir() else files).append(private)
    needed = [Path(sys.prefix).resolve(), Path(dfad_bench.__file__).resolve().parent]
    out = []
    for f in folders:
        f = f.resolve()
        if not f.is_dir() or f in out:
            continue
        if any(n == f or f in n.parents for n in needed):
            raise DfadError(f"submit: {f} must be hidden from the plug-in but holds the Python environment or dfad_bench; "
                            "move the benchmark or results folder elsewhere")
        out.append(f)
    return out, [f.resolve() for f in files if f.is_file()]


def code_paths_under_tmp() -> list[Path]:
    """Folders under /tmp the child needs to run Python at all: the interpreter's prefixes (a venv
    under /tmp) and the source tree dfad-bench and its built-in plug-ins are imported from (an
    editable install in a clone under /tmp). Outermost folders only; sorted, so binds nest."""
    import dfad_bench

    tmp = Path("/tmp").resolve()
    candidates = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    candidates.add(Path(dfad_bench.__file__).resolve().parent.parent)
    inside = sorted(c for c in candidates if c.is_dir() and tmp in c.parents)
    return [c for c in inside if not any(o in c.parents for o in inside)]


def bwrap_command(stage: Path, plan: Any, child: list[str], env: dict[str, str], plugin_roots: list[Path]) -> list[str]:
    from dfad_bench.paths import cache_root

    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    folders, files = hidden_paths(plan)
    cmd = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for dev in sorted(Path("/dev").glob("nvidia*")):  # the GPU, if any
        cmd += ["--dev-bind", str(dev), str(dev)]
    # /tmp is emptied first; the Python environment and the code it imports come back read-only
    # when they live there (a CI clone or a venv under /tmp), and only then are the hidden folders
    # and files masked, so a mask inside a re-bound folder (the repo's leaderboards/) still holds.
    cmd += ["--tmpfs", "/tmp"]
    kept = code_paths_under_tmp()
    for keep in kept:
        cmd += ["--ro-bind", str(keep), str(keep)]

    def reachable(path: Path) -> bool:  # a path under the emptied /tmp needs no mask (and a mask would show its name)
        tmp = Path("/tmp").resolve()
        return tmp not in path.parents or any(k == path or k in path.parents for k in kept)

    for folder in filter(reachable, folders):
        cmd += ["--tmpfs", str(folder)]
    for f in filter(reachable, files):
        cmd += ["--ro-bind", "/dev/null", str(f)]
    cmd += ["--bind", str(stage), STAGE_MOUNT]
    for name in ("images", "train.parquet", "val.parquet", "test.parquet", "context.json"):
        cmd += ["--ro-bind", str(stage / name), f"{STAGE_MOUNT}/{name}"]
    assets = cache_root() / "assets"  # fetched encoder weights (gaze): needed, and label-free
    if assets.is_dir():
        cmd += ["--ro-bind", str(assets), f"{STAGE_MOUNT}/cache/assets"]
    for i, root in enumerate(plugin_roots):
        cmd += ["--ro-bind", str(root), f"/tmp/dfad-plugins/{i}/{root.name}"]
    cmd += ["--unshare-all", "--die-with-parent", "--new-session", "--chdir", STAGE_MOUNT, "--clearenv"]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    return cmd + child


def child_env(stage: str, plugin_paths: list[str]) -> dict[str, str]:
    """The child's whole environment: nothing of the parent's but PATH, locale and thread counts."""
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env.update({
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": f"{stage}/home",
        "DFAD_BENCH_CACHE": f"{stage}/cache",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    })
    # Downloaded model weights (hub backbones, timm) stay reachable, read-only: label-free, and the
    # child is offline. $HOME moves into the stage, so their default paths are passed explicitly.
    home = Path(os.path.expanduser("~"))
    for var, default in (("HF_HOME", home / ".cache" / "huggingface"), ("TORCH_HOME", home / ".cache" / "torch")):
        folder = Path(os.environ.get(var) or default)
        if folder.is_dir():
            env[var] = str(folder)
    env.setdefault("LANG", "C.UTF-8")
    env.setdefault("OMP_NUM_THREADS", "1")
    if plugin_paths:
        env["PYTHONPATH"] = os.pathsep.join(plugin_paths)
    return env


def bwrap_problem() -> str | None:
    """None when bubblewrap can start a sandbox here, else why not (one line)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap not installed"
    try:
        probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--proc", "/proc", "--dev", "/dev",
                                "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot start ({type(exc).__name__})"
    if probe.returncode != 0:
        return f"bubblewrap cannot start: {(probe.stderr.strip().splitlines() or ['exit ' + str(probe.returncode)])[-1]}"
    return None


# ----------------------------------------------------------------------------- predictions back
def predictions_from_frame(frame: pd.DataFrame) -> Predictions:
    """A child's predictions table (``Predictions.to_frame`` format) as Predictions."""
    kw: dict[str, Any] = {"sample_ids": frame["sample_id"].astype(str).tolist(), "fake_score": frame["fake_score"].to_numpy(np.float64)}
    for level in ("family", "generator"):
        cols = [c for c in frame.columns if c.startswith(f"prob_{level}.")]
        if cols:
            kw[f"{level}_classes"] = tuple(c[len(f"prob_{level}."):] for c in cols)
            kw[f"{level}_probs"] = frame[cols].to_numpy(np.float64)
    if "embedding" in frame.columns:
        kw["embedding"] = np.stack([np.asarray(e, np.float32) for e in frame["embedding"]]) if len(frame) else np.zeros((0, 0), np.float32)
    return Predictions(**kw)


def run_sealed(plan: Any, views: dict[str, DataView], full: RunContext, known: RunContext) -> SealedResult:
    """Stage the run, run the plug-in in the (sandboxed) child, read its predictions back."""
    del known  # the child derives the seen-only context from the full one, the same way
    model = plan.opts.model
    factory = plan.card.factory
    problem = os.environ.get("DFAD_BENCH_FORCE_UNSEALED") and "DFAD_BENCH_FORCE_UNSEALED is set"
    problem = problem or bwrap_problem()
    with tempfile.TemporaryDirectory(prefix="dfad-stage-") as tmp:
        stage = Path(tmp)
        stage_run(stage, views, full, model, factory)
        (stage / "work").rmdir()
        work = Path(plan.work_dir) / "model"  # checkpoints survive an interrupted submit; the salt stays outside
        work.mkdir(parents=True, exist_ok=True)
        roots = _plugin_roots(factory)
        if problem is None:
            (stage / "cache" / "assets").mkdir(parents=True, exist_ok=True)
            (stage / "work").mkdir()
            inside = STAGE_MOUNT
            env = child_env(inside, [f"/tmp/dfad-plugins/{i}" for i in range(len(roots))])
            child = [sys.executable, "-m", CHILD_MODULE, inside, f"{inside}/out"]
            cmd = bwrap_command(stage, plan, child, env, roots)
            cmd[cmd.index("--chdir"):cmd.index("--chdir")] = ["--bind", str(work), f"{STAGE_MOUNT}/work"]
            isolation = SEALED
        else:
            (stage / "work").symlink_to(work, target_is_directory=True)
            env = child_env(str(stage), sorted({str(r.parent) for r in roots}))
            cmd = [sys.executable, "-m", CHILD_MODULE, str(stage), str(stage / "out")]
            isolation = f"unsealed ({problem})"
            plan.log(f"submit: running {model} UNSEALED: {problem}")
        proc = subprocess.run(cmd, env=env, cwd=str(stage), capture_output=True, text=True)
        if not plan.opts.quiet and proc.stderr:
            sys.stderr.write(proc.stderr)
        out = stage / "out"
        if (out / "error.json").is_file():
            error = json.loads((out / "error.json").read_text())
            if "model_exception" in error:  # model code raised in the child: one line, traceback in error.log
                from dfad_bench.errors import model_failure_from

                e = error["model_exception"]
                raise model_failure_from(model, e["phase"], e["type"], e["message"], e["traceback"], plan.run_dir)
            raise DfadError(f"model {model} (sealed child): {error['error']}")
        if proc.returncode != 0 or not (out / "result.json").is_file():
            tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise DfadError(f"model {model}: the sealed child process failed ({tail})")
        result = json.loads((out / "result.json").read_text())
        preds = {role: predictions_from_frame(pd.read_parquet(out / f"{role}.parquet")) for role in ("val", "test")}
    return SealedResult(preds, float(result["fit_seconds"]), float(result["predict_seconds"]), result.get("training", {}),
                        str(result["selection_rule"]), isolation)
