"""One record schema: RunSpec run ids, RunRecord round trip, migration of schema-1 records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfad_bench.errors import DfadError
from dfad_bench.records import SCHEMA_VERSION, RunRecord, RunSpec, load_records

REPO = Path(__file__).resolve().parent.parent
SPEC = {"model": "cnn", "protocol": "unseen-flow", "protocol_hash": "p" * 64, "benchmark": "mini", "manifest_hash": "m" * 64,
        "seed": 0}


def test_run_id_is_the_hash_of_the_normalised_config() -> None:
    from dfad_bench.harness.runner import normalise_config
    from dfad_bench.registry import MODELS

    card = MODELS.card("cnn")
    a = RunSpec.create(config=normalise_config(card, {"epochs": 30.0}), **SPEC)
    b = RunSpec.create(config=normalise_config(card, {"epochs": 30}), **SPEC)
    assert a == b and a.run_id == b.run_id  # two spellings of one option: one run
    assert a.config["epochs"] == 30 and isinstance(a.config["epochs"], int)
    # key order never matters; any other value, seed or protocol hash is another run
    assert RunSpec.create(config=dict(reversed(list(a.config.items()))), **SPEC).run_id == a.run_id
    assert RunSpec.create(config={**a.config, "epochs": 31}, **SPEC).run_id != a.run_id
    assert RunSpec.create(config=a.config, **{**SPEC, "seed": 1}).run_id != a.run_id
    assert RunSpec.create(config=a.config, **{**SPEC, "protocol_hash": "q" * 64}).run_id != a.run_id
    with pytest.raises(AttributeError):
        a.seed = 3  # type: ignore[misc]  # frozen
    with pytest.raises(DfadError, match="config cannot be recorded"):
        RunSpec.create(config={"lr": float("nan")}, **SPEC)


def test_committed_schema_1_records_migrate() -> None:
    """Every record in leaderboards/ (current board and archives) still loads."""
    roots = [p for p in (REPO / "leaderboards").rglob("records") if p.is_dir()]
    assert roots, "no committed records found"
    total = 0
    for root in roots:
        for rec in load_records(root):
            total += 1
            assert rec.schema_version == SCHEMA_VERSION
            assert isinstance(rec.git.get("dirty"), bool | None)
            if rec.raw.get("predictions") is None:  # migrated: marked as not rescoreable
                assert rec.predictions_path is None
    assert total >= 162  # mini-v1 alone has 162


def _v1_record() -> dict:
    path = next((REPO / "leaderboards" / "archive" / "mini-v1").rglob("record.json"))
    return json.loads(path.read_text())


def test_v1_migration_and_round_trip(tmp_path: Path) -> None:
    obj = _v1_record()
    assert obj["schema_version"] == 1
    rec = RunRecord.from_dict(obj, tmp_path / "record.json")
    commit = obj["git_commit"]
    assert rec.git == {"commit": commit.removesuffix("-dirty"), "dirty": commit.endswith("-dirty")}
    assert rec.git_commit == commit  # the old single-string form is still readable
    assert rec.board is False and rec.isolation == "in-process (trusted run)" and rec.predictions is None
    assert rec.samples_hash == obj.get("samples_hash", obj["manifest_hash"])
    again = RunRecord.from_dict(json.loads(json.dumps(rec.to_dict())), tmp_path / "record.json")
    assert again.to_dict() == rec.to_dict() and again.schema_version == 2


def test_schema_errors_name_file_and_key(tmp_path: Path) -> None:
    obj = RunRecord.from_dict(_v1_record()).to_dict()
    with pytest.raises(DfadError, match="unknown key 'surprise'"):
        RunRecord.from_dict({**obj, "surprise": 1}, tmp_path / "r.json")
    with pytest.raises(DfadError, match=r"r.json: unsupported schema_version 3"):
        RunRecord.from_dict({**obj, "schema_version": 3}, tmp_path / "r.json")
    with pytest.raises(DfadError, match="'git.dirty' must be true or false"):
        RunRecord.from_dict({**obj, "git": {"commit": "abc", "dirty": "yes"}}, tmp_path / "r.json")
    bad = json.loads(json.dumps(obj))
    del bad["metrics"]["attribution_acc_family"]
    with pytest.raises(DfadError, match="missing required key 'metrics.attribution_acc_family'"):
        RunRecord.from_dict(bad, tmp_path / "r.json")
    # ...unless the protocol did not compute attribution
    bad["scoring"]["metric_groups"] = ["detection"]
    assert RunRecord.from_dict(bad, tmp_path / "r.json").metric_groups == ("detection",)
