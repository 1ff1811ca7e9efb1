"""The model registry: one strict instance, fed by a decorator and by entry points.

Built-in plug-ins (``gazeclip``, ``baselines``) register through the ``dfad_bench.models``
entry-point group exactly as an outside package does. An entry point names a light
:class:`~dfad_bench.contract.ModelCard` (``pkg.card:CARD``); the model class itself is imported
only when the model is created, so ``dfad-bench list models`` imports no heavy module.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from dfad_bench.contract import ModelCard
from dfad_bench.errors import DfadError

ENTRY_POINT_GROUP = "dfad_bench.models"


@dataclass
class _Entry:
    name: str
    source: str  # "entry point <dist>" or "decorator"
    card: ModelCard | None = None
    ref: str | None = None  # entry point value, loaded lazily
    error: str | None = None


class ModelRegistry:
    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._entries: dict[str, _Entry] = {}
        self._duplicates: dict[str, list[str]] = {}
        self._loaded_entry_points = False

    # -- registration -------------------------------------------------------------------
    def register(self, card: ModelCard, source: str = "decorator") -> None:
        self._load_entry_points()
        if card.name in self._entries:
            raise DfadError(f"model name {card.name!r} is already registered (by {self._entries[card.name].source})")
        self._entries[card.name] = _Entry(card.name, source, card=card)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self.group):
            dist = getattr(ep.dist, "name", "?") if ep.dist else "?"
            source = f"entry point of {dist} ({ep.value})"
            if ep.name in self._entries:
                self._duplicates.setdefault(ep.name, [self._entries[ep.name].source]).append(source)
                continue
            self._entries[ep.name] = _Entry(ep.name, source, ref=ep.value)

    # -- lookup -------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def card(self, name: str) -> ModelCard:
        self._load_entry_points()
        if name in self._duplicates:
            raise DfadError(f"model name {name!r} is registered twice: {'; '.join(self._duplicates[name])}; uninstall one")
        entry = self._entries.get(name)
        if entry is None:
            close = difflib.get_close_matches(name, self.names(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known models: {', '.join(self.names())}"
            raise DfadError(f"unknown model {name!r}{hint}")
        if entry.card is None:
            entry.card = self._load_card(entry)
        return entry.card

    def _load_card(self, entry: _Entry) -> ModelCard:
        assert entry.ref is not None
        try:
            obj = _import_ref(entry.ref)
        except (ImportError, AttributeError) as exc:
            entry.error = f"{type(exc).__name__}: {exc}"
            raise DfadError(f"model {entry.name!r}: cannot load its card {entry.ref!r} ({entry.error})") from exc
        card = getattr(obj, "card", obj)
        if not isinstance(card, ModelCard):
            raise DfadError(f"model {entry.name!r}: entry point {entry.ref!r} is not a ModelCard or a class with .card")
        if card.name != entry.name:
            raise DfadError(f"model {entry.name!r}: entry point name differs from its card name {card.name!r}")
        return card

    def create(self, name: str, config: dict[str, Any] | None = None) -> Any:
        card = self.card(name)
        try:
            cls = _import_ref(card.factory)
        except (ImportError, AttributeError) as exc:
            raise DfadError(f"model {name!r}: cannot import {card.factory!r} ({type(exc).__name__}: {exc})") from exc
        if getattr(cls, "card", None) is None:
            cls.card = card
        return cls(**(config or {}))

    def describe(self) -> list[dict[str, Any]]:
        """Rows for ``list models``; a broken plug-in is listed with its error, others unaffected."""
        rows = []
        for name in self.names():
            entry = self._entries[name]
            try:
                card = self.card(name)
                rows.append({**card.to_dict(), "source": entry.source, "status": "ok"})
            except DfadError as exc:
                rows.append({"name": name, "inputs": [], "open_vocabulary": None, "source": entry.source, "status": f"broken: {exc}"})
        return rows


def _import_ref(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


MODELS = ModelRegistry()


def register_model(card: ModelCard):
    """Class decorator for in-process registration (notebooks, tests)."""

    def wrap(cls):
        cls.card = card
        MODELS.register(card, source=f"decorator ({cls.__module__}.{cls.__qualname__})")
        return cls

    return wrap


def list_models() -> list[dict[str, Any]]:
    return MODELS.describe()


def get_model_card(name: str) -> ModelCard:
    return MODELS.card(name)


def create_model(name: str, config: dict[str, Any] | None = None) -> Any:
    return MODELS.create(name, config)
