"""One strict registry type, one instance per kind (models, benchmarks, backbones, gaze encoders,
metrics), each fed by in-process registration and by its own entry-point group.

Rules every instance follows (lm-evaluation-harness style, not timm's warn-and-overwrite):

- registering a name twice raises; two entry points with the same name are reported when that
  name is looked up (the other names keep working, nothing is half loaded);
- an entry is an object or a lazy ``"package.module:attr"`` target, imported on first use, so
  listing names imports no heavy module;
- an unknown name raises a one-line :class:`DfadError` with close matches (:func:`did_you_mean`,
  the one suggestion helper of the project);
- a plug-in that fails to import or validate is listed by :meth:`Registry.describe` with its error,
  without breaking the others.

Built-in plug-ins (``gazeclip``, ``baselines``, DFAD-Mini) register through the same entry-point
groups an outside package uses (``pyproject.toml``). A model entry point names a light
:class:`~dfad_bench.contract.ModelCard` (``pkg.card:CARD``); the model class itself is imported
only when the model is created.

A new kind is one instance::

    METRICS = Registry("metric", METRIC_ENTRY_POINT_GROUP, check=check_metric_spec)
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dfad_bench.errors import DfadError

if TYPE_CHECKING:
    from dfad_bench.contract import ModelCard

T = TypeVar("T")

#: Entry-point groups, one per kind. An outside package adds entries under these names.
MODEL_ENTRY_POINT_GROUP = "dfad_bench.models"
BENCHMARK_ENTRY_POINT_GROUP = "dfad_bench.benchmarks"
BACKBONE_ENTRY_POINT_GROUP = "dfad_bench.backbones"
GAZE_ENTRY_POINT_GROUP = "dfad_bench.gaze_encoders"
METRIC_ENTRY_POINT_GROUP = "dfad_bench.metrics"
CLI_ENTRY_POINT_GROUP = "dfad_bench.cli"  # typer apps added as `dfad-bench NAME ...` command groups
ENTRY_POINT_GROUP = MODEL_ENTRY_POINT_GROUP  # the models' group, kept under its old name


def did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean a, b?"`` for the closest options (case-insensitive fallback), or ``""``."""
    options = sorted(set(options))
    matches = difflib.get_close_matches(word, options, n=3, cutoff=cutoff)
    if not matches:
        lowered = {o.lower(): o for o in options}
        matches = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=cutoff)]
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def _import_ref(ref: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        if part:
            obj = getattr(obj, part)
    return obj


def is_target(value: object) -> bool:
    """A lazy target is a string ``"package.module:attr"`` (no spaces, one colon)."""
    return isinstance(value, str) and value.count(":") == 1 and " " not in value and all(value.split(":"))


def instance_check(cls: type[T], key: str = "name") -> Callable[[str, Any], T]:
    """A ``check`` for a registry of ``cls`` objects, each registered under its own ``key``."""

    def check(name: str, obj: Any) -> T:
        if not isinstance(obj, cls):
            raise TypeError(f"target must be a {cls.__module__}.{cls.__qualname__}, got {type(obj).__name__}")
        if getattr(obj, key) != name:
            raise ValueError(f"registered name differs from its {key} {getattr(obj, key)!r}")
        return obj

    return check


@dataclass
class _Entry:
    name: str
    source: str  # "built-in", "decorator (...)", "entry point of <dist> (<value>)"
    target: str | None = None  # lazy "module:attr", imported on first use
    obj: Any = None  # the loaded (and checked) object
    loaded: bool = False
    error: str | None = None  # why the last load failed


class Registry(Generic[T]):
    """Names -> objects of one kind (see the module docstring for the rules).

    ``check(name, obj)`` turns what a target imports into a ``T`` (or raises DfadError, TypeError
    or ValueError); it runs once per entry, on first use.
    """

    def __init__(
        self,
        kind: str,
        group: str | None,
        check: Callable[[str, Any], T] | None = None,
        builtins: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._entries: dict[str, _Entry] = {}
        self._duplicates: dict[str, list[str]] = {}
        self._entry_points_loaded = group is None
        for name, value in (builtins or {}).items():
            self._entries[name] = self._make_entry(name, value, "built-in")

    # -- registration -------------------------------------------------------------------
    def _make_entry(self, name: str, value: Any, source: str) -> _Entry:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise DfadError(f"{self.kind} name must be a non-empty string without surrounding spaces, got {name!r}")
        if isinstance(value, str):
            if not is_target(value):
                raise DfadError(f"{self.kind} {name!r}: target {value!r} must look like 'package.module:attr'")
            return _Entry(name, source, target=value)
        return _Entry(name, source, obj=value)

    def register(self, name: str, value: T | str, source: str = "register()") -> None:
        """Add ``name`` -> an object or a lazy ``"module:attr"`` target; a taken name raises."""
        self._load_entry_points()  # so a clash with an installed plug-in raises now, not later
        entry = self._make_entry(name, value, source)
        if name in self._entries:
            raise DfadError(f"{self.kind} {name!r} is already registered (by {self._entries[name].source})")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when absent: teardown code calls this unconditionally)."""
        self._entries.pop(name, None)
        self._duplicates.pop(name, None)

    def _load_entry_points(self) -> None:
        """Read the group once. Everything is collected first and committed in one step, and a
        clash is recorded (raised on lookup of that name), so no failure leaves a partial state."""
        if self._entry_points_loaded:
            return
        found: dict[str, _Entry] = {}
        duplicates: dict[str, list[str]] = {}
        for ep in entry_points(group=self.group):
            dist = getattr(ep.dist, "name", None) or "?"
            source = f"entry point of {dist} ({ep.value})"
            previous = found.get(ep.name) or self._entries.get(ep.name)
            if previous is not None:
                duplicates.setdefault(ep.name, [previous.source]).append(source)
                continue
            found[ep.name] = _Entry(ep.name, source, target=ep.value)
        self._entries.update(found)
        self._duplicates.update(duplicates)
        self._entry_points_loaded = True

    # -- lookup -------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def unknown(self, name: str) -> DfadError:
        """The error for an unknown name: close matches, else the known names."""
        known = self.names()
        hint = did_you_mean(name, known) or (f"; known: {', '.join(known)}" if known else f"; no {self.kind} is registered")
        return DfadError(f"unknown {self.kind} {name!r}{hint}")

    def source(self, name: str) -> str:
        self._load_entry_points()
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name].source

    def get(self, name: str) -> T:
        """The object registered as ``name`` (its target imported and checked on first use)."""
        self._load_entry_points()
        if name in self._duplicates:
            raise DfadError(f"{self.kind} {name!r} is registered twice: {'; '.join(self._duplicates[name])}; uninstall one")
        entry = self._entries.get(name)
        if entry is None:
            raise self.unknown(name)
        if not entry.loaded:
            entry.obj = self._load(entry)
            entry.loaded, entry.error = True, None
        return entry.obj

    __getitem__ = get

    def find(self, name: str) -> T | None:
        """Like :meth:`get`, but None for a name nobody registered (a broken one still raises)."""
        return self.get(name) if name in self else None

    def _load(self, entry: _Entry) -> T:
        obj = entry.obj
        if entry.target is not None:
            try:
                obj = _import_ref(entry.target)
            except (ImportError, AttributeError) as exc:
                entry.error = f"{type(exc).__name__}: {exc}"
                raise DfadError(f"{self.kind} {entry.name!r}: cannot import {entry.target!r} ({entry.error})") from exc
        if self._check is None:
            return obj
        try:
            return self._check(entry.name, obj)
        except (DfadError, TypeError, ValueError) as exc:
            entry.error = str(exc)
            raise DfadError(f"{self.kind} {entry.name!r} ({entry.source}): {exc}") from exc

    def describe(
        self, row: Callable[[str, T], dict[str, Any]] | None = None, broken: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One row per name: ``name``, ``source``, ``status`` ("ok", or "broken: <error>" with the
        ``broken`` defaults for the other columns) and ``row(name, obj)``, whose keys win."""
        rows = []
        for name in self.names():
            source = self._entries[name].source
            try:
                obj = self.get(name)
            except DfadError as exc:
                rows.append({"name": name, **(broken or {}), "source": source, "status": f"broken: {exc}"})
                continue
            rows.append({"name": name, "source": source, "status": "ok", **(row(name, obj) if row else {})})
        return rows


# --------------------------------------------------------------------------- models


def _check_card(name: str, obj: Any) -> ModelCard:
    from dfad_bench.contract import ModelCard

    return instance_check(ModelCard)(name, getattr(obj, "card", obj))  # a card, or a class with .card


class ModelRegistry(Registry["ModelCard"]):
    """Models: a registry of cards, plus :meth:`create` (the one model factory)."""

    def __init__(self, group: str = MODEL_ENTRY_POINT_GROUP) -> None:
        super().__init__("model", group, check=_check_card)

    def register(self, card: ModelCard, source: str = "decorator") -> None:  # type: ignore[override]
        super().register(card.name, card, source=source)

    def card(self, name: str) -> ModelCard:
        return self.get(name)

    def create(self, name: str, config: dict[str, Any] | None = None) -> Any:
        card = self.card(name)
        try:
            cls = _import_ref(card.factory)
        except (ImportError, AttributeError) as exc:
            raise DfadError(f"model {name!r}: cannot import {card.factory!r} ({type(exc).__name__}: {exc})") from exc
        if getattr(cls, "card", None) is None:
            cls.card = card
        return cls(**(config or {}))

    def describe(self, row=None, broken=None) -> list[dict[str, Any]]:  # type: ignore[override]
        """Rows for ``list models``; a broken plug-in is listed with its error, others unaffected."""
        return super().describe(
            row or (lambda _name, card: card.to_dict()),
            broken if broken is not None else {"inputs": [], "open_vocabulary": None},
        )


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


# --------------------------------------------------------------------------- CLI command groups


def _check_typer_app(name: str, obj: Any) -> Any:
    import typer

    if not isinstance(obj, typer.Typer):
        raise TypeError(f"target must be a typer.Typer, got {type(obj).__name__}")
    return obj


#: Command groups plug-ins add to the ``dfad-bench`` CLI (DFAD-Mini: ``mini``).
CLI_GROUPS: Registry[Any] = Registry("command group", CLI_ENTRY_POINT_GROUP, check=_check_typer_app)
