"""The one Registry[T]: strict names, lazy targets, entry points, did-you-mean, broken plug-ins."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from dfad_bench import registry as reg
from dfad_bench.contract import ModelCard
from dfad_bench.errors import DfadError
from dfad_bench.registry import MODELS, Registry, did_you_mean

TARGET_OK = f"{__name__}:THING"
THING = {"answer": 42}


def _fake_entry_points(monkeypatch, points: list[EntryPoint]) -> None:
    monkeypatch.setattr(reg, "entry_points", lambda group: [p for p in points if p.group == group])


def test_did_you_mean_suggests_close_and_case_insensitive_matches():
    assert did_you_mean("ref-cn", ["ref-cnn", "gazeclip"]) == "; did you mean ref-cnn?"
    assert did_you_mean("vit-b-16", ["ViT-B-16", "RN50"]) == "; did you mean ViT-B-16?"
    assert did_you_mean("zzz", ["ref-cnn"]) == ""


def test_register_get_unregister_and_strict_names():
    r: Registry[dict] = Registry("thing", None)
    r.register("a", TARGET_OK)
    r.register("b", {"x": 1})
    assert r.names() == ["a", "b"] and "a" in r and len(r) == 2
    assert r.get("a") is THING  # the lazy target was imported on first use
    with pytest.raises(DfadError, match="thing 'a' is already registered"):
        r.register("a", {"y": 2})
    with pytest.raises(DfadError, match=r"unknown thing 'aa'; did you mean a\?"):
        r.get("aa")
    with pytest.raises(DfadError, match="must look like 'package.module:attr'"):
        r.register("c", "not a target")
    assert r.find("nope") is None
    r.unregister("a")
    assert r.names() == ["b"]


def test_broken_plugin_is_listed_with_its_error_and_others_still_work():
    def check(name: str, obj: object) -> dict:
        if not isinstance(obj, dict):
            raise TypeError(f"expected a dict, got {type(obj).__name__}")
        return obj

    r: Registry[dict] = Registry("thing", None, check=check)
    r.register("good", TARGET_OK)
    r.register("missing", "no_such_module_xyz:THING")
    r.register("wrong", f"{__name__}:test_did_you_mean_suggests_close_and_case_insensitive_matches")
    rows = {row["name"]: row for row in r.describe(lambda _n, obj: {"keys": sorted(obj)})}
    assert rows["good"]["status"] == "ok" and rows["good"]["keys"] == ["answer"]
    assert rows["missing"]["status"].startswith("broken:") and "no_such_module_xyz" in rows["missing"]["status"]
    assert "expected a dict, got function" in rows["wrong"]["status"]
    with pytest.raises(DfadError, match="cannot import"):
        r.get("missing")


def test_duplicate_entry_points_fail_on_lookup_without_a_half_loaded_registry(monkeypatch):
    # Regression: the old gaze registry raised while reading entry points after setting its
    # "loaded" flag; the first lookup failed and every later one silently lacked the rest.
    _fake_entry_points(monkeypatch, [
        EntryPoint("dup", TARGET_OK, "test.group"),
        EntryPoint("dup", TARGET_OK, "test.group"),
        EntryPoint("zz-after", TARGET_OK, "test.group"),
    ])
    r: Registry[dict] = Registry("thing", "test.group")
    for _ in range(2):  # the same answer every time
        with pytest.raises(DfadError, match="thing 'dup' is registered twice"):
            r.get("dup")
        assert r.get("zz-after") is THING
        assert r.names() == ["dup", "zz-after"]
    rows = {row["name"]: row["status"] for row in r.describe()}
    assert rows["zz-after"] == "ok" and "registered twice" in rows["dup"]


def test_entry_point_clashing_with_a_builtin_is_reported(monkeypatch):
    _fake_entry_points(monkeypatch, [EntryPoint("x", TARGET_OK, "test.group")])
    r: Registry[dict] = Registry("thing", "test.group", builtins={"x": TARGET_OK})
    with pytest.raises(DfadError, match="registered twice: built-in; entry point"):
        r.get("x")


def test_register_raises_on_a_name_an_installed_plugin_already_has():
    with pytest.raises(DfadError, match="model 'gazeclip' is already registered .*entry point"):
        MODELS.register(ModelCard(name="gazeclip", factory="x.y:Z", description="clash"))


def test_model_api_on_top_of_the_registry(monkeypatch):
    card = ModelCard(name="reg-test-model", factory=f"{__name__}:_Toy", description="toy")
    reg.register_model(card)(_Toy)
    try:
        assert reg.get_model_card("reg-test-model") is card
        assert "reg-test-model" in MODELS.names()
        model = reg.create_model("reg-test-model", {"k": 3})
        assert isinstance(model, _Toy) and model.k == 3
        row = next(r for r in reg.list_models() if r["name"] == "reg-test-model")
        assert row["status"] == "ok" and row["source"].startswith("decorator") and row["inputs"] == ["pixels"]
    finally:
        MODELS.unregister("reg-test-model")
    assert "reg-test-model" not in MODELS.names()


def test_model_entry_point_with_a_wrong_card_name_is_broken(monkeypatch):
    r = reg.ModelRegistry(group="test.models")
    _fake_entry_points(monkeypatch, [EntryPoint("other-name", f"{__name__}:_CARD", "test.models")])
    with pytest.raises(DfadError, match="differs from its name 'reg-card'"):
        r.card("other-name")
    assert r.describe()[0]["status"].startswith("broken:")


class _Toy:
    def __init__(self, k: int = 1) -> None:
        self.k = k


_CARD = ModelCard(name="reg-card", factory=f"{__name__}:_Toy", description="toy")
