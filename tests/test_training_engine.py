"""The training engine (dfad_bench/harness/training.py) and the run folder's hygiene (claim_run_dir).

Engine tests use a synthetic task (a linear layer on fixed data, scripted or real val scores), so
they need no images. CoOp and CPL, which gained checkpoints with the engine, are checked end to end
for resume on toy data with a tiny random CLIP.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dfad_bench.errors import DfadError
from dfad_bench.harness import training
from dfad_bench.harness.training import CHECKPOINT_NAME, Epoch, TrainTask, amp_enabled, train_val_selected


class Interrupted(Exception):
    pass


def _ctx(work: Path, logs: list[str] | None = None, seed: int = 0) -> SimpleNamespace:
    work.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(seed=seed, work_dir=work, progress=None, log=(logs.append if logs is not None else lambda _m: None))


def _task(scores: list[float] | None = None, epochs: int = 4, patience: int = 10, stop_at: int | None = None) -> TrainTask:
    """Linear regression on fixed data, shuffled with the engine's generator; val score scripted
    (``scores``) or minus the val loss. ``stop_at``: raise Interrupted when that epoch starts."""
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(module.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(123)
    x, x_val = torch.randn(40, 3, generator=g), torch.randn(10, 3, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    y, y_val = x @ w, x_val @ w
    seen: list[int] = []

    def step(epoch: Epoch) -> dict[str, float]:
        if stop_at is not None and epoch.index == stop_at:
            raise Interrupted
        seen.append(epoch.index)
        order = torch.randperm(40, generator=epoch.rng)
        for start in range(0, 40, 8):
            idx = order[start : start + 8]
            loss = torch.nn.functional.mse_loss(module(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch.advance(1)
        return {"train_loss": float(loss.detach())}

    def val_score() -> dict[str, float]:
        with torch.no_grad():
            loss = float(torch.nn.functional.mse_loss(module(x_val), y_val))
        return {"val_loss": loss, "val_score": scores[len(seen) - 1] if scores else -loss}

    return TrainTask(name="toy", module=module, optimizer=opt, step=step, val_score=val_score, epochs=epochs, patience=patience,
                     batches_per_epoch=5)


def _strip(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_selects_the_best_val_epoch_keeps_the_earlier_on_ties_and_stops_early(tmp_path: Path) -> None:
    snapshots: list[torch.Tensor] = []
    task = _task(scores=[0.5, 0.7, 0.7, 0.6, 0.9], epochs=5, patience=2)
    inner = task.val_score

    def val_and_snapshot() -> dict[str, float]:
        snapshots.append(task.module.weight.detach().clone())
        return inner()

    task.val_score = val_and_snapshot
    result = train_val_selected(task, _ctx(tmp_path / "w"), type(task.module))
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]  # two epochs without improvement: stop
    assert result.best_epoch == 2 and result.best_score == 0.7
    assert torch.equal(task.module.weight, snapshots[1])  # the best epoch's weights are restored


def test_nan_val_scores_never_count_as_improvements(tmp_path: Path) -> None:
    result = train_val_selected(_task(scores=[math.nan, 0.1, math.nan], epochs=3), _ctx(tmp_path / "w"), torch.nn.Linear)
    assert result.best_epoch == 2
    with pytest.raises(DfadError, match="no epoch had a val score"):
        train_val_selected(_task(scores=[math.nan, math.nan], epochs=2), _ctx(tmp_path / "w2"), torch.nn.Linear)


def test_interrupted_training_resumes_from_one_checkpoint_file_to_the_uninterrupted_result(tmp_path: Path) -> None:
    full_task = _task()
    full = train_val_selected(full_task, _ctx(tmp_path / "full"), torch.nn.Linear)

    work = tmp_path / "interrupted"
    with pytest.raises(Interrupted):
        train_val_selected(_task(stop_at=2), _ctx(work), torch.nn.Linear)
    assert sorted(p.name for p in work.iterdir()) == [CHECKPOINT_NAME]  # one file: one rename commits an epoch
    logs: list[str] = []
    task = _task()
    resumed = train_val_selected(task, _ctx(work, logs), torch.nn.Linear)
    assert resumed.resumed_from == 2 and any("resuming from checkpoint after epoch 2" in m for m in logs)
    assert _strip(resumed.history) == _strip(full.history)
    assert resumed.best_epoch == full.best_epoch
    assert torch.equal(task.module.weight, full_task.module.weight)


def test_a_checkpoint_from_other_code_is_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = train_val_selected(_task(), _ctx(tmp_path / "fresh"), torch.nn.Linear)
    work = tmp_path / "w"
    with pytest.raises(Interrupted):
        train_val_selected(_task(stop_at=2), _ctx(work), torch.nn.Linear)
    monkeypatch.setattr(training, "code_fingerprint", lambda _t: "src-sha256:edited")
    logs: list[str] = []
    again = train_val_selected(_task(), _ctx(work, logs), torch.nn.Linear)
    assert [m for m in logs if "fingerprint" in m] == [
        f"toy: checkpoint {work / CHECKPOINT_NAME} was written by other code (code fingerprint differs); starting fresh"
    ]
    assert again.resumed_from == 0
    assert _strip(again.history) == _strip(fresh.history)  # identical to a --fresh run


def test_old_format_and_unreadable_checkpoints_are_never_resumed(tmp_path: Path) -> None:
    work = tmp_path / "w"
    (work / "checkpoint").mkdir(parents=True)
    (work / "checkpoint" / "state.json").write_text('{"epoch": 9}')  # three-file format: may be torn
    logs: list[str] = []
    assert train_val_selected(_task(epochs=1), _ctx(work, logs), torch.nn.Linear).resumed_from == 0
    assert any("ignoring an old-format checkpoint" in m for m in logs) and not (work / "checkpoint").exists()
    (work / CHECKPOINT_NAME).write_bytes(b"not a safetensors file")
    with pytest.raises(DfadError, match="cannot read checkpoint.*--fresh"):
        train_val_selected(_task(epochs=1), _ctx(work), torch.nn.Linear)


def test_code_fingerprint_follows_the_sources(tmp_path: Path) -> None:
    from baselines.ref_cnn.model import SmallCNN
    from gazeclip.model import GazeCLIP

    assert training.code_fingerprint(SmallCNN) == training.code_fingerprint(SmallCNN)
    assert training.code_fingerprint(SmallCNN) != training.code_fingerprint(GazeCLIP)  # baselines/ vs gazeclip/
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    before = training._hash_sources((str(pkg),))
    (pkg / "a.py").write_text("x = 2\n")
    training._hash_sources.cache_clear()
    assert training._hash_sources((str(pkg),)) != before


def test_amp_is_off_on_cpu_unless_asked() -> None:
    assert amp_enabled("cpu") is False
    assert amp_enabled("cpu", True) is True


# ----------------------------------------------------------------------------- run folder hygiene
def _plan(tmp_path: Path, logs: list[str]) -> SimpleNamespace:
    results = tmp_path / "results"
    return SimpleNamespace(
        run_dir=results / "p" / "m" / "b-seed0-abc", work_dir=results / ".work" / "abc", run_id="abc",
        opts=SimpleNamespace(fresh=False, model="m", seed=0), protocol=SimpleNamespace(ref="p@1"), log=logs.append,
    )


def test_claim_run_dir_tidies_after_success_and_keeps_the_work_folder_after_failure(tmp_path: Path) -> None:
    from dfad_bench.harness.runner import claim_run_dir

    logs: list[str] = []
    plan = _plan(tmp_path, logs)
    plan.work_dir.mkdir(parents=True)
    plan.run_dir.mkdir(parents=True)
    stale = [plan.run_dir / ".record.json.x1y2.tmp", plan.work_dir / ".checkpoint.safetensors.z9.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    with pytest.raises(RuntimeError), claim_run_dir(plan):
        assert not any(p.exists() for p in stale)  # swept under the lock
        with pytest.raises(DfadError, match="already in progress"), claim_run_dir(plan):
            pass
        (plan.work_dir / CHECKPOINT_NAME).write_bytes(b"epoch 1")
        raise RuntimeError("model failed")
    assert any("removed 2 temporary file(s)" in m for m in logs)
    assert (plan.work_dir / CHECKPOINT_NAME).exists()  # the rerun resumes from it
    assert not (plan.run_dir / ".lock").exists()

    with claim_run_dir(plan) as run_dir:
        (run_dir / "record.json").write_text("{}")
    assert sorted(p.name for p in plan.run_dir.iterdir()) == ["record.json"]
    assert not plan.work_dir.exists() and not plan.work_dir.parent.exists()


# ----------------------------------------------------------------------------- CoOp and CPL resume
@pytest.fixture(scope="module")
def clip_setup(tmp_path_factory: pytest.TempPathFactory, make_toy_bench) -> tuple[Path, str]:
    from dfad_bench.testing import tiny_clip_backbone

    bench = make_toy_bench(n_identities=12, fakes_per_generator=8, size=16)
    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }
    return bench, tiny_clip_backbone(tmp_path_factory.mktemp("engine_clip"), name="engine-test-clip", config=cfg)


@pytest.mark.parametrize(("model", "extra"), [("coop", {"n_ctx": 2, "epochs": 3, "patience": 3}),
                                              ("cpl", {"epochs": 3, "patience": 3, "hidden_dim": 16, "proj_dim": 8})])
def test_coop_and_cpl_resume_to_the_uninterrupted_metrics(model: str, extra: dict, clip_setup, tmp_path: Path,
                                                          interrupted_after_checkpoint) -> None:
    from dfad_bench.harness.runner import RunOptions, run

    bench, backbone = clip_setup
    torch.set_num_threads(1)

    def opts(results: Path) -> RunOptions:
        return RunOptions(model=model, protocol="unseen-flow", benchmark=str(bench), results_dir=results, quiet=True, n_bootstrap=0,
                          device="cpu", overrides={"backbone": backbone, **extra})

    full, _ = run(opts(tmp_path / "full"))
    with interrupted_after_checkpoint():
        run(opts(tmp_path / "cut"))
    assert list((tmp_path / "cut" / ".work").glob(f"*/{CHECKPOINT_NAME}"))
    resumed, _ = run(opts(tmp_path / "cut"))
    epochs = [r["epoch"] for r in resumed.training["history_"] if "epoch" in r]
    assert epochs == [1, 2, 3]
    assert resumed.metrics == full.metrics
