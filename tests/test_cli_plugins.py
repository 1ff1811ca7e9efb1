"""Plug-in command groups (``dfad_bench.cli`` entry points): DFAD-Mini's ``mini`` group comes in
through one, with real --help on its trainers; a broken group is reported, the rest still works."""

from __future__ import annotations

import sys

import pytest
import typer

from dfad_bench.cli import add_plugin_groups, main
from dfad_bench.registry import CLI_GROUPS

toy_group = typer.Typer(help="A toy group.")


@toy_group.command("hello")
def _hello() -> None:
    print("hello from the toy group")


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_mini_comes_from_its_entry_point() -> None:
    assert CLI_GROUPS.source("mini").startswith("entry point of dfad-bench (dfad_mini.cli:app)")


@pytest.mark.parametrize(("command", "flags"), [
    ("train-generators", ["--only", "--total-time-s", "--install-bundle", "--no-amp", "--keep-going"]),
    ("pretrain-clip", ["--out", "--time-budget-s", "--no-hard-negatives", "--work-dir"]),
    ("pretrain-gaze", ["--ckpt-dir", "--n-val", "--no-resume"]),
])
def test_the_trainers_have_real_help(command: str, flags: list[str], capsys) -> None:
    code, out, _ = run(["mini", command, "--help"], capsys)
    assert code == 0
    for flag in flags:
        assert flag in out, (command, flag)


def test_trainer_options_are_checked_before_any_work(tmp_path, capsys) -> None:
    code, _, err = run(["mini", "train-generators", "--all", "--only", "mini-dcgan", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--all and --only cannot be combined" in err
    code, _, err = run(["mini", "train-generators", "--grid-samples", "-1", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--grid-samples" in err
    assert not (tmp_path / "train.log").exists()


def test_python_dash_m_runs_the_same_command(capsys) -> None:
    from dfad_mini.gaze import main as gaze_main

    assert gaze_main(["--help"]) == 0
    assert "Usage: python -m dfad_mini.gaze" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        gaze_main(["--steps", "x"])
    assert info.value.code == 2


def test_a_broken_group_is_reported_and_the_others_work(register_temporarily, monkeypatch, capsys) -> None:
    register_temporarily(CLI_GROUPS, "zz-broken", "no_such_module_dfad:app")
    register_temporarily(CLI_GROUPS, "zz-toy", f"{__name__}:toy_group")
    register_temporarily(CLI_GROUPS, "split", f"{__name__}:toy_group")  # clashes with a built-in command
    fresh = typer.Typer(no_args_is_help=True)

    @fresh.command("split")
    def _split() -> None:
        print("built-in split")

    add_plugin_groups(fresh)
    monkeypatch.setattr(sys.modules["dfad_bench.cli"], "app", fresh)
    code, out, _ = run(["zz-toy", "hello"], capsys)
    assert code == 0 and "hello from the toy group" in out
    code, out, _ = run(["split"], capsys)
    assert code == 0 and "built-in split" in out
    code, _, err = run(["zz-broken", "anything", "--x"], capsys)
    assert code == 2 and "command group 'zz-broken': cannot import 'no_such_module_dfad:app'" in err
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "zz-broken" in out and "broken plug-in" in out
