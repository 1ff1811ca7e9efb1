"""Leaderboard tables from synthetic run records: aggregation, best marks, missing cells, formats."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dfad_bench.errors import DfadError
from dfad_bench.tables import (
    GENERATED,
    build_board,
    build_boards,
    leaderboard,
    load_records,
    render_board,
    render_boards,
)

UNSEEN = "unseen-flow"
CLOSED = "closed"
HASHES = {UNSEEN: "a" * 64, CLOSED: "c" * 64}
MANIFEST = "m" * 64


def _record(
    model: str,
    seed: int,
    protocol: str,
    aucs: dict[str, float | None],
    unseen: set[str],
    *,
    acc_family: float | None = 0.5,
    f1_family: float | None = 0.4,
    acc_generator: float | None = 0.3,
    acc_val: float | None = 0.6,
    ips: float | None = 100.0,
    stored_mean_unseen: float | None | str = "auto",
    manifest_hash: str = MANIFEST,
    samples_hash: str | None = "same-as-manifest",
    protocol_hash: str | None = None,
    status: str = "complete",
) -> dict:
    """A record shaped like the runner's, with the mean AUCs computed as metrics/report.py does
    (mean over the defined AUCs only), so the table's missing-cell rule is really exercised."""
    per_generator = {
        g: {
            "family": g.split("-")[0],
            "forgery_type": "efs",
            "seen": g not in unseen,
            "n_fake": 10,
            "auc": a,
            "ap": a,
            "eer": None,
            "acc_fixed": None,
            "acc_val_threshold": None,
            "tpr_fixed": None,
        }
        for g, a in aucs.items()
    }

    def mean(names):
        vals = [aucs[g] for g in names if aucs[g] is not None]
        return sum(vals) / len(vals) if vals else None

    unseen_names = [g for g in aucs if g in unseen]
    mean_unseen = (mean(unseen_names) if unseen_names else None) if stored_mean_unseen == "auto" else stored_mean_unseen
    return {
        "schema_version": 1,
        "run_id": f"{model}-{protocol}-{seed}",
        "model": model,
        "model_config": {"lr": 0.001, "seed": seed},
        "model_card": {"inputs": ["pixels"], "open_vocabulary": False},
        "protocol": protocol,
        "protocol_version": 1,
        "protocol_hash": protocol_hash or HASHES[protocol],
        "benchmark": "mini",
        "manifest_hash": manifest_hash,
        **({"samples_hash": manifest_hash if samples_hash == "same-as-manifest" else samples_hash}
           if samples_hash is not None else {}),
        "seed": seed,
        "selection_rule": "val-only",
        "threshold": {"fixed": 0.5, "val": 0.4, "chosen_on": "val"},
        "git_commit": "deadbeef",
        "versions": {"dfad_bench": "0.1.0"},
        "hardware": {"device": "cpu"},
        "timings": {
            "fit_seconds": 1.0,
            "predict_seconds": 1.0,
            "predict_images_per_second": ips,
            "fit_images_per_second": 50.0,
            "total_seconds": 2.0,
        },
        "status": status,
        "created_at": "2025-01-01T00:00:00Z",
        "bad_inputs": [],
        "split_counts": {},
        "label_spaces": {},
        "metrics": {
            "detection_auc_mean_unseen": mean_unseen,
            "detection_auc_mean_seen": mean([g for g in aucs if g not in unseen]),
            "detection_auc_mean": mean(list(aucs)),
            "attribution_acc_family": acc_family,
            "attribution_acc_generator": acc_generator,
            "attribution_macro_f1_family": f1_family,
            "attribution_macro_f1_generator": None,
            "detection": {"auc": 0.9, "ap": 0.9, "eer": 0.1, "acc_fixed": 0.8, "acc_val_threshold": acc_val},
            "per_generator": per_generator,
            "per_family": {},
            "attribution": {},
            "clustering": None,
        },
    }


