"""End-to-end: split then score on a CSV manifest (no images), and the error paths."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dfad_bench.cli import main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.fixture
def split_and_preds(toy_csv, tmp_path, capsys):
    roles_path = tmp_path / "roles.parquet"
    code, _, err = run_cli(["split", "--protocol", "unseen-flow", "--benchmark", str(toy_csv), "--seed", "4", "--output", str(roles_path)], capsys)
    assert code == 0, err
    roles = pd.read_parquet(roles_path)
    scored = roles[roles.role.isin(["test", "val"])].copy()
    rng = np.random.default_rng(7)
    pred = pd.DataFrame({"sample_id": scored.sample_id, "fake_score": rng.random(len(scored))})
    return roles, pred


def test_list_protocols_json(capsys):
    code, out, _ = run_cli(["list", "protocols", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0
    assert {"closed", "unseen-gan", "unseen-diffusion", "unseen-flow", "unseen-generator", "cross-forgery"} <= {r["name"] for r in rows}
    assert all(len(r["hash"]) == 64 and r["version"] >= 1 for r in rows)


def test_split_then_score_matches_sklearn(toy_csv, tmp_path, capsys, split_and_preds):
    roles, pred = split_and_preds
    assert set(roles.columns) >= {"sample_id", "role", "seen", "generator", "family"}
    pred_path = tmp_path / "pred.csv"
    pred.to_csv(pred_path, index=False)
    out_path = tmp_path / "metrics.json"
    code, out, err = run_cli(["score", str(pred_path), "--protocol", "unseen-flow", "--benchmark", str(toy_csv), "--seed", "4", "--output", str(out_path)], capsys)
    assert code == 0, err
    metrics = json.loads(out_path.read_text())
    assert json.loads(out)["per_generator"] == metrics["per_generator"]
    test = roles[roles.role == "test"].merge(pred, on="sample_id")
    real = test[test.family == "real"]
    unseen = sorted(test.loc[~test.seen, "generator"].unique())
    assert unseen == ["toy-flow-a", "toy-flow-b"]
    aucs = []
    for g in unseen:
        part = pd.concat([real, test[test.generator == g]])
        expected = roc_auc_score(part.family != "real", part.fake_score)
        assert abs(metrics["per_generator"][g]["auc"] - expected) < 1e-9
        aucs.append(expected)
    assert abs(metrics["detection_auc_mean_unseen"] - np.mean(aucs)) < 1e-9
    assert "attribution_acc_family" in metrics and "per_family" in metrics


@pytest.mark.parametrize("problem", ["missing", "nan", "unknown_class"])
def test_score_rejects_bad_predictions(toy_csv, tmp_path, capsys, split_and_preds, problem):
    _, pred = split_and_preds
    if problem == "missing":
        pred = pred.iloc[5:]
    elif problem == "nan":
        pred = pred.copy()
        pred.loc[pred.index[3], "fake_score"] = np.nan
    else:
        pred = pred.assign(**{"prob_family.real": 0.5, "prob_family.martian": 0.5})
    pred_path = tmp_path / "pred.csv"
    pred.to_csv(pred_path, index=False)
    out_path = tmp_path / "metrics.json"
    code, out, err = run_cli(["score", str(pred_path), "--protocol", "unseen-flow", "--benchmark", str(toy_csv), "--seed", "4", "--output", str(out_path)], capsys)
    assert code == 2
    assert not out_path.exists()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert {"missing": "missing predictions", "nan": "NaN", "unknown_class": "martian"}[problem] in err


def test_bad_manifest_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "m.csv"
    pd.DataFrame({"sample_id": ["a"], "path": ["x.png"]}).to_csv(bad, index=False)
    code, _, err = run_cli(["split", "--protocol", "closed", "--benchmark", str(bad), "--output", str(tmp_path / "r.csv")], capsys)
    assert code == 2 and "missing required column 'generator'" in err
    assert not (tmp_path / "r.csv").exists()
