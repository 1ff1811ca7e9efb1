"""Every registered model against the contract, one parametrised test per (model, check), in the
manner of scikit-learn's ``parametrize_with_checks`` and timm's ``tests/test_models.py``.

A model installed through the ``dfad_bench.models`` entry point is picked up here without any edit.
The fit/predict check runs each model as shipped (its card's defaults, plus its card's
``test_config``: no downloads) on a 96-image toy benchmark; all of them together take about a
minute on one CPU thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from dfad_bench.contract import DfadModel, ModelCard
from dfad_bench.errors import DfadError
from dfad_bench.harness.preflight import preflight
from dfad_bench.harness.runner import RunOptions, normalise_config, run
from dfad_bench.registry import MODELS, _import_ref

NAMES = MODELS.names()


def check_card(name: str, card: ModelCard) -> None:
    assert card.name == name
    cls = _import_ref(card.factory)
    assert isinstance(cls, type), f"{card.factory} is not a class"
    assert isinstance(MODELS.create(name), DfadModel), f"{name} does not implement the DfadModel protocol"
    json.dumps(card.to_dict())  # the card goes into records and listings as JSON
    if "gaze" in card.inputs:
        assert "gaze" in card.encoders.values(), f"{name} takes gaze input but declares no gaze encoder"
    preflight(card, card.default_config)  # every declared default encoder is registered and available


def check_config_round_trip(name: str, card: ModelCard) -> None:
    params = MODELS.create(name).get_params()
    assert params == normalise_config(card, {}) == card.default_config
    assert json.loads(json.dumps(params)) == params, "get_params() must survive the JSON run record"
    assert MODELS.create(name, params).get_params() == params
    with pytest.raises(DfadError):
        MODELS.create(name, {"no_such_option_xyz": 1})


CHECKS: list[Callable[[str, ModelCard], None]] = [check_card, check_config_round_trip]


@pytest.mark.parametrize(("name", "check"), [(n, c) for n in NAMES for c in CHECKS],
                         ids=[f"{n}-{c.__name__}" for n in NAMES for c in CHECKS])
def test_model_check(name: str, check: Callable[[str, ModelCard], None]) -> None:
    check(name, MODELS.card(name))


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_model_fits_and_predicts_under_the_contract(name: str, make_toy_bench, tmp_path) -> None:
    bench = make_toy_bench(n_identities=16, images_per_identity=2, fakes_per_generator=8, size=32)
    card = MODELS.card(name)
    record, run_dir = run(RunOptions(model=name, protocol="unseen-flow", benchmark=str(bench), results_dir=tmp_path,
                                     overrides=dict(card.test_config), quiet=True, n_bootstrap=0, device="cpu"))
    # run() already validated both predict calls (ids, shapes, label space); check what it kept.
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert set(preds["role"]) == {"val", "test"} and preds["sample_id"].is_unique
    scores = preds["fake_score"].to_numpy()
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    record_dict = json.loads((run_dir / "record.json").read_text())
    assert record_dict["model"] == name and record_dict["model_config"] == {**card.default_config, **card.test_config}
    assert np.isfinite(record_dict["metrics"]["detection"]["auc"])