def _write(root: Path, rec: dict, name: str | None = None) -> Path:
    folder = root / rec["protocol"] / (name or f"{rec['model']}-s{rec['seed']}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(json.dumps(rec))
    (folder / "predictions.parquet").write_bytes(b"")  # tables never read it
    return folder / "record.json"


ALPHA_FLOW = [(0.90, 0.80), (0.92, 0.82), (0.94, 0.84)]
BETA_FLOW = [(0.70, 0.60), (0.75, 0.60), (0.80, 0.60)]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    unseen = {"flow-a", "flow-b"}
    for seed in range(3):
        a, b = ALPHA_FLOW[seed]
        _write(root, _record("alpha", seed, UNSEEN, {"flow-a": a, "flow-b": b, "gan-a": 0.99}, unseen,
                             acc_family=0.60 + 0.05 * seed, ips=100.0 + 10 * seed))
        a, b = BETA_FLOW[seed]
        # clip_linear: one seed has no family accuracy -> the row gets no family ACC.
        _write(root, _record("clip_linear", seed, UNSEEN, {"flow-a": a, "flow-b": b, "gan-a": 0.98}, unseen,
                             acc_family=None if seed == 2 else 0.7, ips=200.0))
        # closed protocol: no unseen generator; clip_linear wins here.
        _write(root, _record("alpha", seed, CLOSED, {"diff-a": 0.80, "gan-a": 0.90 + 0.01 * seed}, set()))
        _write(root, _record("clip_linear", seed, CLOSED, {"diff-a": 0.95, "gan-a": 0.97}, set()))
    # gamma: one seed, flow-b AUC undefined; its stored unseen mean is flow-a alone (mean of what exists).
    _write(root, _record("gamma", 0, UNSEEN, {"flow-a": 0.99, "flow-b": None, "gan-a": 0.9}, unseen, f1_family=0.3))
    # unfinished runs: predictions but no record yet, and a record that says it is still running
    (root / UNSEEN / "delta-s0").mkdir(parents=True)
    (root / UNSEEN / "delta-s0" / "predictions.parquet").write_bytes(b"")
    _write(root, _record("epsilon", 0, UNSEEN, {"flow-a": 0.5, "flow-b": 0.5}, unseen, status="running"))
    return root


def _std(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


# ----------------------------------------------------------------------------- loading


def test_load_records_skips_unfinished_runs(results: Path) -> None:
    loaded = load_records(results)
    assert len(loaded) == 13
    assert {r.model for r in loaded} == {"alpha", "clip_linear", "gamma"}
    assert len(loaded.skipped) == 2
    notes = " ".join(loaded.notes)
    assert "delta-s0" in notes and "no record.json" in notes
    assert "epsilon-s0" in notes and "'running'" in notes


def test_malformed_json_names_the_file(results: Path) -> None:
    bad = results / "closed" / "alpha-s0" / "record.json"
    bad.write_text('{"schema_version": 1, "model": ')
    with pytest.raises(DfadError, match="malformed JSON") as err:
        load_records(results)
    assert str(bad) in str(err.value)


@pytest.mark.parametrize(
    ("drop", "key"),
    [(("manifest_hash",), "manifest_hash"), (("metrics", "detection", "acc_val_threshold"), "metrics.detection.acc_val_threshold")],
)
def test_missing_key_names_file_and_key(tmp_path: Path, drop: tuple[str, ...], key: str) -> None:
    rec = _record("alpha", 0, UNSEEN, {"flow-a": 0.9}, {"flow-a"})
    target = rec
    for k in drop[:-1]:
        target = target[k]
    del target[drop[-1]]
    path = _write(tmp_path, rec)
    with pytest.raises(DfadError) as err:
        load_records(tmp_path)
    assert str(path) in str(err.value) and f"'{key}'" in str(err.value)


def test_nan_and_wrong_schema_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, _record("alpha", 0, UNSEEN, {"flow-a": 0.9}, {"flow-a"}))
    path.write_text(path.read_text().replace('"attribution_acc_family": 0.5', '"attribution_acc_family": NaN'))
    with pytest.raises(DfadError, match="malformed JSON"):
        load_records(tmp_path)
    rec = _record("alpha", 0, UNSEEN, {"flow-a": 0.9}, {"flow-a"})
    rec["schema_version"] = 99
    path.write_text(json.dumps(rec))
    with pytest.raises(DfadError, match="unsupported schema_version 99"):
        load_records(tmp_path)


def test_missing_results_dir(tmp_path: Path) -> None:
    with pytest.raises(DfadError, match="does not exist"):
        load_records(tmp_path / "nope")


# ----------------------------------------------------------------------------- boards


def test_mean_std_over_seeds_by_hand(results: Path) -> None:
    board = build_board(load_records(results), UNSEEN)
    assert [c.name for c in board.columns][:3] == ["AUC flow-a", "AUC flow-b", "Mean unseen AUC"]
    assert board.generators == ("flow-a", "flow-b")  # gan-a is seen: no column
    rows = {r.label: r for r in board.rows}
    alpha = rows["alpha"].cells
    # flow-a 0.90/0.92/0.94 -> 0.92 +- 0.02; per-seed unseen means 0.85/0.87/0.89 -> 0.87 +- 0.02
    assert alpha["auc:flow-a"].mean == pytest.approx(0.92) and alpha["auc:flow-a"].std == pytest.approx(0.02)
    assert alpha["auc_mean_unseen"].mean == pytest.approx(0.87)
    assert alpha["auc_mean_unseen"].std == pytest.approx(0.02)
    assert alpha["acc_family"].mean == pytest.approx(0.65) and alpha["acc_family"].std == pytest.approx(0.05)
    assert alpha["images_per_second"].mean == pytest.approx(110.0)
    assert alpha["images_per_second"].std == pytest.approx(10.0)
    beta = rows["clip_linear"].cells
    # per-seed unseen means 0.65/0.675/0.70 -> 0.675 +- 0.025
    assert beta["auc_mean_unseen"].mean == pytest.approx(0.675)
    assert beta["auc_mean_unseen"].std == pytest.approx(_std([0.65, 0.675, 0.70]))
    assert beta["auc:flow-b"].std == pytest.approx(0.0)
    assert rows["alpha"].seeds == (0, 1, 2) and alpha["n_seeds"].mean == 3
    gamma = rows["gamma"].cells  # one seed: value, no std
    assert gamma["auc:flow-a"].mean == pytest.approx(0.99) and gamma["auc:flow-a"].std is None


def test_missing_cell_gets_no_aggregate(results: Path) -> None:
    board = build_board(load_records(results), UNSEEN)
    rows = {r.label: r for r in board.rows}
    # gamma's record stores 0.99 as its unseen mean (flow-a only); the table must not show it.
    assert rows["gamma"].cells["auc:flow-b"].mean is None
    assert rows["gamma"].cells["auc_mean_unseen"].mean is None
    # clip_linear has family ACC on 2 of 3 seeds: no mean of the seeds that have it.
    assert rows["clip_linear"].cells["acc_family"].mean is None
    assert rows["clip_linear"].cells["f1_family"].mean == pytest.approx(0.4)
    assert rows["clip_linear"].cells["acc_family"].n == 0 and rows["alpha"].cells["acc_family"].n == 3
    # sorted by mean unseen AUC descending, rows without it last
    assert [r.label for r in board.rows] == ["alpha", "clip_linear", "gamma"]


def test_best_marking(results: Path) -> None:
    board = build_board(load_records(results), UNSEEN)
    best = {key: {r.label for r in board.rows if r.cells[key].best} for key in board.rows[0].cells}
    assert best["auc_mean_unseen"] == {"alpha"}
    # gamma (0.99 on flow-a) has 1 seed, the board's full count is 3: it does not compete for best.
    assert best["auc:flow-a"] == {"alpha"}
    assert board.full_seeds == 3
    assert best["images_per_second"] == set()  # machine-dependent: never ranked
    # alpha and clip_linear tie at 40.0 and are the only full-seed rows: nobody to beat, no mark.
    assert best["f1_family"] == set()
    assert best["acc_generator"] == set()  # every row shows the same number: no winner
    assert best["n_seeds"] == set()


def test_closed_protocol_uses_overall_mean(results: Path) -> None:
    board = build_board(load_records(results), "closed@1")
    assert not board.has_unseen
    assert not any(c.key.startswith("auc:") for c in board.columns)
    assert "Mean AUC" in [c.name for c in board.columns]
    rows = {r.label: r for r in board.rows}
    # alpha per seed (0.80+0.90)/2, (0.80+0.91)/2, (0.80+0.92)/2 -> 0.855 +- 0.005
    assert rows["alpha"].cells["auc_mean"].mean == pytest.approx(0.855)
    assert rows["alpha"].cells["auc_mean"].std == pytest.approx(0.005)
    assert [r.label for r in board.rows] == ["clip_linear", "alpha"]


def test_protocol_filter_and_errors(results: Path) -> None:
    records = load_records(results)
    assert [b.protocol_ref for b in build_boards(records)] == ["closed@1", "unseen-flow@1"]
    assert [b.protocol_ref for b in build_boards(records, "closed")] == ["closed@1"]
    assert [b.protocol_ref for b in build_boards(records, "unseen-flow@1")] == ["unseen-flow@1"]
    with pytest.raises(DfadError, match="no complete run records match"):
        build_boards(records, "closed@2")
    with pytest.raises(DfadError, match="no complete run records match"):
        build_board(records, "unseen-gan")
    with pytest.raises(DfadError, match="name@version"):
        build_boards(records, "closed@x")


def test_protocol_hash_conflict_is_an_error(results: Path) -> None:
    stale = _write(results, _record("alpha", 7, CLOSED, {"gan-a": 0.9}, set(), protocol_hash="f" * 64))
    with pytest.raises(DfadError, match="a released protocol version never changes") as err:
        build_boards(load_records(results))
    assert "closed@1" in str(err.value) and str(stale) in str(err.value)


def test_other_samples_are_a_separate_board(results: Path) -> None:
    _write(results, _record("alpha", 0, CLOSED, {"gan-a": 0.9}, set(), manifest_hash="9" * 64), name="other")
    boards = build_boards(load_records(results), CLOSED)
    assert sorted(b.samples_hash[0] for b in boards) == ["9", "m"]
    with pytest.raises(DfadError, match="span 2 boards"):
        build_board(load_records(results), CLOSED)


def test_same_samples_other_image_bytes_share_a_board(results: Path) -> None:
    """E.g. DFAD-Mini built on another CPU type: same samples, a few pixels differ by one level."""
    _write(results, _record("delta", 0, CLOSED, {"diff-a": 0.7, "gan-a": 0.9}, set(), manifest_hash="9" * 64,
                            samples_hash=MANIFEST), name="other-cpu")
    board = build_board(load_records(results), CLOSED)
    assert board.samples_hash == MANIFEST and board.manifest_hashes == tuple(sorted([MANIFEST, "9" * 64]))
    assert "delta" in [r.label for r in board.rows]
    text = render_boards([board], "md")
    assert "2 builds with the same samples but different image bytes" in text


def test_record_without_samples_hash_uses_its_manifest_hash(results: Path) -> None:
    _write(results, _record("delta", 0, CLOSED, {"diff-a": 0.7, "gan-a": 0.9}, set(), samples_hash=None), name="old")
    board = build_board(load_records(results), CLOSED)
    assert "delta" in [r.label for r in board.rows] and board.manifest_hashes == (MANIFEST,)


def test_duplicate_seed_and_inconsistent_mean_are_errors(results: Path, tmp_path: Path) -> None:
    _write(results, _record("alpha", 0, CLOSED, {"diff-a": 0.8, "gan-a": 0.9}, set()), name="rerun")
    with pytest.raises(DfadError, match="duplicate run of model 'alpha' seed 0"):
        build_board(load_records(results), CLOSED)
    lone = tmp_path / "lone"
    _write(lone, _record("alpha", 0, UNSEEN, {"flow-a": 0.9, "flow-b": 0.7}, {"flow-a", "flow-b"},
                         stored_mean_unseen=0.9))
    with pytest.raises(DfadError, match="inconsistent"):
        build_board(load_records(lone), UNSEEN)


def test_two_configs_of_one_model_are_separate_rows(tmp_path: Path) -> None:
    for lr in (0.1, 0.2):
        rec = _record("alpha", 0, CLOSED, {"gan-a": 0.9}, set())
        rec["model_config"]["lr"] = lr
        _write(tmp_path, rec, name=f"lr{lr}")
    board = build_board(load_records(tmp_path), CLOSED)
    # a tie on lr: the smaller value is the reference, the other row names its difference
    assert sorted(r.label for r in board.rows) == ["alpha", "alpha (lr=0.2)"]


def test_ablation_rows_are_labelled_by_what_differs() -> None:
    from dfad_bench.tables.boards import config_labels

    default = {"gaze": "gaze-mini", "gie": True, "levels": ["a", "b"], "seed": 0}
    cfgs = {"d": default, "g": {**default, "gaze": False}, "i": {**default, "gie": False, "seed": 3},
            "l": {**default, "levels": ["b"]}}
    assert config_labels("m", cfgs) == {"d": "m", "g": "m (gaze=false)", "i": "m (gie=false)", "l": "m (levels=[b])"}
    # labels that would coincide (values equal once shortened) keep the config id
    long = {"x": {"p": "a" * 60 + "1", "q": 0}, "y": {"p": "a" * 60 + "2", "q": 0}, "z": {"p": "b", "q": 0},
            "w": {"p": "b", "q": 1}}
    labels = config_labels("m", long)
    assert labels["z"] == "m" and labels["w"] == "m (q=1)"
    assert labels["x"].endswith("…) [x]") and labels["y"].endswith("…) [y]")
    assert config_labels("m", {"only": default}) == {"only": "m"}


# ----------------------------------------------------------------------------- rendering


def test_markdown(results: Path) -> None:
    text = render_boards(build_boards(load_records(results)), "md")
    assert text.startswith(f"<!-- {GENERATED} -->")
    assert f"## unseen-flow@1 · benchmark mini · samples {MANIFEST[:12]}" in text
    assert f"protocol hash `{HASHES['unseen-flow'][:12]}` · manifest {MANIFEST[:12]} · " in text
    assert "## closed@1 · benchmark mini" in text
    assert "| alpha | **92.0 ± 2.0** | **82.0 ± 2.0** | **87.0 ± 2.0** | 65.0 ± 5.0 | 40.0 ± 0.0 |" in text  # family ACC: no full-seed rival
    assert "| gamma | 99.0 | — | — | 50.0 | 30.0 |" in text  # one seed of three: never bold
    assert "| Images/s (machine-dependent) | Seeds |" in text
    assert "200.0 ± 0.0" in text and "**200.0 ± 0.0**" not in text
    assert "best among rows with 3 seed(s)" in text


def test_csv_is_machine_readable(results: Path) -> None:
    text = render_boards(build_boards(load_records(results)), "csv")
    assert text.startswith(f"# {GENERATED}\n")
    table = pd.read_csv(io.StringIO(text), comment="#")
    alpha = table[(table.protocol == UNSEEN) & (table.model == "alpha")].iloc[0]
    assert alpha["auc_mean_unseen_mean"] == pytest.approx(0.87)
    assert alpha["auc_mean_unseen_std"] == pytest.approx(0.02)
    assert "auc_mean_unseen" in alpha["best"].split(";")
    gamma = table[table.model == "gamma"].iloc[0]
    assert math.isnan(gamma["auc_mean_unseen_mean"]) and gamma["n_seeds"] == 1
    closed = table[table.protocol == CLOSED]
    assert closed["auc:flow-a_mean"].isna().all() and closed["auc_mean_mean"].notna().all()


def test_latex_booktabs_and_escaping(results: Path) -> None:
    board = build_board(load_records(results), UNSEEN)
    text = render_board(board, "latex")
    assert text.startswith(f"% {GENERATED}")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\textbf{87.0 $\pm$ 2.0}", r"clip\_linear"):
        assert token in text
    assert "clip_linear" not in text.replace(r"clip\_linear", "")
    assert "±" not in text and "—" not in text


def test_html_is_self_contained(results: Path) -> None:
    text = render_boards(build_boards(load_records(results)), "html")
    assert text.startswith("<!DOCTYPE html>") and GENERATED in text
    assert text.count("<table") == 2 and "<style>" in text
    assert "<strong>87.0 ± 2.0</strong>" in text
    for forbidden in ("<script", "src=", "href=", "http://", "https://"):
        assert forbidden not in text


def test_unknown_format(results: Path) -> None:
    with pytest.raises(DfadError, match="expected one of"):
        render_board(build_board(load_records(results), CLOSED), "xlsx")


def test_leaderboard_writes_and_notes(results: Path, tmp_path: Path) -> None:
    notes: list[str] = []
    out = tmp_path / "leaderboards" / "closed.md"
    text = leaderboard(results, "closed", "md", out, on_note=notes.append)
    assert out.read_text(encoding="utf-8") == text
    assert "closed@1" in text and "unseen-flow" not in text
    assert len(notes) == 2
    with pytest.raises(DfadError, match="no complete run records"):
        leaderboard(tmp_path / "leaderboards", None, "md", None)


def test_tables_do_not_import_torch() -> None:
    code = "import sys, dfad_bench.tables; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_unsealed_runs_are_marked(tmp_path: Path) -> None:
    for model, isolation in (("alpha", None), ("beta", "unsealed (no bubblewrap)"), ("gamma", "sealed (bubblewrap)")):
        rec = _record(model, 0, UNSEEN, {"flow-a": 0.9}, {"flow-a"})
        if isolation:
            rec.update(schema_version=2, git={"commit": "deadbeef", "dirty": False}, isolation=isolation)
            del rec["git_commit"]
        _write(tmp_path, rec)
    board = build_board(load_records(tmp_path), UNSEEN)
    rows = {r.model: r for r in board.rows}
    assert rows["beta"].label == "beta (unsealed)" and rows["beta"].isolation == ("unsealed (no bubblewrap)",)
    assert rows["alpha"].label == "alpha" and rows["gamma"].label == "gamma"  # trusted run / sealed submission
    assert "| beta (unsealed) |" in render_board(board, "md")


# ----------------------------------------------------------------------------- tables in the docs


def test_doc_tables_are_generated_from_their_records() -> None:
    """Every table between <!-- table:... --> markers in README.md and docs/*.md equals what its
    records give (regenerate with `python scripts/results_table.py --update-docs`)."""
    from dfad_bench.tables.docs import doc_files, update_docs

    repo = Path(__file__).resolve().parent.parent
    marked = [p for p in doc_files(repo) if "<!-- table:" in p.read_text(encoding="utf-8")]
    assert marked, "no generated tables found in the docs"
    stale = update_docs(repo, check=True)
    assert not stale, f"out of date (run scripts/results_table.py --update-docs): {[str(p) for p in stale]}"


def test_doc_table_markers_regenerate_and_catch_edits(results: Path, tmp_path: Path) -> None:
    from dfad_bench.tables.docs import regenerate, update_docs

    rel = results.relative_to(tmp_path)
    doc = tmp_path / "docs" / "X.md"
    doc.parent.mkdir()
    doc.write_text(f"intro\n\n<!-- table:results {rel} alpha clip_linear -->\nstale\n<!-- /table -->\n\nafter\n<!-- table:board {rel} closed@1 -->\n<!-- /table -->\n")
    assert update_docs(tmp_path, check=True) == [doc]
    assert update_docs(tmp_path) == [doc] and update_docs(tmp_path, check=True) == []
    text = doc.read_text()
    assert "| unseen-flow | alpha | 3 | 87.0 ± 2.0 | 65.0 ± 5.0 |" in text and text.startswith("intro\n") and "after" in text
    assert "| clip_linear | **96.0 ± 0.0** |" in text  # the closed board, best marked among 3-seed rows
    doc.write_text(text.replace("87.0 ± 2.0", "97.0 ± 2.0"))  # a hand-edited number
    assert update_docs(tmp_path, check=True) == [doc]
    with pytest.raises(DfadError, match="unknown table kind 'pie'"):
        regenerate("<!-- table:pie x -->\n<!-- /table -->", tmp_path, "Y.md")


def test_leaderboard_joins_several_results_folders(results: Path, tmp_path: Path) -> None:
    """A newcomer's fresh run beside a copy of the committed records lands on the same board; a
    run present in both folders (same run id) counts once."""
    import shutil

    mine = tmp_path / "mine"
    unseen = {"flow-a", "flow-b"}
    _write(mine, _record("delta", 0, UNSEEN, {"flow-a": 0.5, "flow-b": 0.5, "gan-a": 0.9}, unseen))
    shutil.copytree(results / UNSEEN / "alpha-s0", mine / UNSEEN / "alpha-s0-copy")
    joined = leaderboard([results, mine], UNSEEN, "csv")
    alone = leaderboard(results, UNSEEN, "csv")
    assert ",delta," in joined and ",delta," not in alone

    def alpha_row(text: str) -> str:
        return next(line for line in text.splitlines() if ",alpha," in line)

    # the copy is not a 4th seed: alpha's row (seed count, means, best marks aside) is unchanged
    assert alpha_row(joined).split(",")[7] == alpha_row(alone).split(",")[7] == "3"
