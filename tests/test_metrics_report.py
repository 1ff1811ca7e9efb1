"""compute_run_metrics: structure, agreement with scikit-learn, validation errors, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from dfad_bench.errors import DfadError
from dfad_bench.labels import make_label_space
from dfad_bench.metrics import TOP_LEVEL_KEYS, calibrate_threshold, compute_run_metrics

# generator -> (family, forgery type, generator seen)
WORLD = {
    "real": ("real", "real", True),
    "stylegan2": ("gan", "efs", True),
    "ddpm": ("diffusion", "efs", True),
    "simswap": ("gan", "fs", True),
    "stylegan3": ("gan", "efs", False),  # unseen generator of a seen family
    "flux1-dev": ("flow", "efs", False),
    "sd3": ("flow", "efs", False),
    "var": ("autoregressive", "efs", False),
}
COUNTS = {
    "real": 80,
    "stylegan2": 30,
    "ddpm": 25,
    "simswap": 20,
    "stylegan3": 15,
    "flux1-dev": 20,
    "sd3": 12,
    "var": 18,
}


def _label_spaces(world: dict = WORLD) -> dict:
    seen_g = [g for g, (_, _, s) in world.items() if s]
    unseen_g = [g for g, (_, _, s) in world.items() if not s]
    seen_f = {world[g][0] for g in seen_g}
    unseen_f = {f for f, _, _ in world.values()} - seen_f
    return {
        "generator": make_label_space("generator", seen_g, unseen_g),
        "family": make_label_space("family", seen_f, unseen_f),
    }


def _table(seed: int = 0, world: dict = WORLD, counts: dict = COUNTS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spaces = _label_spaces(world)
    rows = []
    for g, n in counts.items():
        fam, ftype, _ = world[g]
        for i in range(n):
            rows.append(
                {
                    "sample_id": f"{g}-{i}",
                    "generator": g,
                    "family": fam,
                    "forgery_type": ftype,
                    "is_fake": g != "real",
                    "generator_seen": g in spaces["generator"].seen,
                    "family_seen": fam in spaces["family"].seen,
                }
            )
    table = pd.DataFrame(rows)
    shift = np.where(table["is_fake"], np.where(table["generator_seen"], 1.5, 0.6), 0.0)
    table["fake_score"] = 1 / (1 + np.exp(-(rng.normal(size=len(table)) + shift - 0.7)))
    table.index = pd.Index([f"row{i}" for i in range(len(table))])  # non-default index: alignment is by label
    return table


def _probs(
    table: pd.DataFrame, level: str, classes: tuple[str, ...], seed: int, sharp: float = 3.0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(table), len(classes)))
    truth = table[level].to_numpy()
    for j, c in enumerate(classes):
        logits[truth == c, j] += sharp
    p = np.exp(logits)
    return pd.DataFrame(p / p.sum(axis=1, keepdims=True), index=table.index, columns=list(classes))


def _run(table: pd.DataFrame, open_vocab: bool = False, **kw: object) -> dict:
    spaces = _label_spaces()
    cols = {lvl: spaces[lvl].classes if open_vocab else spaces[lvl].seen for lvl in ("family", "generator")}
    kw.setdefault("family_probs", _probs(table, "family", cols["family"], 1))
    kw.setdefault("generator_probs", _probs(table, "generator", cols["generator"], 2))
    kw.setdefault("n_bootstrap", 100)
    return compute_run_metrics(table, spaces, **kw)


def test_structure_and_json() -> None:
    table = _table()
    emb = np.random.default_rng(5).normal(size=(len(table), 6))
    out = _run(table, embeddings=emb, val_threshold=0.42)
    assert tuple(out) == TOP_LEVEL_KEYS
    json.dumps(out, allow_nan=False)
    assert out["n_test"] == len(table)
    assert set(out["per_generator"]) == set(WORLD) - {"real"}
    assert set(out["per_family"]) == {"gan", "diffusion", "flow", "autoregressive"}
    assert set(out["per_forgery_type"]) == {"efs", "fs"}
    g = out["per_generator"]["stylegan3"]
    assert set(g) == {
        "family",
        "forgery_type",
        "seen",
        "n_fake",
        "auc",
        "ap",
        "eer",
        "acc_fixed",
        "acc_val_threshold",
        "tpr_fixed",
    }
    assert (g["family"], g["forgery_type"], g["seen"], g["n_fake"]) == ("gan", "efs", False, 15)
    assert out["per_family"]["gan"]["seen"] is True and out["per_family"]["flow"]["seen"] is False
    assert out["per_forgery_type"]["efs"]["seen"] is None  # mixes seen and unseen generators
    d = out["detection"]
    assert (d["n_real"], d["n_fake"], d["val_threshold"], d["fixed_threshold"]) == (80, 140, 0.42, 0.5)
    for level in ("family", "generator"):
        a = out["attribution"][level]
        assert {
            "acc",
            "macro_f1",
            "acc_seen",
            "acc_unseen",
            "n_seen",
            "n_unseen",
            "confusion",
            "open_vocabulary",
            "open_set",
        } <= set(a)
    assert out["clustering"]["generator"]["k"] == 4  # stylegan3, flux1-dev, sd3, var
    assert out["clustering"]["family"]["k"] == 2  # flow, autoregressive


def test_detection_numbers_match_sklearn() -> None:
    table = _table(3)
    out = _run(table, val_threshold=0.55)
    y, s = table["is_fake"].to_numpy(), table["fake_score"].to_numpy()
    real = ~y
    assert out["detection"]["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert out["detection"]["acc_fixed"] == pytest.approx(accuracy_score(y, s >= 0.5), abs=1e-12)
    assert out["detection"]["acc_val_threshold"] == pytest.approx(accuracy_score(y, s >= 0.55), abs=1e-12)
    per_gen = {}
    for g in set(WORLD) - {"real"}:
        keep = real | (table["generator"].to_numpy() == g)
        per_gen[g] = roc_auc_score(y[keep], s[keep])
        assert out["per_generator"][g]["auc"] == pytest.approx(per_gen[g], abs=1e-9)
        assert out["per_generator"][g]["tpr_fixed"] == pytest.approx(np.mean(s[keep & y] >= 0.5), abs=1e-12)
    unseen = [g for g in per_gen if not WORLD[g][2]]
    seen = [g for g in per_gen if WORLD[g][2]]
    assert out["detection_auc_mean_unseen"] == pytest.approx(np.mean([per_gen[g] for g in unseen]), abs=1e-9)
    assert out["detection_auc_mean_seen"] == pytest.approx(np.mean([per_gen[g] for g in seen]), abs=1e-9)
    assert out["detection_auc_mean"] == pytest.approx(np.mean(list(per_gen.values())), abs=1e-9)
    keep = real | (table["family"].to_numpy() == "flow")
    assert out["per_family"]["flow"]["auc"] == pytest.approx(roc_auc_score(y[keep], s[keep]), abs=1e-9)
    lo, hi = out["detection_auc_mean_unseen_ci"]
    assert 0.0 <= lo <= hi <= 1.0
    assert out["detection"]["oracle_acc"] >= out["detection"]["acc_fixed"]


def test_closed_set_attribution_matches_sklearn_and_gets_open_set_metrics() -> None:
    table = _table(4)
    spaces = _label_spaces()
    fam = _probs(table, "family", spaces["family"].seen, 7)
    out = _run(table, family_probs=fam)
    truth = table["family"].to_numpy()
    pred = np.array(fam.columns)[fam.to_numpy().argmax(axis=1)]
    a = out["attribution"]["family"]
    assert out["attribution_acc_family"] == a["acc"] == pytest.approx(accuracy_score(truth, pred), abs=1e-12)
    present = sorted(set(truth))
    assert a["macro_f1"] == pytest.approx(f1_score(truth, pred, labels=present, average="macro"), abs=1e-9)
    assert a["open_vocabulary"] is False
    assert a["acc_unseen"] == 0.0  # a closed-set model cannot name an unseen class
    assert a["n_unseen"] == COUNTS["flux1-dev"] + COUNTS["sd3"] + COUNTS["var"]
    unseen = ~table["family_seen"].to_numpy()
    assert a["open_set"]["novel_auroc"] == pytest.approx(
        roc_auc_score(unseen, 1 - fam.to_numpy().max(axis=1))
    )
    assert 0.0 <= a["open_set"]["oscr"] <= a["acc_seen"] + 1e-12
    assert a["confusion"]["labels"] == list(spaces["family"].classes)
    assert np.sum(a["confusion"]["matrix"]) == len(table)
    lo, hi = out["attribution_acc_family_ci"]
    assert lo <= hi


def test_open_vocabulary_model_and_column_order_do_not_matter() -> None:
    table = _table(5)
    spaces = _label_spaces()
    gen = _probs(table, "generator", spaces["generator"].classes, 8)
    out = _run(table, open_vocab=True, generator_probs=gen)
    shuffled = _run(table, open_vocab=True, generator_probs=gen[list(reversed(gen.columns))])
    a = out["attribution"]["generator"]
    assert a["open_vocabulary"] is True and a["open_set"] is None
    assert a["acc_unseen"] > 0.0  # an open-vocabulary model can name unseen generators
    assert shuffled["attribution"] == out["attribution"]


def test_missing_inputs_give_null_fields() -> None:
    table = _table(6)
    out = compute_run_metrics(table, _label_spaces(), n_bootstrap=0)
    assert out["attribution_acc_family"] is None and out["attribution"] == {"family": None, "generator": None}
    assert out["detection"]["val_threshold"] is None and out["detection"]["acc_val_threshold"] is None
    assert out["detection_auc_mean_unseen_ci"] is None and out["attribution_acc_family_ci"] is None
    assert out["clustering"] == {"family": None, "generator": None}


def test_no_unseen_generator_and_degenerate_tables() -> None:
    world = {g: v for g, v in WORLD.items() if v[2]}
    counts = {g: COUNTS[g] for g in world}
    table = _table(7, world, counts)
    spaces = _label_spaces(world)
    out = compute_run_metrics(table, spaces, n_bootstrap=50)
    assert out["detection_auc_mean_unseen"] is None and out["detection_auc_mean_unseen_ci"] is None
    assert out["detection_auc_mean_seen"] == pytest.approx(out["detection_auc_mean"])
    # fakes only: every two-class number is undefined, nothing crashes, the output stays JSON
    fakes = table[table["is_fake"]]
    out = compute_run_metrics(fakes, spaces, n_bootstrap=50)
    assert out["detection"]["auc"] is None and out["per_generator"]["ddpm"]["auc"] is None
    assert out["detection_auc_mean"] is None
    json.dumps(out, allow_nan=False)


def test_bootstrap_is_deterministic_and_seed_dependent() -> None:
    table = _table(8)
    a = _run(table, seed=3)
    b = _run(table, seed=3)
    c = _run(table, seed=4)
    assert a == b
    assert a["detection_auc_mean_unseen_ci"] != c["detection_auc_mean_unseen_ci"]
    assert a["detection"] == c["detection"]  # the seed only moves the resampling


def test_calibrated_threshold_round_trip() -> None:
    val = _table(9)
    thr = calibrate_threshold(val["is_fake"], val["fake_score"])
    out = _run(_table(10), val_threshold=thr)
    assert out["detection"]["val_threshold"] == pytest.approx(thr)
    assert out["detection"]["acc_val_threshold"] is not None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda t, kw: kw.update(family_probs=kw["family_probs"].rename(columns={"gan": "x"})),
            "predictions: unknown class column 'x' for family level",
        ),
        (
            lambda t, kw: t.__setitem__("fake_score", t["fake_score"].where(t.index != "row3")),
            "fake_score is NaN for 1 sample(s)",
        ),
        (
            lambda t, kw: kw.update(generator_probs=kw["generator_probs"].iloc[:-1]),
            "has 219 rows but the test table has 220",
        ),
        (
            lambda t, kw: kw.update(generator_probs=kw["generator_probs"].reset_index(drop=True)),
            "not aligned",
        ),
        (lambda t, kw: kw.update(family_probs=kw["family_probs"] * 0.5), "do not sum to 1"),
        (lambda t, kw: kw.update(embeddings=np.zeros((3, 2))), "embeddings have shape (3, 2)"),
        (
            lambda t, kw: t.__setitem__("generator_seen", True),
            "generator_seen is True for generator 'stylegan3'",
        ),
        (
            lambda t, kw: t.__setitem__("generator", t["generator"].replace("ddpm", "ddim")),
            "generator 'ddim' is not in the generator label space",
        ),
        (lambda t, kw: kw.update(val_threshold=float("nan")), "val_threshold: expected a finite number"),
        (lambda t, kw: t.__setitem__("fake_score", t["fake_score"].where(t.index != "row3", np.inf)), "fake_score is infinite"),
        (lambda t, kw: t.__setitem__("fake_score", t["fake_score"].where(t.index != "row3", 1.5)), "is outside [0, 1]"),
        (lambda t, kw: t.__setitem__("fake_score", t["fake_score"].astype(object).where(t.index != "row3", "high")),
         "fake_score is not a number"),
    ],
)
def test_invalid_inputs_raise_one_line_dfad_errors(mutate, message: str) -> None:
    table = _table(11)
    spaces = _label_spaces()
    kw = {
        "family_probs": _probs(table, "family", spaces["family"].seen, 1),
        "generator_probs": _probs(table, "generator", spaces["generator"].seen, 2),
        "n_bootstrap": 0,
    }
    mutate(table, kw)
    with pytest.raises(DfadError) as err:
        compute_run_metrics(table, spaces, **kw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_column_is_named() -> None:
    table = _table(12).drop(columns=["family_seen"])
    with pytest.raises(DfadError, match="missing column"):
        compute_run_metrics(table, _label_spaces())
