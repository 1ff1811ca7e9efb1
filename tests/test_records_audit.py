"""Records you can audit: CPU model, plug-in distribution, git state, --board refuses a dirty tree,
isolation; protocols: selection is validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dfad_bench.errors import DfadError
from dfad_bench.harness import runner
from dfad_bench.harness.record import cpu_model, hardware_info, plugin_distribution
from dfad_bench.harness.runner import RunOptions, run
from dfad_bench.protocol import get_protocol, load_protocol_file


@pytest.fixture(scope="module")
def bench(make_toy_bench) -> Path:
    return make_toy_bench(n_identities=30, images_per_identity=2, fakes_per_generator=16, size=24)


def test_cpu_model_and_plugin_distribution() -> None:
    model = cpu_model()
    assert model and model == hardware_info("cpu")["cpu_model"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file() and "model name" in cpuinfo.read_text():
        assert model in cpuinfo.read_text()
    assert plugin_distribution("baselines.ref_stats.model:ImageStatsModel")["distribution"] == "dfad-bench"
    assert plugin_distribution("numpy.linalg:norm")["distribution"] == "numpy"
    assert plugin_distribution("not_installed_pkg.mod:X") == {"distribution": None, "version": None, "module": "not_installed_pkg.mod"}


def test_record_carries_audit_fields(bench: Path, tmp_path: Path) -> None:
    rec, run_dir = run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench), results_dir=tmp_path,
                                  quiet=True, n_bootstrap=10))
    data = json.loads((run_dir / "record.json").read_text())
    assert data["schema_version"] == 2
    assert data["hardware"]["cpu_model"] == cpu_model()
    assert data["plugin"]["distribution"] == "dfad-bench" and data["plugin"]["version"]
    assert set(data["git"]) == {"commit", "dirty"}
    assert data["board"] is False and data["allow_dirty"] is False
    assert data["isolation"] == "in-process (trusted run)"
    assert data["scoring"]["selection"] == "val-only" and data["scoring"]["n_bootstrap"] == 10
    assert data["predictions"]["file"] == "predictions.parquet" and len(data["predictions"]["labels_hash"]) == 64


def test_board_run_refuses_a_dirty_tree(bench: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runner, "git_state", lambda: {"commit": "a" * 40, "dirty": True})
    opts = RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench), results_dir=tmp_path / "r", quiet=True,
                      n_bootstrap=10, board=True)
    with pytest.raises(DfadError, match="--board: the git tree at commit aaaaaaaaaaaa has uncommitted changes") as err:
        run(opts)
    assert "\n" not in str(err.value) and "--allow-dirty" in str(err.value)
    assert not (tmp_path / "r").exists()  # refused before any run folder exists
    opts.allow_dirty = True
    rec, _ = run(opts)
    assert rec.board and rec.allow_dirty and rec.git == {"commit": "a" * 40, "dirty": True}


def test_board_run_on_a_clean_tree(bench: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runner, "git_state", lambda: {"commit": "b" * 40, "dirty": False})
    rec, _ = run(RunOptions(model="ref-stats", protocol="unseen-flow", benchmark=str(bench), results_dir=tmp_path, quiet=True,
                            n_bootstrap=10, board=True))
    assert rec.board and not rec.allow_dirty and rec.git_commit == "b" * 40


def test_unknown_selection_rule_is_refused(tmp_path: Path) -> None:
    raw = dict(get_protocol("unseen-flow").raw, name="cheat", selection="best-on-test")
    path = tmp_path / "cheat.v1.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DfadError) as err:
        load_protocol_file(path)
    msg = str(err.value)
    assert str(path) in msg and "selection 'best-on-test'" in msg and "val-only" in msg and "\n" not in msg


@pytest.mark.parametrize(("metrics", "message"), [
    (["attribution"], "'detection' is required"),
    (["detection", "open_set"], "'open_set' needs 'attribution'"),
    (["detection", "vibes"], "unknown metric group 'vibes'"),
])
def test_metric_groups_are_validated(tmp_path: Path, metrics: list[str], message: str) -> None:
    raw = dict(get_protocol("unseen-flow").raw, name="groups", metrics=metrics)
    path = tmp_path / "groups.v1.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DfadError, match=message):
        load_protocol_file(path)


def test_shipped_protocols_use_rules_the_harness_implements() -> None:
    from dfad_bench.protocol import SELECTION_RULES, list_protocols

    for proto in list_protocols():
        assert proto.selection in SELECTION_RULES
        assert proto.metrics[0] == "detection"


def test_cli_board_flag_refuses_a_dirty_tree_in_one_line(bench: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from dfad_bench.cli import main

    monkeypatch.setattr(runner, "git_state", lambda: {"commit": "c" * 40, "dirty": True})
    with pytest.raises(SystemExit) as exc:
        main(["run", "--model", "ref-stats", "--protocol", "unseen-flow", "--benchmark", str(bench), "--results",
              str(tmp_path / "r"), "--quiet", "--board"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "--allow-dirty" in err
    assert not (tmp_path / "r").exists()
